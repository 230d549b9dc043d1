"""Linearizability checking: split the history per key, search each part, merge the verdicts.

The search engines live in `search_jit` (the default: Lowe's just-in-time linearization, depth first,
memoized) and `search_wgl` (Wing & Gong with Lowe's memoization, Porcupine's representation; kept as
an independent cross-check). Both are deterministic, resumable generators, which is what lets the
scheduler here interleave keys and look at the deadline between slices.

Before a partition is searched, what its unknown-outcome writes' values tell is applied (`_reduce`:
unobserved ones are left out, observed ones get their observer's return, see `unique`). With the JIT
engine a hard partition also gets a relaxed search beside the exact one (`_Run`).

Budgets: `deadline()` (injected; the checker reads no clock) is polled every few thousand search steps,
and the memo cache is bounded by an approximate memory budget. Either running out gives UNKNOWN, never
VALID.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Mapping, Sequence
from functools import partial
from typing import Final, Generic, TypeVar

from harness.checker.model import Model
from harness.checker.operation import Operation
from harness.checker.counterexample import counterexample
from harness.checker.result import CheckResult, Counterexample, PartitionResult, Verdict, merge
from harness.checker.search_jit import JITSearch
from harness.checker.search_wgl import WGLSearch
from harness.checker.searchstate import Search, SearchFactory
from targets.errors import HistoryFormatError

Deadline = Callable[[], bool]
"""Returns True once the time budget is spent (e.g. `lambda: time.monotonic() > end`)."""

S = TypeVar("S", bound=Hashable)

DEFAULT_MEMORY_BYTES: Final = 2 * 1024**3
_BYTES_PER_STATE: Final = 400  # rough size of one memo entry (tuple, ints, a shared state)
ENGINES: Final[dict[str, SearchFactory]] = {"jit": JITSearch, "wgl": WGLSearch}
_RELAXED_FIRST: Final[dict[str, SearchFactory]] = {"jit": partial(JITSearch, relaxed=True)}
_REPLAY_STATES: Final = 200_000  # budget of the exact replay that looks for a relaxed run's stuck point
_RELAXED_AFTER_PER_OP: Final = 3  # the relaxed search joins after this many states per op, plus:
_RELAXED_AFTER_MIN: Final = 200
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
        memory_bytes: approximate bound on the memo cache of each search of a partition (a hard
            partition runs two: the exact and the relaxed one); exceeding it gives UNKNOWN.
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
    recorded = {op.id: op for op in ops}
    runs = {k: _Run(model, k, parts[k], memory_bytes, engine, recorded) for k in keys}
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
    recorded = {op.id: op for op in ops}
    ops = _reduce(model, list(ops), drop_unobserved=drop_unobserved, deduce=deduce)
    run = _Run(model, key, ops, memory_bytes, engine, recorded)
    while True:
        result = run.advance(1 << 20)
        if result is not None:
            return result


class _Run(Generic[S]):
    """The search of one partition, advanced a few slices at a time.

    With the JIT engine, a relaxed search (search_jit's docstring) joins the exact one once the exact
    one has explored more than a few configurations per operation without an answer (a valid history
    rarely needs more; an invalid one with unknown-outcome ops open to the end may need millions).
    From then on they take turns, slice by slice, and the first final answer wins: the exact search's
    valid or invalid, the relaxed search's invalid, or its valid when the linearization it found is a
    real one. The switch depends on counts, not on the clock, so the checker stays deterministic."""

    def __init__(self, model: Model[S], key: str | None, ops: Sequence[Operation], memory_bytes: int,
                 engine: str, recorded: Mapping[int, Operation]) -> None:
        steps = []
        for op in ops:
            try:
                steps.append(model.compile(op))
            except ValueError as exc:
                raise HistoryFormatError(f"operation invoked at event {op.call}: {exc}") from None
        self.model, self.key, self.ops, self.steps = model, key, ops, steps
        self.recorded = recorded  # by id, as recorded: for the counterexample
        self.max_states = max(1000, memory_bytes // _BYTES_PER_STATE)
        self.readonly = [model.readonly(op) for op in ops]
        self.factory = ENGINES[engine]
        # nothing to relax without unknown-outcome ops that may repeat: the relaxed search would be the
        # exact one again, at half speed
        repeatable = any(op.ret is None and not ro and not model.monotone(op)
                         for op, ro in zip(ops, self.readonly))
        self.relaxed_factory = _RELAXED_FIRST.get(engine) if repeatable else None
        self.relaxed_after = _RELAXED_AFTER_PER_OP * len(ops) + _RELAXED_AFTER_MIN
        self.search: Search = self._new(self.factory)
        self.gen: Generator[None, None, str] | None = self.search.run(max_states=self.max_states, stop_at=None)
        self.relaxed: Search | None = None
        self.relaxed_gen: Generator[None, None, str] | None = None
        self.gave_up = "memory budget exhausted"

    def _new(self, factory: SearchFactory) -> Search:
        return factory(self.ops, self.steps, self.model.init(), self.readonly, self.model)

    def unknown(self, reason: str) -> PartitionResult:
        explored = self.search.explored + (self.relaxed.explored if self.relaxed is not None else 0)
        return PartitionResult(key=self.key, verdict=Verdict.UNKNOWN, ops=len(self.ops),
                               explored=explored, reason=reason)

    def advance(self, slices: int) -> PartitionResult | None:
        """Run up to `slices` slices of each running search; the result once one is final, else None."""
        for _ in range(slices):
            if self.gen is not None:
                try:
                    next(self.gen)
                except StopIteration as stop:
                    if stop.value in ("valid", "invalid"):
                        return self._finish(str(stop.value), self.search, relaxed=False)
                    self.gen, self.gave_up = None, str(stop.value)
            if self.relaxed_gen is None and self.relaxed_factory is not None and (
                    self.gen is None or self.search.explored > self.relaxed_after):
                self.relaxed = self._new(self.relaxed_factory)
                self.relaxed_gen = self.relaxed.run(max_states=self.max_states, stop_at=None)
                self.relaxed_factory = None  # at most once
            if self.relaxed_gen is not None and self.relaxed is not None:
                try:
                    next(self.relaxed_gen)
                except StopIteration as stop:
                    if stop.value in ("valid", "invalid"):
                        return self._finish(str(stop.value), self.relaxed, relaxed=True)
                    self.relaxed_gen = None  # RELAXED_VALID or out of memory: the exact search decides
            if self.gen is None and self.relaxed_gen is None:
                return self.unknown(self.gave_up)
        return None

    def _finish(self, outcome: str, search: Search, *, relaxed: bool) -> PartitionResult:
        n, explored = len(self.ops), search.explored
        if outcome == "valid":
            return PartitionResult(key=self.key, verdict=Verdict.VALID, ops=n, explored=explored)
        return PartitionResult(key=self.key, verdict=Verdict.INVALID, ops=n, explored=explored,
                               counterexample=self._counterexample(self._replay(search, relaxed=relaxed)))

    def _counterexample(self, replayed: Search) -> Counterexample:
        return counterexample(self.model, self.key, self.ops, replayed.stuck_at, replayed.furthest,
                              self.recorded)

    def _replay(self, search: Search, *, relaxed: bool) -> Search:
        """A second pass that stops at the furthest return `search` got stuck at, to read off the
        configuration there (cheaper than copying the stack at every new furthest point). The search
        is deterministic, so the same engine gets there again, at most as fast as the first pass.
        After a relaxed pass, the exact search is tried first, within a budget: its prefix is a real
        one (the relaxed one may place an unknown op twice); it cannot get further than the relaxed
        one, and usually gets as far."""
        stop_at = search.furthest
        if relaxed:
            exact = self._new(self.factory)
            for _ in exact.run(max_states=min(self.max_states, _REPLAY_STATES), stop_at=stop_at):
                pass
            if exact.stuck_at is not None:
                return exact
        again = self._new(_RELAXED_FIRST[_engine_of(self.factory)] if relaxed else self.factory)
        for _ in again.run(max_states=self.max_states, stop_at=stop_at):
            pass
        return again


def _engine_of(factory: SearchFactory) -> str:
    return next(name for name, f in ENGINES.items() if f is factory)
