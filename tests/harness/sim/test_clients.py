"""The simulator's clients (harness/sim/clients.py) on a hand-driven host: where each attempt goes."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from harness.sim import SimConfig
from harness.sim.clients import Clients
from harness.sim.node import Waiter
from targets.contract import Op
from targets.paxos.core import Command, Result
from workloads.history import HistoryRecorder


class _Host:
    """A clock and a scheduler; node `silent` never answers (paused, or cut off), the others apply at once."""

    def __init__(self, *, silent: int) -> None:
        self.now = 0
        self.silent = silent
        self.sent: list[tuple[int, str]] = []  # (node, key) of every attempt, in order
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.clients: Clients | None = None

    def after(self, delay: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + delay, next(self._order), fn))

    def submit(self, node_id: int, cmd: Command, waiter: Waiter) -> bool:
        self.sent.append((node_id, cmd.key))
        if node_id != self.silent:
            assert self.clients is not None
            self.clients.reply(node_id, waiter, Result(status="ok", value=None), node_id)
        return True

    def run(self) -> None:
        while self._queue:
            self.now, _, fn = heapq.heappop(self._queue)
            fn()


def _clients(host: _Host, recorder: HistoryRecorder) -> Clients:
    cfg = SimConfig(seed=0, size=3, timeout_ms=100, retry_unknown=False).resolved()
    clients = Clients(host, cfg, ids=[1, 2, 3], recorder=recorder, rng=random.Random(0))
    host.clients = clients
    return clients


def test_after_an_op_that_timed_out_the_next_op_starts_at_the_next_node() -> None:
    host = _Host(silent=2)
    recorder = HistoryRecorder()
    clients = _clients(host, recorder)
    w = clients.add_worker(gen=None, script=[Op(f="get", key="a"), Op(f="get", key="b"), Op(f="get", key="c")],
                           attempts=3)
    w.target = 2
    host.run()
    # node 2 never answers: "a" ends unknown (info, not retried), and "b" goes to node 3, which answers,
    # so "c" stays there
    assert host.sent == [(2, "a"), (3, "b"), (3, "c")]
    assert [e.type for e in recorder.events if e.type != "invoke"] == ["info", "ok", "ok"]
