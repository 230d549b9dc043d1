"""Verdicts and results: plain data the CLI prints and the report draws (no rendering here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from harness.checker.operation import Operation


class Verdict(IntEnum):
    """The outcome of a check. The order is the merge priority: INVALID > UNKNOWN > VALID."""

    VALID = 0
    UNKNOWN = 1
    INVALID = 2

    @property
    def exit_code(self) -> int:
        """`paxos-chaos check` exit code: 0 valid, 1 invalid, 3 unknown."""
        return {Verdict.VALID: 0, Verdict.INVALID: 1, Verdict.UNKNOWN: 3}[self]


def merge(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict of a whole made of parts: any INVALID wins, then any UNKNOWN; empty is VALID."""
    return max(verdicts, default=Verdict.VALID)


@dataclass(frozen=True, slots=True, kw_only=True)
class Placed:
    """One step of a linearization: operation `op` took effect, leaving the model in `state`."""

    op: int
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Counterexample:
    """Why one partition (key) is not linearizable, as data for a timeline drawing
    (`harness.checker.counterexample` says what is chosen and why).

    - `window`: (first, last) event index of the smallest failing window: it ends at the return of
      `stuck`, the earliest completion by which every linearization fails (so the history cut just
      before `window[1]` is still linearizable), and starts at the earliest invocation among `unplaced`.
    - `prefix`: the last steps (at most 50) of the longest linearization found, in order, with the
      model state after each op; `prefix_length` is how many steps it has in all.
    - `unplaced`: ids of the operations invoked before `window[1]` that could not be placed after
      the prefix (`stuck` is among them: it had to be placed before its return and could not).
    - `operations`: what to draw, as recorded, by invocation (at most 40): `stuck`, every operation
      that overlaps it, those that completed just before it, the operations of the prefix's last
      steps, those of `unplaced` invoked in that span, and the next two reads to complete after it.
    """

    key: str | None
    window: tuple[int, int]
    stuck: int
    prefix: tuple[Placed, ...]
    prefix_length: int
    unplaced: tuple[int, ...]
    operations: tuple[Operation, ...]
    state_after_prefix: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"key": self.key, "window": list(self.window), "stuck": self.stuck,
                "prefix": [{"op": p.op, "state": p.state} for p in self.prefix],
                "prefix_length": self.prefix_length,
                "unplaced": list(self.unplaced), "operations": [o.to_dict() for o in self.operations],
                "state_after_prefix": self.state_after_prefix}


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionResult:
    """The verdict for one key. `explored` counts distinct (linearized set, state) pairs visited.

    `reason` says why the verdict is UNKNOWN ("time budget exhausted", "memory budget exhausted").
    """

    key: str | None
    verdict: Verdict
    ops: int
    explored: int
    counterexample: Counterexample | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"key": self.key, "verdict": self.verdict.name.lower(), "ops": self.ops,
                "explored": self.explored, "reason": self.reason,
                "counterexample": self.counterexample.to_dict() if self.counterexample else None}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """The verdict for a whole history: the merge of its partitions' verdicts."""

    model: str
    verdict: Verdict
    partitions: tuple[PartitionResult, ...]

    @property
    def ops(self) -> int:
        """How many operations were checked (fails and unknown-outcome reads are not counted)."""
        return sum(p.ops for p in self.partitions)

    @property
    def counterexamples(self) -> tuple[Counterexample, ...]:
        """The counterexample of every invalid partition."""
        return tuple(p.counterexample for p in self.partitions if p.counterexample is not None)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (for results.json and the HTML report)."""
        return {"model": self.model, "verdict": self.verdict.name.lower(), "ops": self.ops,
                "partitions": [p.to_dict() for p in self.partitions]}
