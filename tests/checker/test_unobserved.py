"""Unknown-outcome writes that nothing observed are left out of the search (model.unobserved_writes).

The rule must never change a verdict: checked by hand on the cases it must keep, and against the
plain WGL search without the rule on random histories, most of them with unknown writes.
"""

from __future__ import annotations

from collections import Counter

from harness.checker import KVModel, RegisterModel, Verdict, check, operations
from harness.checker.model import unobserved_writes
from tests.checker.histories import cas, h
from tests.checker.test_engines import _random_history


def test_only_unknown_writes_never_observed_are_dropped() -> None:
    events = h(
        (0, "invoke", "put", "k", "x"), (0, "info", "put", "k", None, "timeout"),         # never read: dropped
        (1, "invoke", "put", "k", "y"), (1, "info", "put", "k", None, "timeout"),         # read below: kept
        (2, "invoke", "append", "k", "z;"), (2, "info", "append", "k", None, "timeout"),  # inside a read: kept
        (3, "invoke", "cas", "k", cas("y", "c")), (3, "info", "cas", "k", None, "timeout"),  # expected below: kept
        (4, "invoke", "delete", "k", None), (4, "info", "delete", "k", None, "timeout"),  # no value: kept
        (5, "invoke", "put", "k", "w"), (5, "ok", "put", "k", "w"),                       # known: kept
        (6, "invoke", "get", "k", None), (6, "ok", "get", "k", "yz;"),
        (7, "invoke", "cas", "k", cas("c", "d")), (7, "fail", "cas", "k", cas("c", "d"), "precondition"),
        (8, "invoke", "cas", "k", cas("c", "e")),  # pending: its expect c is seen, its e never: dropped
    )
    ops = operations(events)
    dropped = {ops[i].input for i in unobserved_writes(ops, substring=True)}
    assert dropped == {"x", cas("c", "e")}


def test_register_values_count_only_when_equal() -> None:
    events = h((0, "invoke", "write", None, 1), (0, "info", "write", None, None, "timeout"),
               (1, "invoke", "write", None, 2), (1, "info", "write", None, None, "timeout"),
               (2, "invoke", "read", None, None), (2, "ok", "read", None, 2))
    ops = operations(events)
    assert {ops[i].input for i in unobserved_writes(ops, substring=False)} == {1}


def test_a_dropped_write_could_not_have_made_a_history_valid() -> None:
    # the unknown put of "x" is needed for nothing; the stale read stays invalid with or without it
    events = h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
               (1, "invoke", "put", "k", "x"), (1, "info", "put", "k", None, "timeout"),
               (2, "invoke", "put", "k", "b"), (2, "ok", "put", "k", "b"),
               (3, "invoke", "get", "k", None), (3, "ok", "get", "k", "a"))
    assert check(KVModel(), operations(events)).verdict == Verdict.INVALID


def test_the_rule_never_changes_a_verdict_on_random_histories() -> None:
    tally: Counter[str] = Counter()
    for seed in range(600):
        for model, register in ((KVModel(), False), (RegisterModel(), True)):
            ops = operations(_random_history(seed, register=register))
            with_rule = check(model, ops).verdict
            reference = check(model, ops, engine="wgl", drop_unobserved=False).verdict
            assert with_rule == reference, f"seed {seed} register={register}: {with_rule.name} vs {reference.name}"
            if model.unobserved(ops):
                tally[f"dropped-{with_rule.name}"] += 1
    # the rule fired often, on valid and on invalid histories
    assert tally["dropped-VALID"] > 20 and tally["dropped-INVALID"] > 20, tally
