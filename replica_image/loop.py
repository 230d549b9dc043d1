"""The host loop, written once: persist -> send -> apply -> advance, the snapshot policy and the host-side
bug switches. Every host of the core drives it: the aiohttp replica (``replica_image.host.Driver``), the
simulator (``harness.sim.node.SimNode``) and the core's in-memory test cluster (``tests/replica/cluster.py``).

Pure, like the core: no asyncio, no clock, no files, no sockets. What differs between hosts comes in as
callables (sending, answering a client, watching commits) or is left to the host on purpose: the disk.
``HostLoop.rounds()`` is a generator that yields a ``Write`` whenever the core's Ready asks for records to
be persisted, and goes on only when the host resumes it, so a host writes in whatever way it has (a list in
memory, a blocking fsync, an fsync awaited in a worker thread) and the loop still owns the order::

    for write in loop.rounds():          # the simulator and the test cluster
        disk.write(write.records, sync=write.sync)

    for write in loop.rounds():          # the aiohttp replica: the event loop keeps serving meanwhile
        await self._persist(write)

Each round, for one ``Ready`` (the duties of ``replica_image.paxos.Ready``, in order):

1. persist: yield a ``Write``; resuming it promises the records are written, and synced when
   ``Write.sync`` (a promise or an accept is durable BEFORE its reply leaves);
2. send ``messages``;
3. install a snapshot, then apply the committed slots in order and answer the clients waiting for them;
4. ``core.advance``;
5. the snapshot policy: every ``snapshot_every`` applied slots, ``core.snapshot_taken``;
6. ``stop(ready)``, if given, may end the loop here (the simulator's crash points).

The host-side bug switches (replica_image.bugs) live here, so every host has them alike:
- ``no-fsync``: records are not written at all; they wait in ``behind`` until the host flushes them
  (``take_behind``, on its own timer), while the replies leave at once;
- ``skip-fsync``: records are written, never synced (only a power loss can tell; the aiohttp replica's
  storage is also opened without fsync for it, replica_image/app.py);
- ``local-reads``: ``local_read`` answers a get from the local kv instead of the log;
- ``no-dedup`` is the kv's own: the loop makes its ``KV`` with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from replica_image.errors import InternalError, InvalidMessage
from replica_image.kv import KV, Result, validate_snapshot
from replica_image.paxos import Batch, Command, Envelope, Message, Ready, Record, Replica, Snapshot

__all__ = ["HostLoop", "ROUNDS_MAX", "Waiters", "Write", "check_peer_message", "leader_problem", "status_problem"]

# One call of rounds() never needs more Ready rounds than this; more means the core is spinning.
ROUNDS_MAX = 10_000

W = TypeVar("W")


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """Records the host must persist before it resumes ``HostLoop.rounds()``.

    Attributes:
        records: what the core asked to persist, in order.
        sync: fsync them (and everything written before) before resuming.
        deferred: bug no-fsync: do NOT write them now; the loop holds them in ``behind`` until the
            host's ``take_behind()``. Hosts that keep an index of records (the replica's live log) still
            see them here.
    """

    records: tuple[Record, ...]
    sync: bool
    deferred: bool = False


class Waiters(Generic[W]):
    """Who waits for which command, keyed by its ids. Each waiter keeps its command: a request id reused
    for another command must get that command's own result (the kv answers MISMATCH), not the first's."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], list[tuple[Command, W]]] = {}

    def add(self, cmd: Command, waiter: W) -> None:
        self._by_key.setdefault((cmd.client_id, cmd.request_id), []).append((cmd, waiter))

    def forget(self, cmd: Command, waiter: W) -> None:
        """Stop tracking ``waiter`` (its client gave up); by identity, so equal waiters stay."""
        key = (cmd.client_id, cmd.request_id)
        waiting = self._by_key.get(key)
        if waiting is not None:
            waiting[:] = [(c, w) for c, w in waiting if w is not waiter]
            if not waiting:
                del self._by_key[key]

    def pop(self, cmd: Command) -> list[W]:
        """The waiters of exactly ``cmd`` (now applied), in the order they came; others of its ids stay."""
        key = (cmd.client_id, cmd.request_id)
        waiting = self._by_key.pop(key, [])
        others = [(c, w) for c, w in waiting if c != cmd]
        if others:
            self._by_key[key] = others
        return [w for c, w in waiting if c == cmd]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())


