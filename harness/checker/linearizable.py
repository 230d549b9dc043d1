"""Linearizability search: Wing & Gong's algorithm with Lowe's memoization, per partition.

The history of one partition becomes a doubly linked list of call and return entries in real-time
order (Porcupine's representation, kept in flat int arrays). The search walks the list from the head:
at a call it tries to linearize the operation now (step the model; skip it if the pair (linearized
set, state) was seen before, because that configuration was already explored); on success it lifts
the call and its return out of the list and starts again at the head. Reaching a return means the
operation had to take effect before then and could not: backtrack. The linearized set is an int
bitset, so cache keys are hashable without copying.

Operations with an unknown outcome have their return at infinity (after every known return), so they
can be placed anywhere after their invocation; the search succeeds as soon as every operation with a
known outcome is placed, which lets unknown ones never happen.

Budgets: `deadline()` (injected; the checker reads no clock) is polled every few thousand steps, and
the memo cache is bounded by an approximate memory budget. Either running out gives UNKNOWN, never
VALID.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from harness.checker.model import Model
from harness.checker.operation import Operation
from harness.checker.result import CheckResult, Counterexample, PartitionResult, Placed, Verdict, merge
from harness.errors import HistoryFormatError

Deadline = Callable[[], bool]
"""Returns True once the time budget is spent (e.g. `lambda: time.monotonic() > end`)."""

S = TypeVar("S", bound=Hashable)

DEFAULT_MEMORY_BYTES: Final = 2 * 1024**3
_SLICE: Final = 2048  # search iterations between two looks at the deadline / scheduler turns
_INF: Final = 1 << 62
SKIPPED: Final = "not finished: the history is already invalid on another key"


def check(model: Model[S], ops: Sequence[Operation], *, deadline: Deadline | None = None,
          memory_bytes: int = DEFAULT_MEMORY_BYTES, exhaustive: bool = False) -> CheckResult:
    """Decide whether `ops` is linearizable with respect to `model`.

    Partitions are searched round-robin with growing slices, so that one hard key cannot starve the
    others: like Porcupine, an invalid key is usually found long before a hard valid one finishes.

    Args:
        model: the sequential specification; its `partition` splits the history into independent parts.
        ops: the operations (see `harness.checker.operation.operations`).
        deadline: polled between slices; once it returns True every unfinished partition is UNKNOWN.
        memory_bytes: approximate bound on the memo cache per partition; exceeding it gives UNKNOWN.
        exhaustive: keep searching the other keys after one is found invalid (default: stop them, and
            report them UNKNOWN with reason SKIPPED; the history's verdict is INVALID either way).

    Returns:
        A CheckResult whose verdict merges the partitions' (INVALID > UNKNOWN > VALID), with a
        Counterexample for every invalid partition.

    Raises:
        HistoryFormatError: an operation the model cannot interpret (e.g. append in the register model).
    """
    parts = model.partition(ops)
    keys = sorted(parts, key=lambda k: (len(parts[k]), k is not None, str(k)))
    runs = {k: _Run(model, k, parts[k], memory_bytes) for k in keys}
    done: dict[str | None, PartitionResult] = {}
    pending = list(keys)
    turn = 1
    while pending:
        for key in list(pending):
            result = runs[key].advance(turn)
            if result is not None:
                done[key] = result
                pending.remove(key)
            if deadline is not None and deadline():
                break
        if deadline is not None and deadline():
            done.update({k: runs[k].unknown("time budget exhausted") for k in pending})
            break
        if not exhaustive and any(r.verdict == Verdict.INVALID for r in done.values()):
            done.update({k: runs[k].unknown(SKIPPED) for k in pending})
            break
        turn = min(turn * 2, 64)
    results = tuple(done[k] for k in sorted(done, key=lambda k: (k is not None, str(k))))
    return CheckResult(model=model.name, verdict=merge(r.verdict for r in results), partitions=results)


def check_partition(model: Model[S], key: str | None, ops: Sequence[Operation], *,
                    memory_bytes: int = DEFAULT_MEMORY_BYTES) -> PartitionResult:
    """Check one independent sub-history to the end, with no time budget (see `check`)."""
    run = _Run(model, key, ops, memory_bytes)
    while True:
        result = run.advance(1 << 20)
        if result is not None:
            return result


class _Run(Generic[S]):
    """The search of one partition, advanced a few slices at a time."""

    def __init__(self, model: Model[S], key: str | None, ops: Sequence[Operation], memory_bytes: int) -> None:
        steps = []
        for op in ops:
            try:
                steps.append(model.compile(op))
            except ValueError as exc:
                raise HistoryFormatError(f"operation invoked at event {op.call}: {exc}") from None
        self.model, self.key, self.ops, self.steps = model, key, ops, steps
        self.max_states = max(1000, memory_bytes // (150 + len(ops) // 8))
        self.search = _Search(ops, steps, model.init())
        self.gen = self.search.run(max_states=self.max_states, stop_at=None)

    def unknown(self, reason: str) -> PartitionResult:
        return PartitionResult(key=self.key, verdict=Verdict.UNKNOWN, ops=len(self.ops),
                               explored=self.search.explored, reason=reason)

    def advance(self, slices: int) -> PartitionResult | None:
        """Run up to `slices` slices; the result once the search has finished, else None."""
        for _ in range(slices):
            try:
                next(self.gen)
            except StopIteration as stop:
                return self._finish(str(stop.value))
        return None

    def _finish(self, outcome: str) -> PartitionResult:
        n, explored = len(self.ops), self.search.explored
        if outcome == "valid":
            return PartitionResult(key=self.key, verdict=Verdict.VALID, ops=n, explored=explored)
        if outcome != "invalid":
            return self.unknown(outcome)
        # Second pass: the search is deterministic, so it reaches the furthest return again; stop there
        # and read off the configuration (cheaper than copying the stack at every new furthest point).
        # It stops before the first pass ended, so it costs at most as much.
        again = _Search(self.ops, self.steps, self.model.init())
        for _ in again.run(max_states=self.max_states, stop_at=self.search.furthest):
            pass
        return PartitionResult(key=self.key, verdict=Verdict.INVALID, ops=n, explored=explored,
                               counterexample=again.counterexample(self.model, self.key))


@dataclass(slots=True)
class _Stuck:
    prefix: list[tuple[int, Hashable]]
    state: Hashable
    unplaced: list[int]
    stuck: int


class _Search:
    """One run of the search over one partition (single use)."""

    def __init__(self, ops: Sequence[Operation], steps: Sequence[Callable[[Any], tuple[bool, Any]]],
                 init: Hashable) -> None:
        self.ops = ops
        self.steps = steps
        self.init = init
        self.explored = 0
        self.furthest = -1
        self.stuck_at: _Stuck | None = None

    def _build(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """Flat linked list: node 0 is the head, node 2n+1 the tail; returns nxt, prv, op_of, match, pos."""
        entries: list[tuple[int, int, bool]] = []
        for i, op in enumerate(self.ops):
            entries.append((op.call, i, True))
            entries.append((op.ret if op.ret is not None else _INF + i, i, False))
        entries.sort()
        n_nodes = len(entries) + 2
        tail = n_nodes - 1
        nxt = list(range(1, n_nodes)) + [tail]
        prv = [0] + list(range(0, n_nodes - 1))
        op_of = [-1] * n_nodes
        match = [0] * n_nodes
        pos = [0] * n_nodes
        ret_node = [0] * len(self.ops)
        for node, (p, i, _is_call) in enumerate(entries, start=1):
            op_of[node] = i
            pos[node] = p
            if not _is_call:
                ret_node[i] = node
        for node, (_p, i, is_call) in enumerate(entries, start=1):
            if is_call:
                match[node] = ret_node[i]
        return nxt, prv, op_of, match, pos

    def run(self, *, max_states: int, stop_at: int | None) -> Generator[None, None, str]:
        """Yields every _SLICE iterations; returns 'valid', 'invalid', 'stopped' (at `stop_at`) or the
        reason for unknown."""
        nxt, prv, op_of, match, pos = self._build()
        steps = self.steps
        definite = [0 if op.ret is None else 1 for op in self.ops]
        left = sum(definite)
        state = self.init
        lin = 0
        calls: list[tuple[int, Hashable, int]] = []
        cache: set[tuple[int, Hashable]] = set()
        node = nxt[0]
        budget = _SLICE
        while left:
            m = match[node]
            if m:
                i = op_of[node]
                ok, new_state = steps[i](state)
                if ok:
                    new_lin = lin | (1 << i)
                    ck = (new_lin, new_state)
                    if ck not in cache:
                        cache.add(ck)
                        calls.append((node, state, lin))
                        state, lin = new_state, new_lin
                        left -= definite[i]
                        a = prv[node]; b = nxt[node]; nxt[a] = b; prv[b] = a  # noqa: E702 (hot loop)
                        a = prv[m]; b = nxt[m]; nxt[a] = b; prv[b] = a  # noqa: E702
                        node = nxt[0]
                        if len(cache) > max_states:
                            self.explored = len(cache)
                            return "memory budget exhausted"
                        continue
                node = nxt[node]
            else:
                p = pos[node]
                if p > self.furthest:
                    self.furthest = p
                if p == stop_at:
                    self._capture(calls, state, node, nxt, match, op_of)
                    return "stopped"
                if not calls:
                    self.explored = len(cache)
                    return "invalid"
                node, state, lin = calls.pop()
                left += definite[op_of[node]]
                m = match[node]
                nxt[prv[m]] = m; prv[nxt[m]] = m  # noqa: E702 (unlift: return first, then call)
                nxt[prv[node]] = node; prv[nxt[node]] = node  # noqa: E702
                node = nxt[node]
            budget -= 1
            if not budget:
                budget = _SLICE
                self.explored = len(cache)
                yield
        self.explored = len(cache)
        return "valid"

    def _capture(self, calls: list[tuple[int, Hashable, int]], state: Hashable, ret: int, nxt: list[int],
                 match: list[int], op_of: list[int]) -> None:
        ids = [op_of[node] for node, _s, _l in calls]
        after = [s for _n, s, _l in calls[1:]] + [state]
        unplaced = []
        node = nxt[0]
        while node != ret:
            if match[node]:
                unplaced.append(op_of[node])
            node = nxt[node]
        self.stuck_at = _Stuck(prefix=list(zip(ids, after)), state=state, unplaced=unplaced, stuck=op_of[ret])

    def counterexample(self, model: Model[Any], key: str | None) -> Counterexample:
        """The Counterexample read off the configuration captured by a `stop_at` run."""
        st = self.stuck_at
        if st is None:  # the deterministic second pass must reach the same point
            from harness.errors import InternalError
            raise InternalError("linearizability search: second pass did not reach the furthest return")
        ops = self.ops
        end = self.furthest
        start = min(ops[i].call for i in st.unplaced)
        window_ops = tuple(o for o in ops if o.call <= end and (o.ret is None or o.ret >= start))
        return Counterexample(
            key=key, window=(start, end), stuck=ops[st.stuck].id,
            prefix=tuple(Placed(op=ops[i].id, state=model.describe(s)) for i, s in st.prefix),
            unplaced=tuple(ops[i].id for i in st.unplaced),
            operations=tuple(sorted(window_ops, key=lambda o: o.call)),
            state_after_prefix=model.describe(st.state))
