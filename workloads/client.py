"""The async recording client: runs one `Op` through a target's client adapter and records it in the history.

Outcome rules (DESIGN 3 and 7; the one copy for every target). The target's adapter reads the system's
own answer into an `Answer` (for paxos: docs/replica-contract.md; for etcd: targets/etcd); this module
decides what becomes of it:

- `ok`: `ok` (a get records the value read; `null` = the key is absent).
- `fail`: `fail` (a cas whose expectation did not hold, error `precondition`; a request the system
  refused before or instead of applying it). Not retried.
- `not-applied`, or a connection that could not be opened: definitely not applied. These are the only
  outcomes retried (tenacity, bounded by `attempts` and time), with the same request id, so the retry
  is invisible in the history: the op is open from the first attempt's invoke.
- `unknown`, a timeout, a reset, a dropped connection: `info`, and the caller must retire the process
  (`Completion.retire`). Not retried,
  unless `retry_unknown` is on: then such an attempt is retried too, with the same request id, the way
  an etcd or Raft client session retries. That is only sound because the replica applies a
  (client_id, request_id) once and answers a retry with the first result, which is exactly what it
  tests (bug `no-dedup`). Once any attempt may have applied, a later "definitely not applied" answer
  no longer makes the op a `fail`: it ends `info`.

Each logical process gets its own `client_id` (`<prefix>-p<process>`), and request ids count up per
process, so the replica's exactly-once table never merges two history operations.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from targets.contract import ClientAdapter, Op
from workloads.history import CasValue, HistoryRecorder, Value

__all__ = ["Completion", "RecordingClient"]

Outcome = Literal["ok", "fail", "info"]
_NO_ATTEMPT = "no attempt made"


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


class _Unknown(Exception):
    """An attempt whose effect is unknown; retried (same request id) only with `retry_unknown`."""

    def __init__(self, done: Completion) -> None:
        super().__init__(done.error)
        self.done = done


class _NotApplied(Exception):
    """An attempt that definitely did not apply; retrying it is safe. `leader` is a hint."""

    def __init__(self, error: str, *, leader: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.leader = leader


class RecordingClient:
    """Performs ops for logical processes against the `client-ni` endpoints and records them.

    Args:
        adapter: the target's client adapter (how an op becomes requests, an answer an `Answer`).
        session: the aiohttp session to use (the caller owns and closes it).
        urls: replica id -> base URL of its client endpoint, e.g. {1: "http://127.0.0.1:8001"}.
        recorder: the run's history recorder; every op gets an invoke and exactly one completion.
        timeout_s: the limit of one HTTP attempt.
        attempts: how many times an op is tried while its attempts definitely did not apply (>= 1).
        client_prefix: prefix of the client ids (unique per run).
        retry_wait_s: the cap of the randomized exponential wait between attempts.
        retry_unknown: also retry attempts of unknown outcome (see the module docstring).
    """

    def __init__(self, *, adapter: ClientAdapter, session: aiohttp.ClientSession, urls: Mapping[int, str],
                 recorder: HistoryRecorder, timeout_s: float, attempts: int = 3,
                 client_prefix: str = "chaos", retry_wait_s: float = 0.5, retry_unknown: bool = False) -> None:
        if attempts < 1 or timeout_s <= 0 or not urls:
            raise ValueError("attempts must be >= 1, timeout_s > 0 and urls non-empty")
        self._adapter = adapter
        self._session = session
        self._urls = dict(urls)
        self._recorder = recorder
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._budget_s = attempts * (timeout_s + retry_wait_s)
        self._prefix = client_prefix
        self._retry_wait_s = retry_wait_s
        self._retry_unknown = retry_unknown
        self._request_ids: dict[int, itertools.count[int]] = {}

    async def perform(self, op: Op, *, process: int, node: int) -> Completion:
        """Record the invoke of `op`, run it (retrying only attempts that did not apply), record the
        completion, and return it. Never raises for a network or server problem: that is an outcome.
        """
        value = _invoke_value(op)
        self._recorder.record(process=process, type="invoke", f=op.f, key=op.key, value=value, node=node)
        done = await self._attempt_all(op, process=process, node=node)
        done_value: Value = done.read if (op.f == "get" and done.type == "ok") else value
        self._recorder.record(process=process, type=done.type, f=op.f, key=op.key, value=done_value,
                              node=done.node, error=done.error)
        return done

    async def _attempt_all(self, op: Op, *, process: int, node: int) -> Completion:
        ids = self._request_ids.setdefault(process, itertools.count())
        request_id = next(ids)
        target = node
        last = _NotApplied(_NO_ATTEMPT)
        unknown: Completion | None = None  # the last attempt that may have applied
        retried = (_NotApplied, _Unknown) if self._retry_unknown else _NotApplied
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(retried),
            stop=stop_after_attempt(self._attempts) | stop_after_delay(self._budget_s),
            wait=wait_random_exponential(multiplier=0.05, max=self._retry_wait_s),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        done = await self._once(op, process=process, request_id=request_id, node=target)
                        if done.type == "info" and self._retry_unknown:
                            raise _Unknown(done)
                        return done
                    except _NotApplied as exc:
                        last = exc
                        if exc.leader is not None and exc.leader in self._urls:
                            target = exc.leader  # follow the hint on the next attempt
                        raise
                    except _Unknown as exc:
                        unknown = exc.done
                        target = self._next_node(target)  # the replica may be cut off: try another
                        raise
        except (_NotApplied, _Unknown):
            pass
        if unknown is not None:  # an earlier attempt may still take effect
            then = f"; then {last.error}" if last.error != _NO_ATTEMPT else ""
            return Completion(type="info", node=target, error=f"{unknown.error}{then}"[:200])
        return Completion(type="fail", node=target, error=last.error)

    def _next_node(self, node: int) -> int:
        nodes = sorted(self._urls)
        return nodes[(nodes.index(node) + 1) % len(nodes)]

    async def _once(self, op: Op, *, process: int, request_id: int, node: int) -> Completion:
        try:
            answer = await self._adapter.attempt(self._session, self._urls[node], op,
                                                 client_id=f"{self._prefix}-p{process}", request_id=request_id,
                                                 timeout=self._timeout)
        except aiohttp.ClientConnectorError as exc:
            # The TCP connection was never opened, so the request was never sent.
            raise _NotApplied(f"connect: {exc.os_error.strerror or exc}") from None
        except asyncio.TimeoutError:
            return Completion(type="info", node=node, error="timeout")
        except aiohttp.ClientError as exc:
            return Completion(type="info", node=node, error=f"{type(exc).__name__}: {exc}"[:200])
        match answer.kind:
            case "ok":
                return Completion(type="ok", node=node, read=answer.read)
            case "fail":
                return Completion(type="fail", node=node, error=answer.error)
            case "not-applied":
                raise _NotApplied(answer.error or "not applied", leader=answer.leader)
            case _:
                return Completion(type="info", node=node, error=answer.error)


def _invoke_value(op: Op) -> Value:
    if op.f == "cas":
        return CasValue(expect=op.expect, value=op.value)
    return op.value