_ROLES = frozenset({"leader", "follower", "candidate"})


def status_problem(doc: Mapping[str, Any], ids: Collection[int]) -> str | None:
    """What breaks the contract of ``HostLoop.status()`` (docs/replica.md, /status) in ``doc``, or None.

    The contract: plain JSON (a bound method or a NaN would be a 500 in the aiohttp replica), a role
    of the three, a ballot of two non-negative ints, a leader that is None or one of ``ids`` (the
    cluster's node ids: clients follow it), and indexes that are ints in their ranges, the applied index
    below the first unchosen slot and the snapshot at or below neither, and a log that holds at least the
    chosen slots the snapshot does not cover.
    """
    try:
        json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"/status is not plain JSON: {exc}"
    if doc.get("role") not in _ROLES:
        return f"role {doc.get('role')!r} is none of {sorted(_ROLES)}"
    ballot = doc.get("ballot")
    if not (isinstance(ballot, dict) and _int(ballot.get("round"), 0) and _int(ballot.get("node"), 0)):
        return f"ballot {ballot!r} is not {{round, node}} of two non-negative ints"
    leader = leader_problem(doc.get("leader"), ids)
    if leader is not None:
        return leader
    for name, low in (("first_unchosen", 0), ("applied_index", -1), ("log_length", 0), ("snapshot_last", -1)):
        if not _int(doc.get(name), low):
            return f"{name} {doc.get(name)!r} is not an int >= {low}"
    if not doc["snapshot_last"] <= doc["applied_index"] < doc["first_unchosen"]:
        return (f"snapshot_last {doc['snapshot_last']} <= applied_index {doc['applied_index']} < first_unchosen "
                f"{doc['first_unchosen']} does not hold")
    held = doc["first_unchosen"] - doc["snapshot_last"] - 1  # chosen after the snapshot: kept until the next
    if doc["log_length"] < held:
        return (f"log_length {doc['log_length']} is below the {held} chosen slots between snapshot_last "
                f"{doc['snapshot_last']} and first_unchosen {doc['first_unchosen']}")
    if not isinstance(doc.get("state_digest"), str):
        return f"state_digest {doc.get('state_digest')!r} is not a string"
    return None


def leader_problem(leader: object, ids: Collection[int]) -> str | None:
    """What is wrong with a leader hint, or None: in /status and in every answer to a client (the
    simulator checks those), it is None or one of ``ids``, which clients and forwards follow."""
    if leader is None or (_int(leader, 0) and leader in ids):
        return None
    return f"leader {leader!r:.120} is neither null nor a node id of {sorted(ids)}"


def check_peer_message(msg: Message, ids: Collection[int]) -> None:
    """What the codec cannot know of a peer message, checked by the host before the core sees it: its
    ballots name a node of the cluster ``ids`` (0 is the zero ballot), and a snapshot is one the kv can
    restore. The core is kv-agnostic and persists a peer's snapshot before the host restores it, so a
    snapshot let through here would be durable and then kill the replica on every restart. One gate for
    the aiohttp replica (replica_image.server) and the simulator, which forges such messages.

    Raises:
        InvalidMessage: what is wrong, with the field; the message must be dropped (a 400).
    """
    for name in ("ballot", "rejected"):
        ballot = getattr(msg, name, None)
        if ballot is not None and ballot.node != 0 and ballot.node not in ids:
            raise InvalidMessage(f"{msg.KIND}.{name}: node {ballot.node} is not in this cluster {sorted(ids)}")
    if isinstance(msg, Snapshot):
        validate_snapshot(msg.data)


def _int(value: object, low: int) -> bool:
    return type(value) is int and value >= low


def _ignore_commit(slot: int, batch: Batch | None) -> None:
    return None


def _ignore_snapshot(slot: int) -> None:
    return None


