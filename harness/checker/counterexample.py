"""The counterexample of an invalid partition: what a person needs to see to believe the violation.

Porcupine's visualization shows, on a time axis, the operation that cannot be placed and the
operations around it, with the order its search found. Here that is data (`Counterexample`); the
HTML report and the terminal draw it. What is chosen, and why:

- the stuck operation: it had to take effect before its return and could not;
- every operation of the key that overlaps it in real time (any of them could have been ordered
  around it);
- the few operations that completed just before it was invoked, and the last write among them
  (a stale read's explanation is the write it should have seen: that write, and the one it saw);
- the operations of the last steps of the longest linearization found (how the state got there), and
  those that could not be placed after it, when they were invoked in that span;
- the next reads to complete after it: the JIT engine may know at an append's return that every
  placement is contradicted by a read still to come (monotone pruning), and that read is the reason.

Everything is bounded (`SHOWN_MAX` operations, `PREFIX_KEPT` steps), so a counterexample at the end
of a 100,000-operation history is as small as one in a ten-operation history.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Final, TypeVar

from harness.checker.model import Model
from harness.checker.operation import Operation
from harness.checker.result import Counterexample, Placed
from harness.checker.searchstate import Stuck
from targets.errors import InternalError

S = TypeVar("S", bound=Hashable)

SHOWN_MAX: Final = 40  # operations drawn around the stuck one
PREFIX_KEPT: Final = 50  # steps of the longest linearization kept (the last ones)
_BEFORE: Final = 4  # operations that completed just before the stuck one was invoked
_RECENT_STEPS: Final = 8  # last steps of the prefix whose operations are drawn
_AFTER: Final = 2  # reads that complete after the stuck operation's return


def counterexample(model: Model[S], key: str | None, ops: Sequence[Operation], stuck: Stuck | None,
                   furthest: int, recorded: Mapping[int, Operation]) -> Counterexample:
    """The Counterexample read off the configuration a `stop_at` run captured.

    Args:
        ops: the partition as searched (indexes in `stuck` refer to it).
        stuck: the captured configuration; None is a bug (the replay must reach `furthest`).
        furthest: history index of the return the search could not get past.
        recorded: the operations as recorded, by id: shown instead of their searched form (the search
            may have given an unknown-outcome write its observer's return, see `unique`).

    Raises:
        InternalError: `stuck` is None.
    """
    if stuck is None:
        raise InternalError("linearizability search: second pass did not reach the furthest return")
    start = min(ops[i].call for i in stuck.unplaced)
    prefix = [Placed(op=ops[i].id, state=model.describe(s)) for i, s in stuck.prefix]  # type: ignore[arg-type]
    shown = _shown(ops, stuck, furthest)
    return Counterexample(
        key=key, window=(start, furthest), stuck=ops[stuck.stuck].id,
        prefix=tuple(prefix[-PREFIX_KEPT:]), prefix_length=len(prefix),
        unplaced=tuple(ops[i].id for i in stuck.unplaced),
        operations=tuple(recorded.get(o.id, o) for o in shown),
        state_after_prefix=model.describe(stuck.state))  # type: ignore[arg-type]


def _shown(ops: Sequence[Operation], stuck: Stuck, furthest: int) -> list[Operation]:
    """The operations to draw, by invocation (see the module docstring), at most SHOWN_MAX."""
    s = ops[stuck.stuck]
    end = s.ret if s.ret is not None else furthest
    chosen: dict[int, int] = {stuck.stuck: 0}  # op index -> priority (lower is kept first)

    def add(i: int, priority: int) -> None:
        chosen[i] = min(priority, chosen.get(i, priority))

    before = sorted((i for i, o in enumerate(ops) if o.ret is not None and o.ret < s.call),
                    key=lambda i: -(ops[i].ret or 0))
    for rank, i in enumerate(before[:_BEFORE]):
        add(i, 1 + rank)
    last_write = next((i for i in before if ops[i].f not in ("get", "read")), None)
    if last_write is not None:
        add(last_write, 1)
    recent = [i for i, _s in stuck.prefix[-_RECENT_STEPS:]]
    lo = min([s.call] + [ops[i].call for i in chosen])
    for i, o in enumerate(ops):
        if o.call <= end and o.ret is not None and o.ret >= s.call:
            add(i, 2 + abs(o.call - s.call))  # overlaps the stuck operation
    for i in recent:  # the state changes that led to the stuck point
        add(i, 3 + abs(ops[i].call - s.call))
    later = sorted((i for i, o in enumerate(ops)
                    if o.f in ("get", "read") and o.ret is not None and o.ret > end),
                   key=lambda i: ops[i].ret or 0)
    for rank, i in enumerate(later[:_AFTER]):
        add(i, 4 + rank)
    for i in stuck.unplaced:  # unknown-outcome ops may have been invoked long before: only recent ones
        if ops[i].call >= lo:
            add(i, 3 + abs(ops[i].call - s.call))
    kept = sorted(chosen, key=lambda i: chosen[i])[:SHOWN_MAX]
    return sorted((ops[i] for i in kept), key=lambda o: o.call)
