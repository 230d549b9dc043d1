"""Sequential specifications the checker linearizes against.

A model is pure: `init()` gives the initial state, `step(state, op)` says whether `op` can take effect
in `state` and what state follows, without mutating anything. States must be hashable and immutable
(the search memoizes (linearized set, state) pairs). `compile(op)` returns the same step as a closure
over one operation, which the search calls in its hot loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Final, Protocol, TypeVar

from harness.checker.operation import Operation
from harness.checker.unique import bound_observed
from workloads.history import CasValue, Scalar

S = TypeVar("S", bound=Hashable)
Step = Callable[[S], tuple[bool, S]]


class Model(Protocol[S]):
    """What the search needs from a sequential specification."""

    name: str

    def init(self) -> S:
        """The state before any operation."""

    def compile(self, op: Operation) -> Step[S]:
        """`op`'s transition: state -> (legal, next state). Must not mutate its argument."""

    def readonly(self, op: Operation) -> bool:
        """True if `op` never changes the state (a read). The search then places it as soon as it is
        legal and never tries the alternatives; a wrong True makes the checker unsound."""

    def monotone(self, op: Operation) -> bool:
        """True if `op` can only move the state forward in the order `reaches` tests (e.g. append).
        Return False when unsure: the search then skips the pruning that relies on it."""

    def reaches(self, state: S, target: Hashable) -> bool:
        """False only if no sequence of monotone operations turns `state` into `target`; else True."""

    def partition(self, ops: Sequence[Operation]) -> dict[str | None, list[Operation]]:
        """Split into independent sub-histories (P-compositionality); each is checked on its own."""

    def unobserved(self, ops: Sequence[Operation]) -> set[int]:
        """Positions of unknown-outcome writes whose value nothing in `ops` ever observed: the search
        may assume they never took effect (see `unobserved_writes`). Return an empty set when unsure."""

    def observed(self, ops: Sequence[Operation]) -> list[Operation]:
        """`ops` with unknown-outcome writes that a completed op observed given that observer's return
        (see `harness.checker.unique.bound_observed`). Return `list(ops)` when unsure."""

    def describe(self, state: S) -> str:
        """A short human-readable form of a state, for counterexamples."""


def step(model: Model[S], state: S, op: Operation) -> tuple[bool, S]:
    """The model's transition for one operation (convenience over `compile`)."""
    return model.compile(op)(state)


def unobserved_writes(ops: Sequence[Operation], *, substring: bool) -> set[int]:
    """Unknown-outcome put/write/append/cas ops whose written value no read returned and no cas expected.

    Dropping such an op w keeps a linearizable history linearizable. Take a linearization that places
    w. From w until the next put or delete, the state holds w's value (as a whole, or with `substring`,
    the append models, inside a longer string): a read placed there would have returned it and a cas
    placed there would have expected it, so only appends (whose legality never depends on the state)
    sit there, and the next put or delete sets the same state whether w happened or not. So the same
    order without w is legal too. The other direction is trivial (w may always "never happen").
    Every read output and every cas expect counts as an observation, whatever its own outcome.

    Unknown writes are what makes the search hard: each one that may still be placed rules out the
    pruning that appends allow. Most unknown writes in a chaos run are never read back.
    """
    if all(op.ret is not None for op in ops):
        return set()  # nothing of unknown outcome: skip collecting the observations
    seen: list[Hashable] = []
    for op in ops:
        if op.f in ("get", "read") and op.ret is not None:
            seen.append(op.output)
        elif op.f == "cas" and isinstance(op.input, CasValue):
            seen.append(op.input.expect)
    blob = "\x00".join(s for s in seen if isinstance(s, str)) if substring else ""
    exact = set(seen)
    out: set[int] = set()
    for i, op in enumerate(ops):
        if op.ret is not None or op.f not in ("put", "write", "append", "cas"):
            continue
        value = op.input.value if isinstance(op.input, CasValue) else op.input
        if substring:
            if isinstance(value, str) and value and value not in blob and value not in exact:
                out.add(i)
        elif op.f != "append" and value not in exact and value is not None:
            out.add(i)
    return out


def _scalar(op: Operation) -> Scalar:
    if isinstance(op.input, CasValue):
        raise ValueError(f"{op.f} takes a plain value, got an expect/value pair (op {op.id})")
    return op.input


def _by_key(ops: Sequence[Operation]) -> dict[str | None, list[Operation]]:
    parts: dict[str | None, list[Operation]] = {}
    for op in ops:
        parts.setdefault(op.key, []).append(op)
    return parts


