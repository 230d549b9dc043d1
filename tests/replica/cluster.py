"""An in-memory cluster of real `Replica` cores for tests: a seeded, faulty network and crash-restart.

Each node is driven by the replica's own host loop (`replica_image.loop.HostLoop`, no snapshot policy: tests
take snapshots when they choose); this module supplies only its I/O. Storage keeps two lists:
records written, and the prefix of them that was synced; a crash keeps only the synced prefix. The
network delivers messages in a seeded random order with loss, duplication and partitions. Every
committed (slot, batch) is checked on the spot against every other replica's: a disagreement raises
`SafetyViolation` immediately, with the seed in the message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from replica_image.kv import KV
from replica_image.loop import HostLoop
from replica_image.paxos import (
    Accept, AcceptRecord, Ballot, Batch, Command, CoreConfig, Envelope, ProposeResult, Record, Replica, Role,
)


def _no_waiters(waiter: None, result: object) -> None:
    """The test cluster answers no clients: tests read the kv and the applied log instead."""


class SafetyViolation(AssertionError):
    """Two replicas disagree on a chosen slot, or an applied sequence is not a prefix of another."""


@dataclass
class Disk:
    """What one node wrote: `synced` survives a crash, `written` beyond it does not."""

    records: list[Record] = field(default_factory=list)
    synced: int = 0

    def append(self, recs: tuple[Record, ...], *, sync: bool) -> None:
        self.records.extend(recs)
        if sync:
            self.synced = len(self.records)

    def crash(self, *, keep_unsynced: int = 0) -> None:
        """Lose what was not synced, except perhaps a prefix of it (the OS may have written some)."""
        del self.records[self.synced + keep_unsynced:]
        self.synced = len(self.records)


@dataclass
class Node:
    loop: HostLoop[None]
    replica: Replica  # the loop's core and kv, named for the tests
    kv: KV
    disk: Disk
    applied: list[tuple[int, Batch | None]] = field(default_factory=list)  # None: a snapshot through slot
    up: bool = True


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Per-delivery probabilities of the network."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0   # probability a delivery picks a random in-flight message instead of the oldest


class Cluster:
    """N replicas, one seeded rng for the network and one per replica.

    Args:
        n: number of replicas (ids 1..n).
        seed: reproduces everything.
        config: core config for every replica.
        faults: network fault probabilities.
    """

    def __init__(self, n: int, *, seed: int = 0, config: CoreConfig | None = None,
                 faults: Faults = Faults()) -> None:
        self.seed = seed
        self.ids = list(range(1, n + 1))
        self.config = config or CoreConfig()
        self.faults = faults
        self.rng = random.Random(f"{seed}/net")
        self.network: list[Envelope] = []
        self.blocked: set[tuple[int, int]] = set()
        self.chosen: dict[int, Batch] = {}   # every slot any replica applied, for cross-checks
        self.nodes: dict[int, Node] = {i: self._new_node(i, Disk()) for i in self.ids}
        self.delivered = 0
        # audit trail for the P2a/P2b checks: every accept ever recorded, every proposal ever issued
        self.accepted_ever: list[tuple[int, AcceptRecord]] = []
        self.issued: list[tuple[int, Ballot, Batch]] = []

    def _new_node(self, i: int, disk: Disk) -> Node:
        rng = random.Random(f"{self.seed}/replica/{i}/{len(disk.records)}")
        rep = Replica(i, self.ids, self.config, rng, recovered=tuple(disk.records))
        applied: list[tuple[int, Batch | None]] = []

        def send(messages: tuple[Envelope, ...]) -> None:
            self._audit_sent(messages)
            self.network.extend(messages)

        def on_commit(slot: int, batch: Batch | None) -> None:
            if batch is not None:
                self._check(i, slot, batch)
            applied.append((slot, batch))

        loop: HostLoop[None] = HostLoop(core=rep, snapshot_every=0, send=send, answer=_no_waiters,
                                        on_commit=on_commit)
        return Node(loop=loop, replica=rep, kv=loop.kv, disk=disk, applied=applied)

    # ------------------------------------------------------------------ the driving loop
    def pump(self, i: int) -> None:
        """Run node i's host loop until it has nothing to do; its disk is the only I/O it needs."""
        node = self.nodes[i]
        for write in node.loop.rounds():
            node.disk.append(write.records, sync=write.sync)
            self.accepted_ever.extend((i, r) for r in write.records if isinstance(r, AcceptRecord))

    def _audit_sent(self, messages: tuple[Envelope, ...]) -> None:
        seen = set()
        for env in messages:
            if isinstance(env.msg, Accept) and id(env.msg) not in seen:
                seen.add(id(env.msg))
                self.issued.extend((e.slot, env.msg.ballot, e.batch) for e in env.msg.entries)

    def chosen_ballots(self) -> dict[int, tuple[Ballot, Batch]]:
        """Per slot, the lowest ballot in which a majority accepted one value (the value chosen there)."""
        voters: dict[tuple[int, Ballot], set[int]] = {}
        values: dict[tuple[int, Ballot], Batch] = {}
        for node, rec in self.accepted_ever:
            voters.setdefault((rec.slot, rec.ballot), set()).add(node)
            values[(rec.slot, rec.ballot)] = rec.batch
        quorum = len(self.ids) // 2 + 1
        out: dict[int, tuple[Ballot, Batch]] = {}
        for (slot, ballot), nodes in sorted(voters.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if len(nodes) >= quorum and slot not in out:
                out[slot] = (ballot, values[(slot, ballot)])
        return out

    def _check(self, i: int, slot: int, batch: Batch) -> None:
        prev = self.chosen.setdefault(slot, batch)
        if prev != batch:
            raise SafetyViolation(f"seed {self.seed}: slot {slot} chosen twice: {prev!r} vs {batch!r} (node {i})")
        applied = self.nodes[i].applied
        last = applied[-1][0] if applied else -1
        if slot != last + 1:
            raise SafetyViolation(f"seed {self.seed}: node {i} applied slot {slot} after {last}")

    def pump_all(self) -> None:
        for i in self.ids:
            if self.nodes[i].up:
                self.pump(i)

    # ------------------------------------------------------------------ inputs
    def tick(self, *only: int) -> None:
        for i in only or self.ids:
            if self.nodes[i].up:
                self.nodes[i].replica.tick()
        self.pump_all()

    def deliver_one(self) -> bool:
        """Deliver (or drop/duplicate) one in-flight message; False if none is in flight."""
        if not self.network:
            return False
        idx = self.rng.randrange(len(self.network)) if self.rng.random() < self.faults.reorder else 0
        env = self.network.pop(idx)
        if self.rng.random() < self.faults.duplicate:
            self.network.append(env)
        if self.rng.random() < self.faults.loss or (env.src, env.dst) in self.blocked:
            return True
        node = self.nodes[env.dst]
        if not node.up:
            return True
        node.replica.step(env)
        self.delivered += 1
        self.pump(env.dst)
        return True

    def deliver_all(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            if not self.deliver_one():
                return
        raise AssertionError(f"seed {self.seed}: network never drained")

    def run(self, ticks: int, *, deliveries_per_tick: int = 50) -> None:
        """Alternate ticks and deliveries (bounded)."""
        for _ in range(ticks):
            self.tick()
            for _ in range(deliveries_per_tick):
                if not self.deliver_one():
                    break

    def propose(self, i: int, cmd: Command) -> ProposeResult:
        res = self.nodes[i].replica.propose(cmd)
        self.pump(i)
        return res

    # ------------------------------------------------------------------ faults
    def partition(self, *groups: set[int]) -> None:
        """Block every link between different groups (nodes in no group are isolated)."""
        where = {n: k for k, g in enumerate(groups) for n in g}
        self.blocked = {(a, b) for a in self.ids for b in self.ids
                        if a != b and where.get(a, -1 - a) != where.get(b, -1 - b)}

    def heal(self) -> None:
        self.blocked = set()

    def crash(self, i: int, *, torn: bool = False) -> None:
        """Stop node i; unsynced records are lost (with `torn`, a random prefix of them survives)."""
        node = self.nodes[i]
        node.up = False
        unsynced = len(node.disk.records) - node.disk.synced
        node.disk.crash(keep_unsynced=self.rng.randrange(unsynced + 1) if torn else 0)

    def restart(self, i: int) -> None:
        """Start node i again from its synced records, with an empty kv (rebuilt from the Ready loop)."""
        disk = self.nodes[i].disk
        self.nodes[i] = self._new_node(i, disk)
        self.pump(i)

    # ------------------------------------------------------------------ queries
    def leaders(self) -> list[int]:
        return [i for i in self.ids if self.nodes[i].up and self.nodes[i].replica.role is Role.LEADER]

    def elect(self, i: int, *, max_rounds: int = 50) -> None:
        """Make node i time out first and win (bounded)."""
        for _ in range(max_rounds):
            if self.nodes[i].replica.role is Role.LEADER:
                return
            self.tick(i)
            self.deliver_all()
        raise AssertionError(f"node {i} did not become leader")

    def wait_for_leader(self, *, max_ticks: int = 500) -> int:
        for _ in range(max_ticks):
            leaders = self.leaders()
            if len(leaders) == 1:
                return leaders[0]
            self.run(1)
        raise AssertionError(f"seed {self.seed}: no single leader after {max_ticks} ticks")

    def check_prefixes(self) -> None:
        """Every replica applied chosen[0..k] for some k, in order: so each sequence is a prefix of another's."""
        for i, node in self.nodes.items():
            expect = 0
            for slot, batch in node.applied:
                if batch is None:  # a snapshot covers everything through `slot`
                    if slot < expect - 1:
                        raise SafetyViolation(f"seed {self.seed}: node {i} installed an older snapshot {slot}")
                    expect = slot + 1
                    continue
                if slot != expect or self.chosen.get(slot) != batch:
                    raise SafetyViolation(f"seed {self.seed}: node {i} applied slot {slot}, expected {expect} "
                                          "with the cluster's chosen value")
                expect += 1
