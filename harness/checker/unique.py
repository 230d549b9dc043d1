"""What a unique written value tells the checker before it searches: when an unknown write took effect.

Our workloads write every value at most once (DESIGN 7), so a read names the write it saw. If the
outcome of a write w of value v is unknown (info or pending) and a completed read returned v, or a
completed cas expected v, then w certainly happened, and before that observer returned: the state
can only hold v because w put it there. So w can be searched as an operation with a known outcome
whose return is its first observer's return. This turns the operations that stay open to the end of
the history (and make every later return branch on them) into ordinary short intervals.

Why it is exact (same verdict as the plain search), given the uniqueness conditions checked here:
take any linearization of the history. The observer r is placed (its outcome is known) and the state
at r's point is v. v is not the initial or absent value, no other operation puts v or swaps it in by
cas, no delete yields it, and no append yields it (no appended suffix ends v, so s + suffix != v).
So the last operation that set the state to v is w: w is placed before r's point, hence before r
returns. The linearization respects the narrower interval. The converse is trivial: narrowing an
interval only removes linearizations.

Unknown writes that nothing observed are the other half of the story (`model.unobserved_writes`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Final

from harness.checker.operation import Operation
from workloads.history import CasValue

_WRITES: Final = frozenset({"put", "write", "cas"})
_READS: Final = frozenset({"get", "read"})


def written(op: Operation) -> Hashable:
    """The value a put/write/cas `op` sets (the new value of a cas), else None."""
    if op.f == "cas":
        return op.input.value if isinstance(op.input, CasValue) else None
    return op.input if op.f in ("put", "write") else None


def bound_observed(ops: Sequence[Operation], *, never: frozenset[Hashable]) -> list[Operation]:
    """`ops` with each observed unknown-outcome write given its first observer's return as its own.

    Args:
        ops: one partition's operations.
        never: values a write can never be shown to have produced because something else also yields
            them (the initial value, what a delete leaves): writes of these are left alone.

    Returns:
        A list of the same operations (same ids, same `status`) in which an unknown-outcome put, write
        or cas of a value v has `ret` set to the earliest return of a completed read of v or completed
        cas expecting v, when v is written by no other operation, is not in `never`, no append suffix
        ends it, and that return comes after the write's invocation. Everything else is unchanged.
    """
    if all(op.ret is not None for op in ops):
        return list(ops)
    counts: Counter[Hashable] = Counter(written(op) for op in ops if op.f in _WRITES)
    suffixes = [op.input for op in ops if op.f == "append" and isinstance(op.input, str)]
    first_seen: dict[Hashable, int] = {}  # value -> earliest return of a completed observer
    for op in ops:
        if op.ret is None:
            continue
        if op.f in _READS:
            seen: Hashable = op.output
        elif op.f == "cas" and isinstance(op.input, CasValue):
            seen = op.input.expect
        else:
            continue
        if seen is not None and (seen not in first_seen or op.ret < first_seen[seen]):
            first_seen[seen] = op.ret
    out = list(ops)
    for i, op in enumerate(ops):
        if op.ret is not None or op.f not in _WRITES:
            continue
        v = written(op)
        ret = first_seen.get(v)
        if ret is None or ret <= op.call or counts[v] != 1 or v in never:
            continue
        if isinstance(v, str) and any(v.endswith(s) for s in suffixes):
            continue  # an append could have produced v: seeing v does not prove w happened
        out[i] = dataclasses.replace(op, ret=ret)
    return out
