"""Linearizability checking: split the history per key, search each part, merge the verdicts.

The search engines live in `search_jit` (the default: Lowe's just-in-time linearization, depth first,
memoized) and `search_wgl` (Wing & Gong with Lowe's memoization, Porcupine's representation; kept as
an independent cross-check). Both are deterministic, resumable generators, which is what lets the
scheduler here interleave keys and look at the deadline between slices.

Budgets: `deadline()` (injected; the checker reads no clock) is polled every few thousand search steps,
and the memo cache is bounded by an approximate memory budget. Either running out gives UNKNOWN, never
VALID.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Final, Generic, TypeVar

from harness.checker.model import Model
from harness.checker.operation import Operation
from harness.checker.result import CheckResult, Counterexample, PartitionResult, Placed, Verdict, merge
from harness.checker.search_jit import JITSearch
from harness.checker.search_wgl import WGLSearch
from harness.checker.searchstate import Search, SearchFactory
from targets.errors import HistoryFormatError, InternalError

Deadline = Callable[[], bool]
"""Returns True once the time budget is spent (e.g. `lambda: time.monotonic() > end`)."""

S = TypeVar("S", bound=Hashable)

DEFAULT_MEMORY_BYTES: Final = 2 * 1024**3
_BYTES_PER_STATE: Final = 400  # rough size of one memo entry (tuple, ints, a shared state)
ENGINES: Final[dict[str, SearchFactory]] = {"jit": JITSearch, "wgl": WGLSearch}
SKIPPED: Final = "not finished: the history is already invalid on another key"


def check(model: Model[S], ops: Sequence[Operation], *, deadline: Deadline | None = None,
          memory_bytes: int = DEFAULT_MEMORY_BYTES, exhaustive: bool = False,
          engine: str = "jit", drop_unobserved: bool = True, deduce: bool = True) -> CheckResult:
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
        engine: "jit" (default) or "wgl"; they give the same verdicts.
        drop_unobserved: leave out unknown-outcome writes that nothing observed (`Model.unobserved`;
            the verdict is the same either way, the search is much smaller). Off only to test that.
        deduce: give unknown-outcome writes that a completed op observed the observer's return
            (`Model.observed`; same verdict, they no longer stay open to the end). Off only to test that.

    Returns:
        A CheckResult whose verdict merges the partitions' (INVALID > UNKNOWN > VALID), with a
        Counterexample for every invalid partition.

    Raises:
        HistoryFormatError: an operation the model cannot interpret (e.g. append in the register model).
    """
    parts = {k: _reduce(model, part, drop_unobserved=drop_unobserved, deduce=deduce)
             for k, part in model.partition(ops).items()}
    keys = sorted(parts, key=lambda k: (len(parts[k]), k is not None, str(k)))
    factory = ENGINES[engine]
    runs = {k: _Run(model, k, parts[k], memory_bytes, factory) for k in keys}
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


def _reduce(model: Model[S], ops: list[Operation], *, drop_unobserved: bool, deduce: bool) -> list[Operation]:
    """What the unknown-outcome writes' values tell before searching (both steps keep the verdict)."""
    if drop_unobserved:
        drop = model.unobserved(ops)
        ops = [op for i, op in enumerate(ops) if i not in drop] if drop else ops
    return model.observed(ops) if deduce else ops


def check_partition(model: Model[S], key: str | None, ops: Sequence[Operation], *,
                    memory_bytes: int = DEFAULT_MEMORY_BYTES, engine: str = "jit",
                    drop_unobserved: bool = True, deduce: bool = True) -> PartitionResult:
    """Check one independent sub-history to the end, with no time budget (see `check`)."""
    ops = _reduce(model, list(ops), drop_unobserved=drop_unobserved, deduce=deduce)
    run = _Run(model, key, ops, memory_bytes, ENGINES[engine])
    while True:
        result = run.advance(1 << 20)
        if result is not None:
            return result


class _Run(Generic[S]):
    """The search of one partition, advanced a few slices at a time."""

    def __init__(self, model: Model[S], key: str | None, ops: Sequence[Operation], memory_bytes: int,
                 factory: SearchFactory) -> None:
        steps = []
        for op in ops:
            try:
                steps.append(model.compile(op))
            except ValueError as exc:
                raise HistoryFormatError(f"operation invoked at event {op.call}: {exc}") from None
        self.model, self.key, self.ops, self.steps = model, key, ops, steps
        self.max_states = max(1000, memory_bytes // _BYTES_PER_STATE)
        self.readonly = [model.readonly(op) for op in ops]
        self.factory = factory
        self.search: Search = factory(ops, steps, model.init(), self.readonly, model)
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
        again = self.factory(self.ops, self.steps, self.model.init(), self.readonly, self.model)
        for _ in again.run(max_states=self.max_states, stop_at=self.search.furthest):
            pass
        return PartitionResult(key=self.key, verdict=Verdict.INVALID, ops=n, explored=explored,
                               counterexample=_counterexample(self.model, self.key, self.ops, again))


def _counterexample(model: Model[S], key: str | None, ops: Sequence[Operation], search: Search) -> Counterexample:
    """The Counterexample read off the configuration captured by a `stop_at` run."""
    st = search.stuck_at
    if st is None:  # the deterministic second pass must reach the same point
        raise InternalError("linearizability search: second pass did not reach the furthest return")
    end = search.furthest
    start = min(ops[i].call for i in st.unplaced)
    window_ops = tuple(o for o in ops if o.call <= end and (o.ret is None or o.ret >= start))
    return Counterexample(
        key=key, window=(start, end), stuck=ops[st.stuck].id,
        prefix=tuple(Placed(op=ops[i].id, state=model.describe(s)) for i, s in st.prefix),  # type: ignore[arg-type]
        unplaced=tuple(ops[i].id for i in st.unplaced),
        operations=tuple(sorted(window_ops, key=lambda o: o.call)),
        state_after_prefix=model.describe(st.state))  # type: ignore[arg-type]
