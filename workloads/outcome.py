"""The client outcome rules, once (DESIGN 3 and 7): how the answers to one op's attempts become its
completion in the history (`ok`, `fail`, `info`), and when and where an attempt is retried with the
same request id. Pure: no clock, no I/O. The recording HTTP client (`workloads.client`) and the
simulator's clients (`harness.sim.clients`) both run each op through an `OpAttempts`; they differ only in
how an attempt travels (a target adapter over aiohttp; a simulated message) and how long they wait
between attempts.

Each attempt ends in an `Answer` (targets.contract; Jepsen's rule: `fail` or `not-applied` only when the
op certainly did not take effect):

- `ok`: `ok` (a get records the value read; `null` = the key is absent).
- `fail`: `fail` (a cas whose expectation did not hold, error `precondition`; a request the system
  refused before or instead of applying it). Not retried.
- `not-applied` (also a connection that could not be opened): definitely not applied. Retried while
  tries and time are left, with the same request id, so the retry is invisible in the history: the op
  is open from the first attempt's invoke. The retry goes to the leader the answer named, or else to the
  next node (the one that answered may be down or cut off).
- `unknown` (a timeout, a reset, a dropped connection): the op may still take effect: it ends `info`
  and the caller must retire the process (`Completion.retire`). Not retried, unless `retry_unknown`
  is on: then it is retried too, at the next node, with the same request id, the way an etcd or Raft
  client session does. That is only sound because the replica applies a (client_id, request_id) once
  and answers a retry with the first result, which is exactly what it tests (bug `no-dedup`). Once
  any attempt may have applied, a later "definitely not applied" answer no longer makes the op a
  `fail`: it ends `info`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from targets.contract import Answer, Op
from workloads.history import CasValue, HistoryRecorder, Value

__all__ = ["Completion", "OpAttempts", "Outcome", "Retry", "invoke_value", "next_node", "record_completion",
           "record_invoke"]

Outcome = Literal["ok", "fail", "info"]
# An error text in the history is at most this long (a server's message can be anything).
ERROR_MAX = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """How one op ended. `read` is the value a successful get returned; `node` answered last."""

    type: Outcome
    node: int
    read: str | None = None
    error: str | None = None

    @property
    def retire(self) -> bool:
        """True when the process that ran the op must retire (its op may still take effect)."""
        return self.type == "info"


@dataclass(frozen=True, slots=True)
class Retry:
    """Try the op again, with the same request id, at `node`."""

    node: int


class OpAttempts:
    """The attempts of one op (see the module docstring for the rules).

    Args:
        node: where the first attempt goes.
        nodes: every node an attempt may go to (a leader hint outside them is ignored).
        attempts: the most attempts of one op (>= 1).
        retry_unknown: also retry attempts of unknown outcome.

    Use: `begin()` before each attempt (it says where to send it), then `answer(...)` with how it
    ended: a `Completion` ends the op, a `Retry` asks for another attempt.
    """

    def __init__(self, *, node: int, nodes: Sequence[int], attempts: int, retry_unknown: bool) -> None:
        if attempts < 1 or node not in nodes:
            raise ValueError(f"OpAttempts(node={node}, nodes={list(nodes)}, attempts={attempts})")
        self.node = node
        self._nodes = sorted(nodes)
        self._attempts = attempts
        self._retry_unknown = retry_unknown
        self.tries = 0
        self._unknown: str | None = None  # the error of an attempt that may have applied

    def begin(self) -> int:
        """An attempt starts: returns the node it goes to."""
        self.tries += 1
        return self.node

    def answer(self, answer: Answer, *, node: int, time_left: bool) -> Completion | Retry:
        """How the attempt sent to `node` ended; `time_left`: the caller's budget allows another."""
        more = self.tries < self._attempts and time_left
        match answer.kind:
            case "ok":
                return Completion(type="ok", node=node, read=answer.read)
            case "fail":
                return Completion(type="fail", node=node, error=answer.error)
            case "not-applied":
                error = answer.error or "not applied"
                if more:
                    hint = answer.leader
                    return self._retry(hint if hint in self._nodes and hint != node else next_node(self._nodes, node))
                if self._unknown is not None:  # an earlier attempt may still take effect
                    return Completion(type="info", node=node, error=f"{self._unknown}; then {error}"[:ERROR_MAX])
                return Completion(type="fail", node=node, error=error)
            case _:
                self._unknown = answer.error or "unknown"
                if self._retry_unknown and more:
                    return self._retry(next_node(self._nodes, node))
                return Completion(type="info", node=node, error=self._unknown[:ERROR_MAX])

    def _retry(self, node: int) -> Retry:
        self.node = node
        return Retry(node)


def next_node(nodes: Sequence[int], node: int) -> int:
    """Where to go when `node` did not help: the next of `nodes` in id order (the first if `node` is
    not among them)."""
    ordered = sorted(nodes)
    return ordered[(ordered.index(node) + 1) % len(ordered)] if node in ordered else ordered[0]


def invoke_value(op: Op) -> Value:
    """The value an op's invoke records: a cas records both its expectation and its new value."""
    if op.f == "cas":
        return CasValue(expect=op.expect, value=op.value)
    return op.value


def record_invoke(recorder: HistoryRecorder, op: Op, *, process: int, node: int | None = None) -> None:
    recorder.record(process=process, type="invoke", f=op.f, key=op.key, value=invoke_value(op), node=node)


def record_completion(recorder: HistoryRecorder, op: Op, done: Completion, *, process: int) -> None:
    """The completion event: a successful get records what it read, every other op its invoke value."""
    value: Value = done.read if (op.f == "get" and done.type == "ok") else invoke_value(op)
    recorder.record(process=process, type=done.type, f=op.f, key=op.key, value=value, node=done.node,
                    error=done.error)
