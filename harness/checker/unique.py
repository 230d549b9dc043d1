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
from typing import Any, Final

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
        A list of the same operations (same ids, same `status`) in which an unknown-outcome write has
        `ret` set to the earliest return of a completed read or cas that observed it (`_Observations`),
        when its value proves it (written by no other operation, not in `never`, no append suffix ends
        it) and that return comes after the write's invocation. Everything else is unchanged.
    """
    if all(op.ret is not None for op in ops):
        return list(ops)
    counts: Counter[Hashable] = Counter(written(op) for op in ops if op.f in _WRITES)
    suffixes = [op.input for op in ops if op.f == "append" and isinstance(op.input, str)]
    seen = _Observations(_delimiter(ops, never), suffixes)
    for op in ops:
        if op.ret is None:
            continue
        if op.f in _READS:
            seen.add(op.output, op.ret)
        elif op.f == "cas" and isinstance(op.input, CasValue):
            seen.add(op.input.expect, op.ret)
    out = list(ops)
    for i, op in enumerate(ops):
        if op.ret is not None:
            continue
        if op.f in _WRITES:
            v = written(op)
            if counts[v] != 1 or v in never or (isinstance(v, str) and any(v.endswith(x) for x in suffixes)):
                continue  # something else could have produced v: seeing v does not prove w happened
            ret = seen.first_state(v)
        elif op.f == "append" and isinstance(op.input, str):
            ret = seen.first_piece(op.input)
        else:
            continue
        if ret is not None and ret > op.call:
            out[i] = dataclasses.replace(op, ret=ret)
    return out


def _delimiter(ops: Sequence[Operation], never: frozenset[Hashable]) -> str | None:
    """A character that starts every append suffix, occurs nowhere else in them and in no other written
    (or initial/absent) string, if there is one (ours: "[" of "[17]"). Then every state splits
    uniquely into a base (the last put/cas value, or empty) and the appended suffixes, in order."""
    suffixes = [op.input for op in ops if op.f == "append"]
    if not suffixes or not all(isinstance(x, str) and x for x in suffixes):
        return None
    d = str(suffixes[0])[0]
    if any(str(x).count(d) != 1 or str(x)[0] != d for x in suffixes):
        return None
    others = [written(op) for op in ops if op.f in _WRITES] + list(never)
    if any(isinstance(v, str) and d in v for v in others):
        return None
    return d


class _Observations:
    """The earliest return by which a completed read or cas saw each state, base and appended suffix.

    A read (or a cas's expect) of state o observes o. With a delimiter (see `_delimiter`) it also
    observes o's base, when non-empty, and each of o's suffixes: the base was the whole state before
    the suffixes were appended (only a put or cas of exactly that value sets it), and a suffix that
    only one append writes is in the state only if that append happened."""

    def __init__(self, delimiter: str | None, suffixes: list[str]) -> None:
        self.delimiter = delimiter
        self.state: dict[Hashable, int] = {}
        self.base: dict[str, int] = {}
        self.piece: dict[str, int] = {}
        self.unique_suffixes = {x for x, n in Counter(suffixes).items() if n == 1}

    def add(self, value: Hashable, ret: int) -> None:
        if value is None:
            return
        _earliest(self.state, value, ret)
        d = self.delimiter
        if d is None or not isinstance(value, str) or d not in value:
            return
        base, *rest = value.split(d)
        if base:
            _earliest(self.base, base, ret)
        for chunk in rest:
            _earliest(self.piece, d + chunk, ret)

    def first_state(self, v: Hashable) -> int | None:
        rets = [self.state.get(v)]
        if isinstance(v, str) and v:
            rets.append(self.base.get(v))
        return min((r for r in rets if r is not None), default=None)

    def first_piece(self, suffix: str) -> int | None:
        return self.piece.get(suffix) if suffix in self.unique_suffixes else None


def _earliest(table: dict[Any, int], key: Hashable, ret: int) -> None:
    if key not in table or ret < table[key]:
        table[key] = ret
