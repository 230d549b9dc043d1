"""The host loop: one asyncio task drives the sans-IO core (docs/replica-contract.md).

Everything that touches the core runs in ``Driver.run``; HTTP handlers only queue work
(``submit``, ``deliver``) and wait on futures, so ``step``/``propose``/``tick`` are never interleaved
with a ``ready()``/``advance()`` pair. Each round of the loop:

1. feeds the core what arrived since the last round: peer envelopes, client commands (all of them,
   so commands that piled up during an fsync share a slot: batching), and due ticks;
2. for each Ready: appends ``persist`` to storage and, when ``must_sync``, fsyncs ONCE for all of it
   (group commit, in a worker thread so the event loop keeps accepting requests) BEFORE ``messages``
   are queued for sending; then installs a snapshot, applies ``committed`` to the kv and resolves the
   waiting clients; then ``advance``;
3. every ``snapshot_every`` applied slots: ``kv.snapshot()`` -> ``core.snapshot_taken``; once the
   SnapshotRecord is durable the log is rewritten without what the snapshot covers.

A storage failure stops the loop with the exception (the replica must not run on without durability).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from replica_image.codec import encode_message, encode_record
from replica_image.compaction import LiveLog
from replica_image.errors import InvalidMessage
from replica_image.kv import KV, Result
from replica_image.paxos import Command, Envelope, ProposeResult, Ready, Replica, SnapshotRecord
from replica_image.metrics import ReplicaMetrics
from replica_image.storage import Storage
from replica_image.transport import Outgoing, PeerTransport

__all__ = ["Applied", "Driver", "Outcome", "Rejected"]

_log = logging.getLogger("replica.host")
# Bound on ticks fed at once after the loop was starved (e.g. SIGSTOP): a burst would fire every
# timeout at once; a few ticks are enough to notice the pause.
TICK_CATCHUP_MAX = 5
INBOX_MAX = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """The command was chosen and applied; ``result`` is what the kv returned (first application)."""

    result: Result


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """The core did not propose the command (definitely not applied): ``reason`` and the known leader."""

    reason: str
    leader: int | None


Outcome = Applied | Rejected
RequestKey = tuple[str, int]


class Driver:
    """Owns the core, the kv and storage; see the module docstring for the loop and its duties."""

    def __init__(
        self,
        *,
        core: Replica,
        kv: KV,
        storage: Storage,
        live: LiveLog,
        transport: PeerTransport,
        metrics: ReplicaMetrics,
        tick_s: float,
        snapshot_every: int,
        applied_index: int,
        write_behind_s: float | None = None,
    ) -> None:
        self.core = core
        self.kv = kv
        self.storage = storage
        self._live = live
        self._transport = transport
        self._metrics = metrics
        self._tick_s = tick_s
        self._snapshot_every = snapshot_every
        self.applied_index = applied_index
        self._snapshot_at = applied_index
        self._inbox: collections.deque[Envelope] = collections.deque()
        self._pending: collections.deque[tuple[Command, asyncio.Future[Outcome | None]]] = collections.deque()
        self._waiters: dict[RequestKey, list[asyncio.Future[Outcome | None]]] = {}
        self._wake = asyncio.Event()
        self._io = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage")
        self._ticks_done = 0
        self._started = time.monotonic()
        self._role_seen: tuple[str, int | None] = ("", None)
        # bug no-fsync (replica_image.bugs): records wait in memory up to write_behind_s, replies do not
        self._write_behind_s = write_behind_s
        self._behind: list[bytes] = []
        self._behind_since = time.monotonic()

    # ---- called by HTTP handlers (never touch the core) ----

    def submit(self, cmd: Command) -> asyncio.Future[Outcome | None]:
        """Queue a client command; the future resolves with Applied or Rejected (never an exception).

        The caller may resolve it with None itself when it gives up (then it must call ``forget``).
        """
        fut: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((cmd.client_id, cmd.request_id), []).append(fut)
        self._pending.append((cmd, fut))
        self._wake.set()
        return fut

    def forget(self, cmd: Command, fut: asyncio.Future[Outcome | None]) -> None:
        """The client gave up on ``fut`` (deadline): stop tracking it."""
        key = (cmd.client_id, cmd.request_id)
        futs = self._waiters.get(key)
        if futs is not None and fut in futs:
            futs.remove(fut)
            if not futs:
                del self._waiters[key]

    def deliver(self, envelopes: Sequence[Envelope]) -> bool:
        """Queue peer envelopes for the core; False (nothing queued) if the inbox is full."""
        if len(self._inbox) + len(envelopes) > INBOX_MAX:
            return False
        self._inbox.extend(envelopes)
        self._wake.set()
        return True

    # ---- the loop ----

    async def run(self) -> None:
        """Drive the core until cancelled. Raises whatever storage raises (fatal)."""
        ticker = asyncio.get_running_loop().create_task(self._ticker())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._feed()
                await self._pump()
                self._observe_role()
                self._write_behind(force=False)
        finally:
            ticker.cancel()
            self._write_behind(force=True)
            self._io.shutdown(wait=True)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            self._wake.set()

    def _due_ticks(self) -> int:
        due = int((time.monotonic() - self._started) / self._tick_s) - self._ticks_done
        self._ticks_done += due
        return min(due, TICK_CATCHUP_MAX)

    def _feed(self) -> None:
        while self._inbox:
            env = self._inbox.popleft()
            try:
                self.core.step(env)
            except InvalidMessage as exc:
                _log.warning("dropped message from %d: %s", env.src, exc)
        while self._pending:
            cmd, fut = self._pending.popleft()
            if fut.done():
                continue
            result = self.core.propose(cmd)
            if result is ProposeResult.QUEUED:
                self._metrics.proposals.inc()
            else:
                self._reject(cmd, fut, result)
        for _ in range(self._due_ticks()):
            self.core.tick()

    def _reject(self, cmd: Command, fut: asyncio.Future[Outcome | None], result: ProposeResult) -> None:
        self.forget(cmd, fut)
        reason = "not-leader" if result is ProposeResult.NOT_LEADER else str(result.name).lower()
        fut.set_result(Rejected(reason=reason, leader=self.core.leader_id))

    async def _pump(self) -> None:
        while self.core.has_ready():
            rd = self.core.ready()
            if rd.persist:
                await self._persist(rd)
            self._transport.send(self._encode(rd))
            self._apply(rd)
            self.core.advance(rd)
            self._maybe_snapshot()

    async def _persist(self, rd: Ready) -> None:
        payloads = [encode_record(r) for r in rd.persist]
        fsyncs = self.storage.fsyncs
        loop = asyncio.get_running_loop()
        if self._write_behind_s is not None:
            self._behind.extend(payloads)
        elif rd.must_sync and self.storage.fsync_enabled:
            await loop.run_in_executor(self._io, self._write, payloads, True)
        else:
            # no fsync: a plain write is cheaper than a thread hand-off
            self._write(payloads, rd.must_sync)
        if self.storage.fsyncs != fsyncs:
            self._metrics.fsyncs.inc()
            self._metrics.fsync_seconds.observe(self.storage.last_fsync_seconds)
        self._live.extend(zip(rd.persist, payloads))
        snap = next((r for r in reversed(rd.persist) if isinstance(r, SnapshotRecord)), None)
        if snap is not None:
            kept = self._live.compact(snap)
            await loop.run_in_executor(self._io, self.storage.rewrite, kept)
            self._behind = []  # the rewrite holds them
            self._metrics.log_rewrites.inc()
            _log.info("log truncated after snapshot through slot %d: %d records kept", snap.last_slot, len(kept))

    def _write_behind(self, *, force: bool) -> None:
        """Bug no-fsync: write out what waited `write_behind_s` (all of it when stopping cleanly)."""
        if self._write_behind_s is None:
            return
        now = time.monotonic()
        if self._behind and (force or now - self._behind_since >= self._write_behind_s):
            self._write(self._behind, True)
            self._behind = []
        if force or not self._behind:
            self._behind_since = now

    def _write(self, payloads: list[bytes], sync: bool) -> None:
        self.storage.append(payloads)
        if sync:
            self.storage.sync()

    def _encode(self, rd: Ready) -> list[Outgoing]:
        out = []
        for env in rd.messages:
            out.append(Outgoing(dst=env.dst, kind=env.msg.KIND, msg=encode_message(env.msg)))
        return out

    def _apply(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.kv.restore(rd.snapshot.data)
            self.applied_index = rd.snapshot.last_slot
            self._snapshot_at = rd.snapshot.last_slot
            _log.info("installed snapshot through slot %d from a peer", rd.snapshot.last_slot)
        for slot, batch in rd.committed:
            for cmd in batch:
                result = self.kv.apply(cmd)
                self._resolve((cmd.client_id, cmd.request_id), result)
            self.applied_index = slot
            self._metrics.commits.inc()
            self._metrics.commands_applied.inc(amount=len(batch))

    def _resolve(self, key: RequestKey, result: Result) -> None:
        for fut in self._waiters.pop(key, ()):
            if not fut.done():
                fut.set_result(Applied(result=result))

    def _maybe_snapshot(self) -> None:
        if self.applied_index - self._snapshot_at < self._snapshot_every:
            return
        self._snapshot_at = self.applied_index
        self.core.snapshot_taken(self.applied_index, self.kv.snapshot())
        self._metrics.snapshots.inc()

    def _observe_role(self) -> None:
        seen = (self.core.role.value, self.core.leader_id)
        if seen == self._role_seen:
            return
        old_role = self._role_seen[0]
        self._role_seen = seen
        if seen[0] == old_role:
            _log.info("leader is now %s (ballot %s)", seen[1], self.core.ballot)
            return
        _log.info("role %s -> %s, ballot %s, leader %s", old_role or "-", seen[0], self.core.ballot, seen[1])
        self._metrics.role_changes.inc(seen[0])
        if seen[0] == "candidate":
            _log.info("election started: phase 1 with ballot above %s", self.core.ballot)
            self._metrics.elections.inc()
        elif seen[0] == "leader":
            if old_role != "candidate":  # a one-node cluster wins its election within one round
                self._metrics.elections.inc()
            self._metrics.leader_terms.inc()