class HostLoop(Generic[W]):
    """One core, its kv, and the loop of the module docstring.

    Args:
        core: the sans-IO replica; its ``config.bugs`` switch the host-side bugs too.
        snapshot_every: applied slots between snapshots (0: never).
        send: hands one Ready's messages to the network (called once per round, after the persist).
        answer: tells a waiter (see ``waiters``) the kv's result of its command.
        on_commit: called for each committed (slot, batch) before it is applied, and with
            (last_slot, None) when a snapshot is installed: the hosts' checks and metrics.
        on_snapshot: called with the slot a snapshot was taken through (after ``snapshot_taken``).
        applied_index: the last slot the kv reflects (-1: none; a restarted core re-delivers them).
    """

    def __init__(self, *, core: Replica, snapshot_every: int, send: Callable[[tuple[Envelope, ...]], None],
                 answer: Callable[[W, Result], None],
                 on_commit: Callable[[int, Batch | None], None] = _ignore_commit,
                 on_snapshot: Callable[[int], None] = _ignore_snapshot, applied_index: int = -1) -> None:
        self.core = core
        self.bugs = core.config.bugs
        self.kv = KV(no_dedup="no-dedup" in self.bugs)
        self.waiters: Waiters[W] = Waiters()
        self.applied_index = applied_index
        self.behind: list[Record] = []  # bug no-fsync: persisted by the core, not yet written
        self._snapshot_at = applied_index
        self._snapshot_every = snapshot_every
        self._send = send
        self._answer = answer
        self._on_commit = on_commit
        self._on_snapshot = on_snapshot
        self._defer = "no-fsync" in self.bugs
        self._may_sync = "skip-fsync" not in self.bugs

    def status(self) -> dict[str, Any]:
        """The part of a replica's /status document every host has: the core's view and the kv's.

        One builder for the aiohttp replica (which adds its id, storage and switches) and the
        simulator, which checks the document's contract at every fault (harness/sim/world.py): a field
        that is not plain JSON would be a 500 on /status in a real replica.
        """
        core = self.core
        return {"role": core.role.value, "ballot": {"round": core.ballot.round, "node": core.ballot.node},
                "leader": core.leader_id, "first_unchosen": core.first_unchosen,
                "applied_index": self.applied_index, "log_length": core.log_length,
                "snapshot_last": core.snapshot_last, "state_digest": self.kv.digest()}

    def local_read(self, cmd: Command) -> Result | None:
        """Bug local-reads: a get answered from this replica's kv, leader or not, current or not; None
        when the bug is off or ``cmd`` is not a get (then it goes through the log)."""
        if cmd.op == "get" and "local-reads" in self.bugs:
            return self.kv.get(cmd.key)
        return None

    def take_behind(self) -> tuple[Record, ...]:
        """Bug no-fsync: the records waiting to be written (now the host's to write and sync)."""
        out, self.behind = tuple(self.behind), []
        return out

    def rounds(self, *, stop: Callable[[Ready], bool] | None = None) -> Iterator[Write]:
        """Run Ready rounds until the core is idle (or ``stop`` says so after a round).

        Yields:
            a ``Write`` for each Ready that persists records; resume only once they are written (and
            synced when ``Write.sync``): the round's messages are sent right after.

        Raises:
            InternalError: the core still had work after ``ROUNDS_MAX`` rounds.
            whatever the core or a callback raises (the round is then not advanced).
        """
        for _ in range(ROUNDS_MAX):
            if not self.core.has_ready():
                return
            rd = self.core.ready()
            if rd.persist:
                if self._defer:
                    self.behind.extend(rd.persist)
                yield Write(records=rd.persist, sync=rd.must_sync and self._may_sync, deferred=self._defer)
            self._send(rd.messages)
            self._apply(rd)
            self.core.advance(rd)
            self._maybe_snapshot()
            if stop is not None and stop(rd):
                return
        raise InternalError(f"node {self.core.node_id}: the core still had Ready work after {ROUNDS_MAX} rounds")

    def _apply(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.kv.restore(rd.snapshot.data)
            self.applied_index = self._snapshot_at = rd.snapshot.last_slot
            self._on_commit(rd.snapshot.last_slot, None)
        for slot, batch in rd.committed:
            self._on_commit(slot, batch)
            for cmd, result in self.kv.apply_batch(batch):
                for waiter in self.waiters.pop(cmd):
                    self._answer(waiter, result)
            self.applied_index = slot

    def _maybe_snapshot(self) -> None:
        if not self._snapshot_every or self.applied_index - self._snapshot_at < self._snapshot_every:
            return
        self._snapshot_at = self.applied_index
        self.core.snapshot_taken(self.applied_index, self.kv.snapshot())
        self._on_snapshot(self.applied_index)