class KVModel:
    """Independent per-key registers with get, put, append, delete and cas.

    `absent` is what a missing key reads as: `None` in our histories (DESIGN 7: a get of an absent key
    returns null), `""` in Porcupine's kv histories. `append` to an absent key stores the appended value;
    `delete` makes the key absent; `cas` applies only if the current value equals `expect` (a cas whose
    precondition failed is recorded as `fail` and never reaches the model).
    """

    def __init__(self, *, absent: str | None = None) -> None:
        self.absent: Final = absent
        self.name = "kv" if absent is None else "kv(absent=\"\")"

    def init(self) -> Scalar:
        return self.absent

    def compile(self, op: Operation) -> Step[Scalar]:
        f = op.f
        absent = self.absent
        if f == "get":
            want = op.output
            return lambda s: (s == want, s)
        if f == "put":
            v = _scalar(op)
            return lambda s: (True, v)
        if f == "append":
            suffix = op.input
            if not isinstance(suffix, str):
                raise ValueError(f"append of a non-string value {suffix!r} (op {op.id})")
            return lambda s: (True, suffix if s is None else f"{s}{suffix}")
        if f == "delete":
            return lambda s: (True, absent)
        if f == "cas":
            arg = op.input
            if not isinstance(arg, CasValue):
                raise ValueError(f"cas needs an expect/value argument, got {arg!r} (op {op.id})")
            expect, new = arg.expect, arg.value
            return lambda s: (True, new) if s == expect else (False, s)
        raise ValueError(f"the kv model has no operation {f!r}; expected get|put|append|delete|cas")

    def readonly(self, op: Operation) -> bool:
        return op.f == "get"

    def monotone(self, op: Operation) -> bool:
        return op.f == "append"

    def reaches(self, state: Scalar, target: Hashable) -> bool:
        # appends only extend a string: the target must start with the current value
        if target == state or state is None:
            return True
        return isinstance(target, str) and isinstance(state, str) and target.startswith(state)

    def partition(self, ops: Sequence[Operation]) -> dict[str | None, list[Operation]]:
        return _by_key(ops)

    def unobserved(self, ops: Sequence[Operation]) -> set[int]:
        return unobserved_writes(ops, substring=True)

    def observed(self, ops: Sequence[Operation]) -> list[Operation]:
        return bound_observed(ops, never=frozenset({self.absent}))  # delete and the start leave `absent`

    def describe(self, state: Scalar) -> str:
        return "absent" if state is None else repr(state)


class RegisterModel:
    """One register with read, write and cas (Jepsen's cas-register; knossos `cas-register`).

    The register starts at `initial`: nil by default, as Jepsen's cas-register; Knossos's histories
    often assume 0 (`(cas-register 0)`). A read that returned nil is legal only while the register
    holds nil (the EDN and Jepsen-log readers turn Knossos's nil reads, which mean "not observed",
    into unknown-outcome reads before they get here). All operations go to one partition, whatever
    their key.
    """

    def __init__(self, *, initial: Scalar = None) -> None:
        self.initial: Final = initial
        self.name = "register" if initial is None else f"register(initial={initial!r})"

    def init(self) -> Scalar:
        return self.initial

    def compile(self, op: Operation) -> Step[Scalar]:
        f = op.f
        if f in ("read", "get"):
            want = op.output
            return lambda s: (s == want, s)
        if f in ("write", "put"):
            v = _scalar(op)
            return lambda s: (True, v)
        if f == "cas":
            arg = op.input
            if not isinstance(arg, CasValue):
                raise ValueError(f"cas needs an [old new] argument, got {arg!r} (op {op.id})")
            expect, new = arg.expect, arg.value
            return lambda s: (True, new) if s == expect else (False, s)
        raise ValueError(f"the register model has no operation {f!r}; expected read|write|cas")

    def readonly(self, op: Operation) -> bool:
        return op.f in ("read", "get")

    def monotone(self, op: Operation) -> bool:
        return False

    def reaches(self, state: Scalar, target: Hashable) -> bool:
        return True

    def partition(self, ops: Sequence[Operation]) -> dict[str | None, list[Operation]]:
        return {None: list(ops)} if ops else {}

    def unobserved(self, ops: Sequence[Operation]) -> set[int]:
        return unobserved_writes(ops, substring=False)

    def observed(self, ops: Sequence[Operation]) -> list[Operation]:
        return bound_observed(ops, never=frozenset({self.initial}))

    def describe(self, state: Scalar) -> str:
        return "nil" if state is None else repr(state)
