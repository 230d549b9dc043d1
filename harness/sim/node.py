"""One simulated replica: the real `Replica` core and `KV` driven by the replica's own host loop
(`replica_image.loop.HostLoop`, through `targets.paxos.core`), with a disk that models what a crash keeps.

The loop, its snapshot policy and the host-side bug switches (`no-fsync`, `skip-fsync`, `local-reads`,
`no-dedup`) are the real replica's, not a copy: this module only supplies the I/O, that is the `Disk`,
the simulated network (`send`), the clients (`reply`) and the crash points.

What a crash keeps (`Disk`):
- a process crash (`kill -9`, what `docker kill` does) keeps every record that was written, synced or
  not: the page cache belongs to the kernel;
- a power loss keeps the synced records and a random prefix of the rest (a torn tail); at a crash
  point, right after a Ready's write, it keeps none of the rest (nothing was written back yet).
Records the `no-fsync` bug holds back (`HostLoop.behind`) were never written, so any crash loses them.

What a restart reads back (`Disk.read_back`) and what a peer receives (`over_the_wire`) are decoded
copies made by the replica's own codec, as storage and the HTTP server make them: never the objects
the core wrote or sent. A mistake of identity in the core (`is` where it means `==`, on a ballot or a
slot above 256, where CPython stops sharing ints) holds on shared objects and breaks on copies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from targets.paxos.core import (
    Batch,
    Command,
    CoreConfig,
    Envelope,
    HostLoop,
    Message,
    ProposeResult,
    Ready,
    Record,
    Replica,
    Result,
    decode_message,
    decode_record,
    encode_message,
    encode_record,
)

__all__ = ["Disk", "SimNode", "Waiter", "over_the_wire"]


def over_the_wire(env: Envelope) -> Envelope:
    """`env` as the receiving replica's server decodes it: JSON text, parsed into new objects."""
    text = json.dumps(encode_message(env.msg), separators=(",", ":"))
    msg: Message = decode_message(env.msg.KIND, json.loads(text))
    return Envelope(src=env.src, dst=env.dst, msg=msg)


@dataclass
class Disk:
    """The records a node wrote: `synced` of them are durable against power loss."""

    records: list[Record] = field(default_factory=list)
    synced: int = 0

    def write(self, recs: Sequence[Record], *, sync: bool) -> None:
        self.records.extend(recs)
        if sync:
            self.synced = len(self.records)

    def lose_power(self, rng: random.Random | None) -> int:
        """Keep the synced records and a random prefix of the others (none of them without `rng`: the
        instant right after a write, before any write-back); returns how many were lost."""
        unsynced = len(self.records) - self.synced
        keep = rng.randrange(unsynced + 1) if rng is not None else 0
        lost = unsynced - keep
        del self.records[self.synced + keep:]
        self.synced = len(self.records)
        return lost


    def read_back(self) -> tuple[Record, ...]:
        """What a restarting replica reads: each record decoded from the bytes storage would hold."""
        return tuple(decode_record(encode_record(r)) for r in self.records)

    def cut_tail(self) -> int:
        """A torn final write, cut when the replica starts: the newest record is lost, synced or not (a
        scenario's `corrupt where: tail`). Returns how many records were lost (0 on an empty disk)."""
        if not self.records:
            return 0
        self.records.pop()
        self.synced = min(self.synced, len(self.records))
        return 1


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
                 crash_point: Callable[[int, tuple[Record, ...]], bool], snapshot_every: int,
                 on_snapshot: Callable[[int, Replica, int], None] = lambda node, core, slot: None,
                 on_recovered: Callable[[Replica, tuple[Record, ...]], None] = lambda core, records: None) -> None:
        self.id = node_id
        self.disk = disk
        records = disk.read_back()
        self.core = Replica(node_id, ids, config, rng, recovered=records)
        on_recovered(self.core, records)  # before the host loop's first round applies or snapshots anything
        self.loop: HostLoop[Waiter] = HostLoop(
            core=self.core, snapshot_every=snapshot_every, send=send,
            answer=lambda w, res: reply(w, res, None),
            on_commit=lambda slot, batch: on_commit(node_id, slot, batch),
            on_snapshot=lambda slot: on_snapshot(node_id, self.core, slot))
        self.kv = self.loop.kv
        self._reply = reply
        # asked after each Ready that persisted records, with them: True = crash now (the nemesis)
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
        local = self.loop.local_read(cmd)
        if local is not None:
            self._reply(waiter, local, None)
            return
        result = self.core.propose(cmd)
        if result is ProposeResult.QUEUED:
            self.loop.waiters.add(cmd, waiter)
        else:
            self._reply(waiter, None, self.core.leader_id)
        self.pump()

    def flush(self) -> None:
        """Bug no-fsync: the periodic write-behind."""
        behind = self.loop.take_behind()
        if behind:
            self.disk.write(behind, sync=True)

    # ------------------------------------------------------------------ the host loop
    def pump(self) -> None:
        """Run the host loop until the core is idle, or until a crash point is reached (a Ready that
        persisted records was carried out and its messages sent): then `must_crash` is set and the loop stops."""
        if self.must_crash:
            return
        for write in self.loop.rounds(stop=self._at_crash_point):
            if not write.deferred:
                self.disk.write(write.records, sync=write.sync)

    def _at_crash_point(self, rd: Ready) -> bool:
        # synced or not: a power loss there drops what was not synced (`Disk.lose_power`)
        if rd.persist and self._crash_point(self.id, rd.persist):
            self.must_crash = True
        return self.must_crash
