"""The counterexample shows what explains the violation, and stays small on a long history."""

from __future__ import annotations

from harness.checker import KVModel, Verdict, check, operations
from harness.checker.counterexample import PREFIX_KEPT, SHOWN_MAX
from tests.checker.histories import Execution, h


def test_a_stale_read_is_shown_with_the_write_it_missed_and_what_overlaps_it() -> None:
    events = h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),      # 0 op 0: the value it read
               (1, "invoke", "put", "k", "b"), (1, "ok", "put", "k", "b"),      # 2 op 1: the write it missed
               (2, "invoke", "get", "k", None),                                 # 4 op 3: the stale read
               (3, "invoke", "append", "k", "+c"),                              # 5 op 2: overlaps it
               (3, "ok", "append", "k", "+c"),
               (2, "ok", "get", "k", "a"))
    ops = operations(events)
    (cx,) = check(KVModel(), ops).counterexamples
    by_id = {o.id: o for o in ops}
    # the JIT engine already knows at the append's return that the pending read cannot be explained
    assert by_id[cx.stuck].f in ("append", "get") and 3 in cx.unplaced
    assert [(o.f, o.input) for o in cx.operations] == [("put", "a"), ("put", "b"), ("get", None),
                                                       ("append", "+c")]


def test_a_late_violation_in_a_long_history_shows_only_its_neighbourhood() -> None:
    ex = Execution(seed=5, processes=10, keys=2, ops=6000, p_info=0.03)
    ex.run()
    events = ex.tail("stale-read")
    result = check(KVModel(), operations(events))
    assert result.verdict == Verdict.INVALID
    (cx,) = result.counterexamples
    assert len(cx.operations) <= SHOWN_MAX and len(cx.prefix) == PREFIX_KEPT < cx.prefix_length
    shown = {(o.f, o.input) for o in cx.operations}
    assert {("put", "old"), ("put", "new"), ("get", None)} <= shown
    assert all(o.call >= len(events) - 200 for o in cx.operations if o.status == "ok")
    assert cx.prefix[-1].state == "'new'"
