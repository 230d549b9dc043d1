"""The simulated clients: Jepsen-style processes that run the suite's op generator against the
replicas and record every operation in the history.

The rules are the Docker client's (workloads/client.py): a "not leader" / "busy" answer or a refused
connection is definitely not applied and is retried (invisibly) at the hinted leader, up to `attempts`
tries; a timeout makes the operation `info` and retires the process (the next op runs as a fresh
process), unless `retry_unknown` retries it with the same request id, as an etcd or Raft client
session does. A cas whose precondition failed is `fail`; a stale request id is `fail` (the replica
answers 400 and applies nothing).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.sim.config import SimConfig
from harness.sim.node import Waiter
from targets.paxos.core import PRECONDITION_FAILED, STALE, Command, Result
from workloads.generator import Op, OpGenerator
from workloads.history import CasValue, HistoryRecorder, Value

__all__ = ["Clients", "Host"]

CLIENT_DELAY_US = (100, 1_000)
RETRY_BACKOFF_US = (5_000, 30_000)


class Host(Protocol):
    """What the clients need of the world: its clock, its scheduler and a way to reach a replica."""

    @property
    def now(self) -> int: ...

    def after(self, delay: int, fn: Callable[[], None]) -> None: ...

    def submit(self, node_id: int, cmd: Command, waiter: Waiter) -> bool:
        """Hand `cmd` to replica node_id, which answers through `Clients.reply`; False if it is down."""
        ...


@dataclass
class _Worker:
    """One client slot: it runs ops one at a time as `process` (a fresh process after each info)."""

    index: int
    process: int
    gen: OpGenerator | None
    target: int
    script: list[Op] | None = None   # final reads: these ops, then stop
    op: Op | None = None
    request_id: int = 0
    attempt: int = 0
    tries: int = 0
    attempts: int = 3
    maybe_applied: bool = False


class Clients:
    """Every client process of one run, recording into `recorder`.

    Args:
        host: the world (clock, scheduler, replicas).
        cfg: the run's config (timeouts, think time, attempts, retry_unknown, settle time).
        ids: the replica ids.
        recorder: the history.
        rng: the world's Random (shared, so the order of draws is the world's event order).
    """

    def __init__(self, host: Host, cfg: SimConfig, *, ids: list[int], recorder: HistoryRecorder,
                 rng: random.Random) -> None:
        self._host = host
        self.cfg = cfg
        self.ids = ids
        self.recorder = recorder
        self.rng = rng
        self.workers: list[_Worker] = []
        self._next_process = 0
        self._workload_end = cfg.duration_ms * 1000

    @property
    def next_process(self) -> int:
        """The process id the next fresh process will get."""
        return self._next_process

    def open_ops(self) -> int:
        return sum(w.op is not None for w in self.workers)

    def add_worker(self, *, gen: OpGenerator | None, script: list[Op] | None = None, attempts: int) -> _Worker:
        """A client slot that runs `gen`'s ops until the workload ends, or the ops of `script`, then stops."""
        w = _Worker(index=len(self.workers), process=self._fresh_process(), gen=gen,
                    target=self.rng.choice(self.ids), script=script, attempts=attempts)
        self.workers.append(w)
        self._host.after(self.rng.randint(0, self.cfg.think_ms * 1000), lambda: self._start_op(w))
        return w

    def _fresh_process(self) -> int:
        p = self._next_process
        self._next_process += 1
        return p

    def _start_op(self, w: _Worker) -> None:
        if w.script is not None:
            if not w.script:
                return
            op = w.script.pop(0)
        elif self._host.now >= self._workload_end or w.gen is None:
            return
        else:
            op = w.gen.next_op()
        w.op, w.tries, w.maybe_applied = op, 0, False
        w.request_id += 1
        self.recorder.record(process=w.process, type="invoke", f=op.f, key=op.key, value=_invoke_value(op))
        self._send_attempt(w)

    def _send_attempt(self, w: _Worker) -> None:
        assert w.op is not None
        w.attempt += 1
        w.tries += 1
        attempt, node_id, op = w.attempt, w.target, w.op
        cmd = Command(client_id=f"sim-p{w.process}", request_id=w.request_id, op=op.f, key=op.key,
                      value=op.value, expect=op.expect)

        def arrive() -> None:
            if not self._host.submit(node_id, cmd, Waiter(w.index, attempt)):
                self.reply(node_id, Waiter(w.index, attempt), None, None)  # refused: definitely not applied
        self._host.after(self.rng.randint(*CLIENT_DELAY_US), arrive)
        self._host.after(self.cfg.timeout_ms * 1000, lambda: self._timeout(w, attempt))

    def reply(self, node_id: int, waiter: Waiter, result: Result | None, leader: int | None) -> None:
        """A replica answers an attempt (result None: not proposed; `leader` the hint); it reaches the client later."""
        self._host.after(self.rng.randint(*CLIENT_DELAY_US), lambda: self._answer(node_id, waiter, result, leader))

    def _answer(self, node_id: int, waiter: Waiter, result: Result | None, leader: int | None) -> None:
        w = self.workers[waiter.worker]
        if w.op is None or waiter.attempt != w.attempt:
            return  # an answer to an attempt the client already gave up on
        w.attempt += 1
        if result is not None:
            if result.status == STALE:
                self._complete(w, "fail", node_id, error="400 stale")
            elif result.status == PRECONDITION_FAILED:
                self._complete(w, "fail", node_id, error="precondition")
            else:
                self._complete(w, "ok", node_id, read=result.value if w.op.f == "get" else None)
            return
        if w.tries < w.attempts and self._host.now < self._workload_end + self.cfg.settle_ms * 1000:
            w.target = leader if leader is not None and leader != node_id else self._next_node(node_id)
            self._host.after(self.rng.randint(*RETRY_BACKOFF_US), lambda: self._send_attempt(w))
        elif w.maybe_applied:
            self._complete(w, "info", node_id, error="unavailable after an unknown attempt")
        else:
            self._complete(w, "fail", node_id, error="unavailable (not proposed)")

    def _timeout(self, w: _Worker, attempt: int) -> None:
        if w.op is None or attempt != w.attempt:
            return
        w.attempt += 1
        w.maybe_applied = True
        if self.cfg.retry_unknown and w.tries < w.attempts:
            w.target = self._next_node(w.target)
            self._send_attempt(w)
        else:
            self._complete(w, "info", w.target, error="timeout")

    def _next_node(self, node_id: int) -> int:
        return self.ids[node_id % len(self.ids)]

    def _complete(self, w: _Worker, type: str, node_id: int, *, read: str | None = None,
                  error: str | None = None) -> None:
        op = w.op
        assert op is not None
        value: Value = read if op.f == "get" else _invoke_value(op)
        self.recorder.record(process=w.process, type=type, f=op.f, key=op.key, value=value, node=node_id,
                             error=error)
        if w.gen is not None:
            w.gen.observe(op, ok=type == "ok", read=read)
        w.op = None
        if type == "info":
            w.process, w.request_id = self._fresh_process(), 0
        self._host.after(self.rng.randint(0, self.cfg.think_ms * 1000), lambda: self._start_op(w))


def _invoke_value(op: Op) -> Value:
    if op.f == "cas":
        return CasValue(expect=op.expect, value=op.value)
    return op.value
