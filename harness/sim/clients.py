"""The simulated clients: Jepsen-style processes that run the suite's op generator against the
replicas and record every operation in the history.

The outcome rules are the Docker client's own code (`workloads.outcome.OpAttempts`): this module only
turns what a simulated replica does into an `Answer` (the paxos adapter's reading of the replica's HTTP
answers, targets/paxos) and carries attempts in virtual time: "not leader", "busy" or a down replica is
`not-applied` (the replica answers 503 `proposed: false`; a refused connection), the kv's result is `ok`,
a failed cas precondition or a stale request id (400) is `fail`, and no answer within `timeout_ms` is
`unknown`. A definitely-not-applied attempt is retried after a short random backoff, within the run
(workload and settle time); an unknown one, with `retry_unknown`, at once. Where a client sends next is
where its last answer pointed: a leader hint, else the next node after one that refused or did not
answer; after an op ends unknown, the next op starts at the next node too (docs/simulator.md,
"Clients": a client that stayed with a frozen leader would time out there op after op).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.sim.config import SimConfig
from harness.sim.node import Waiter
from targets.contract import Answer
from targets.paxos.core import MISMATCH, PRECONDITION_FAILED, STALE, Command, Result
from workloads.generator import Op, OpGenerator
from workloads.history import HistoryRecorder
from workloads.outcome import Completion, OpAttempts, next_node, record_completion, record_invoke

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
    rules: OpAttempts | None = None  # the open op's attempts
    request_id: int = 0
    attempt: int = 0  # numbers attempts, so a late answer or timeout of an abandoned one is ignored
    attempts: int = 3


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
        self.anomalies: list[str] = []  # answers a correct kv never gives (the first one)
        self._think_us = (cfg.think_ms if cfg.think_ms is not None else 20) * 1000  # resolved: always set

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
        self._host.after(self.rng.randint(0, self._think_us), lambda: self._start_op(w))
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
        w.op = op
        w.rules = OpAttempts(node=w.target, nodes=self.ids, attempts=w.attempts,
                             retry_unknown=bool(self.cfg.retry_unknown))
        w.request_id += 1
        record_invoke(self.recorder, op, process=w.process)
        self._send_attempt(w)

    def _send_attempt(self, w: _Worker) -> None:
        assert w.op is not None and w.rules is not None
        w.attempt += 1
        attempt, node_id, op = w.attempt, w.rules.begin(), w.op
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
        if result is not None and result.status in (STALE, MISMATCH) and not self.anomalies:
            # a client sends id n+1 only after n completed, and never two commands with one id:
            # a correct kv never answers its current attempt with either (a finding, in liveness)
            self.anomalies.append(f"node {node_id} answered {result.status!r} to sim-p{w.process}#{w.request_id}, "
                                  "its newest request")
        if result is None:
            answer = Answer(kind="not-applied", error="unavailable (not proposed)", leader=leader)
        elif result.status == STALE:
            answer = Answer(kind="fail", error="400 stale")
        elif result.status == PRECONDITION_FAILED:
            answer = Answer(kind="fail", error="precondition")
        else:
            answer = Answer(kind="ok", read=result.value if w.op.f == "get" else None)
        self._step(w, answer, node_id, backoff=True)

    def _timeout(self, w: _Worker, attempt: int) -> None:
        if w.op is None or attempt != w.attempt:
            return
        w.attempt += 1
        self._step(w, Answer(kind="unknown", error="timeout"), w.target, backoff=False)

    def _step(self, w: _Worker, answer: Answer, node_id: int, *, backoff: bool) -> None:
        """The outcome rules decide: complete the op, or try again (after a backoff if `backoff`)."""
        assert w.rules is not None
        time_left = self._host.now < self._workload_end + self.cfg.settle_ms * 1000
        step = w.rules.answer(answer, node=node_id, time_left=time_left)
        if isinstance(step, Completion):
            if answer.kind == "unknown":
                # its next op goes elsewhere: a node that does not answer may be paused or cut off,
                # and a client that stayed would time out against it op after op (one a second)
                w.target = next_node(self.ids, node_id)
            self._complete(w, step)
            return
        w.target = step.node
        if backoff:
            self._host.after(self.rng.randint(*RETRY_BACKOFF_US), lambda: self._send_attempt(w))
        else:
            self._send_attempt(w)

    def _complete(self, w: _Worker, done: Completion) -> None:
        op = w.op
        assert op is not None
        record_completion(self.recorder, op, done, process=w.process)
        if w.gen is not None:
            w.gen.observe(op, ok=done.type == "ok", read=done.read)
        w.op = w.rules = None
        if done.retire:
            w.process, w.request_id = self._fresh_process(), 0
        self._host.after(self.rng.randint(0, self._think_us), lambda: self._start_op(w))
