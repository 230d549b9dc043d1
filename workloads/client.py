"""The async recording client: runs one `Op` through a target's client adapter and records it in the history.

The outcome rules (ok/fail/info, which attempts are retried, where, with the same request id) are
`workloads.outcome`, shared with the simulator's clients; this module is their aiohttp side. The
target's adapter reads the system's own answer into an `Answer` (for paxos: docs/replica-contract.md;
for etcd: targets/etcd); what the network does is classified here, once for every target: a connection
that could not be opened is `not-applied` (the request never left), a timeout or any error after the
request left is `unknown`. Retries are paced by tenacity (a randomized exponential wait) and bounded by
`attempts` and by a time budget of `attempts * (timeout_s + retry_wait_s)`.

Each logical process gets its own `client_id` (`<prefix>-p<process>`), and request ids count up per
process, so the replica's exactly-once table never merges two history operations.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type
from tenacity.wait import wait_random_exponential

from targets.contract import Answer, ClientAdapter, Op
from workloads.history import HistoryRecorder
from workloads.outcome import Completion, OpAttempts, Outcome, Retry, record_completion, record_invoke

__all__ = ["Completion", "Outcome", "RecordingClient"]


class _Again(Exception):
    """The outcome rules asked for another attempt (tenacity retries on it, after its wait)."""


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
        retry_unknown: also retry attempts of unknown outcome (`workloads.outcome`).
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
        """Record the invoke of `op`, run it (retrying as `workloads.outcome` says), record the
        completion, and return it. Never raises for a network or server problem: that is an outcome.
        """
        record_invoke(self._recorder, op, process=process, node=node)
        done = await self._attempt_all(op, process=process, node=node)
        record_completion(self._recorder, op, done, process=process)
        return done

    async def _attempt_all(self, op: Op, *, process: int, node: int) -> Completion:
        ids = self._request_ids.setdefault(process, itertools.count())
        request_id = next(ids)
        rules = OpAttempts(node=node, nodes=list(self._urls), attempts=self._attempts,
                           retry_unknown=self._retry_unknown)
        clock = asyncio.get_running_loop().time
        deadline = clock() + self._budget_s
        # tenacity only paces the attempts; the rules decide whether there is another, and stop it
        retrying = AsyncRetrying(retry=retry_if_exception_type(_Again), reraise=True,
                                 wait=wait_random_exponential(multiplier=0.05, max=self._retry_wait_s))
        async for attempt in retrying:
            with attempt:
                target = rules.begin()
                answer = await self._once(op, process=process, request_id=request_id, node=target)
                step = rules.answer(answer, node=target, time_left=clock() < deadline)
                if isinstance(step, Retry):
                    raise _Again
                return step
        raise AssertionError("unreachable: tenacity either retries, returns or re-raises")

    async def _once(self, op: Op, *, process: int, request_id: int, node: int) -> Answer:
        try:
            return await self._adapter.attempt(self._session, self._urls[node], op,
                                               client_id=f"{self._prefix}-p{process}", request_id=request_id,
                                               timeout=self._timeout)
        except aiohttp.ClientConnectorError as exc:
            # The TCP connection was never opened, so the request was never sent.
            return Answer(kind="not-applied", error=f"connect: {exc.os_error.strerror or exc}")
        except asyncio.TimeoutError:
            return Answer(kind="unknown", error="timeout")
        except aiohttp.ClientError as exc:
            return Answer(kind="unknown", error=f"{type(exc).__name__}: {exc}")
