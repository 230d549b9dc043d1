"""One simulated replica: the real `Replica` core and `KV` behind the host loop of `replica_image.host`,
with a disk that models what a crash keeps.

The loop is the one of the `replica_image.paxos` docstring and of `replica_image.host.Driver`: persist
(and sync when the Ready says so) before sending, then install a snapshot, apply committed slots and
answer the waiting clients, then `advance`. The host-level bug switches are modelled in the same
place as in the real host: `no-fsync` keeps records in a user-space buffer flushed about once a second
(`host.py`), `local-reads` answers a get from the local kv (`server.py`), `no-dedup` is the kv's own.

What a crash keeps (`Disk`):
- a process crash (`kill -9`, what `docker kill` does) keeps every record that was written, synced or
  not: the page cache belongs to the kernel;
- a power loss keeps the synced records and a random prefix of the rest (a torn tail).
Records still in the `no-fsync` buffer were never written, so any crash loses them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from targets.paxos.core import (
    KV,
    Batch,
    Command,
    CoreConfig,
    Envelope,
    InternalError,
    ProposeResult,
    Record,
    Replica,
    Result,
)

__all__ = ["Disk", "SimNode", "Waiter"]

# The Ready loop of one event never needs more rounds than this; more means the core is spinning.
PUMP_ROUNDS_MAX = 10_000


@dataclass
class Disk:
    """The records a node wrote: `synced` of them are durable against power loss."""

    records: list[Record] = field(default_factory=list)
    synced: int = 0

    def write(self, recs: Sequence[Record], *, sync: bool) -> None:
        self.records.extend(recs)
        if sync:
            self.synced = len(self.records)

    def lose_power(self, rng: random.Random) -> int:
        """Keep the synced records and a random prefix of the others; returns how many were lost."""
        unsynced = len(self.records) - self.synced
        keep = rng.randrange(unsynced + 1)
        lost = unsynced - keep
        del self.records[self.synced + keep:]
        self.synced = len(self.records)
        return lost


@dataclass(frozen=True, slots=True)
class Waiter:
    """A client attempt waiting for its command to be applied on this node."""

    worker: int
    attempt: int


Reply = Callable[[Waiter, Result | None, int | None], None]
"""How a node answers an attempt: (waiter, the kv's result or None if not proposed, leader hint)."""


class SimNode:
    """The host of one replica core in the simulator (see the module docstring)."""

    def __init__(self, node_id: int, ids: list[int], config: CoreConfig, *, disk: Disk, rng: random.Random,
                 send: Callable[[tuple[Envelope, ...]], None], reply: Reply,
                 on_commit: Callable[[int, int, Batch | None], None],
                 crash_point: Callable[[int, tuple[Record, ...]], bool], snapshot_every: int) -> None:
        self.id = node_id
        self.bugs = config.bugs
        self.disk = disk
        self.core = Replica(node_id, ids, config, rng, recovered=tuple(disk.records))
        self.kv = KV(no_dedup="no-dedup" in config.bugs)
        self.buffer: list[Record] = []  # bug no-fsync: records not yet written
        self.waiters: dict[tuple[str, int], list[Waiter]] = {}
        self.applied = -1
        self._snapshot_at = -1
        self._snapshot_every = snapshot_every
        self._send = send
        self._reply = reply
        self._on_commit = on_commit
        # asked after each Ready that synced, with what it persisted: True = crash now (the nemesis)
        self._crash_point = crash_point
        self.must_crash = False  # a crash point was reached: the world crashes the node now
        self.pump()

    # ------------------------------------------------------------------ inputs
    def step(self, env: Envelope) -> None:
        self.core.step(env)
        self.pump()

    def tick(self) -> None:
        self.core.tick()
        self.pump()

    def request(self, cmd: Command, waiter: Waiter) -> None:
        """A client's attempt arrived: propose it, or answer at once (not leader, busy, local read)."""
        if cmd.op == "get" and "local-reads" in self.bugs:
            self._reply(waiter, self.kv.get(cmd.key), None)
            return
        result = self.core.propose(cmd)
        if result is ProposeResult.QUEUED:
            self.waiters.setdefault((cmd.client_id, cmd.request_id), []).append(waiter)
        else:
            self._reply(waiter, None, self.core.leader_id)
        self.pump()

    def flush(self) -> None:
        """Bug no-fsync: the periodic write-behind."""
        if self.buffer:
            self.disk.write(self.buffer, sync=True)
            self.buffer = []

    # ------------------------------------------------------------------ the host loop
    def pump(self) -> None:
        """Run the Ready loop until the core is idle, or until a crash point is reached (a Ready that
        synced was carried out and its messages sent): then `must_crash` is set and the loop stops."""
        for _ in range(PUMP_ROUNDS_MAX):
            if self.must_crash or not self.core.has_ready():
                return
            rd = self.core.ready()
            if rd.persist:
                if "no-fsync" in self.bugs:
                    self.buffer.extend(rd.persist)
                else:  # bug skip-fsync: written, never made durable (only a power loss can tell)
                    self.disk.write(rd.persist, sync=rd.must_sync and "skip-fsync" not in self.bugs)
            self._send(rd.messages)
            if rd.snapshot is not None:
                self.kv.restore(rd.snapshot.data)
                self._on_commit(self.id, rd.snapshot.last_slot, None)
                self.applied = rd.snapshot.last_slot
                self._snapshot_at = rd.snapshot.last_slot
            for slot, batch in rd.committed:
                self._on_commit(self.id, slot, batch)
                for cmd, res in self.kv.apply_batch(batch):
                    for w in self.waiters.pop((cmd.client_id, cmd.request_id), ()):
                        self._reply(w, res, None)
                self.applied = slot
            self.core.advance(rd)
            if self._snapshot_every and self.applied - self._snapshot_at >= self._snapshot_every:
                self._snapshot_at = self.applied
                self.core.snapshot_taken(self.applied, self.kv.snapshot())
            if rd.must_sync and self._crash_point(self.id, rd.persist):
                self.must_crash = True
        raise InternalError(f"node {self.id}: the core still had Ready work after {PUMP_ROUNDS_MAX} rounds")
