"""The aiohttp replica's host: one asyncio task drives the sans-IO core (docs/replica-contract.md)
through the shared host loop (``replica_image.loop.HostLoop``), supplying its I/O.

Everything that touches the core runs in ``Driver.run``; HTTP handlers only queue work
(``submit``, ``deliver``) and wait on futures, so ``step``/``propose``/``tick`` are never interleaved
with a ``ready()``/``advance()`` pair. Each round of the loop:

1. feeds the core what arrived since the last round: peer envelopes, client commands (all of them,
   so commands that piled up during an fsync share a slot: batching), and due ticks;
2. runs ``HostLoop.rounds()`` (persist, send, apply, advance, the snapshot policy and the host-side
   bug switches live there, once for this replica, the simulator and the test cluster); what this
   module adds is the disk: each ``Write`` is appended to storage and, when it asks for a sync,
   fsynced ONCE for all of it (group commit, in a worker thread so the event loop keeps accepting
   requests) before the loop goes on to send; once a SnapshotRecord is durable the log is rewritten
   without what the snapshot covers; and bug no-fsync's write-behind timer (``write_behind_s``).

A storage failure stops the loop with the exception (the replica must not run on without durability).

Admission (load shedding). A leader takes on only the work it can answer within the request
deadline: ``submit`` refuses a command at once, ``Rejected(reason="overloaded")`` (definitely not
proposed: the client gets 503 ``proposed: false`` and may retry), while the commands it already
holds (queued here or handed to the core, not yet applied) number at least the limit, ``max(one
slot's worth, rate * deadline * ADMIT_SAFETY)``. ``rate`` is a ``ServiceRate``: client commands
applied per second of busy leadership over the last RATE_WINDOW_S; while it is unknown (idle or new
leader) the limit is one slot's worth. Once a command is in the core it is proposed even if its
client gives up (the core has no way to withdraw it, and its outcome is then unknown): so the core
is handed at most one window of slots' worth beyond what was applied, and the rest waits here, where
a command whose client gave up is dropped unproposed, and one that waited more than ``deadline *
ADMIT_SAFETY`` (the loop is starved) is refused like a shed one instead of being proposed too late
to be answered.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from replica_image.codec import encode_message, encode_record
from replica_image.compaction import LiveLog
from replica_image.errors import InvalidMessage
from replica_image.kv import KV, Result
from replica_image.loop import HostLoop, Write
from replica_image.paxos import Batch, Command, Envelope, ProposeResult, Replica, Role, SnapshotRecord
from replica_image.metrics import ReplicaMetrics
from replica_image.storage import Storage
from replica_image.transport import Outgoing, PeerTransport

__all__ = ["Applied", "Driver", "Outcome", "Rejected", "ServiceRate"]

_log = logging.getLogger("replica.host")
# Bound on ticks fed at once after the loop was starved (e.g. SIGSTOP): a burst would fire every
# timeout at once; a few ticks are enough to notice the pause.
TICK_CATCHUP_MAX = 5
INBOX_MAX = 100_000
# Admission (module docstring): the held work may take this fraction of the deadline at the measured
# rate; the rest of the deadline is for HTTP, the queue ahead of the loop and the rate's error.
ADMIT_SAFETY = 0.5
# Always admitted: one slot's worth (batch_max commands), at least ADMIT_FLOOR_MIN. A leader whose
# rate is unknown serves one batch within any sane deadline, and it is load enough to measure the rate.
# More is not safer: under a flood that starves the event loop even the first batch can miss a short
# deadline, and every command admitted then ends as an unknown outcome.
ADMIT_FLOOR_MIN = 64
RATE_WINDOW_S = 2.0
RATE_BUCKETS = 20
# Busy time the window must hold before its rate is trusted.
RATE_MIN_BUSY_S = 0.05
# A command handed to the core and not applied after this many deadlines is no longer counted as held
# (a bound on the accounting: a leak must not make a leader refuse everything).
HELD_MAX_DEADLINES = 3
# Bug no-fsync: how long records the loop holds back wait before they are written (and synced).
WRITE_BEHIND_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """The command was chosen and applied; ``result`` is what the kv returned (first application)."""

    result: Result


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """The command was not proposed (definitely not applied): ``reason`` and the known leader.

    ``reason`` is "not-leader", "busy" (the core's queue is full) or "overloaded" (shed by admission:
    this leader could not have served it within the request deadline; retry later).
    """

    reason: str
    leader: int | None


Outcome = Applied | Rejected
RequestKey = tuple[str, int]


class ServiceRate:
    """Commands applied per second of busy time, over the last ``window_s`` (in ``buckets`` parts).

    Busy time is time during which some command was held (admitted, not yet applied); idle time is
    left out, so this is what the leader CAN serve rather than what it was asked for. ``rate`` is None
    until the window holds ``min_busy_s`` of busy time. Times are the caller's clock, in seconds.
    """

    def __init__(self, *, window_s: float = RATE_WINDOW_S, buckets: int = RATE_BUCKETS,
                 min_busy_s: float = RATE_MIN_BUSY_S) -> None:
        if not window_s > 0 or buckets < 1 or min_busy_s < 0:
            raise ValueError(f"ServiceRate(window_s={window_s}, buckets={buckets}, min_busy_s={min_busy_s})")
        self._bucket_s = window_s / buckets
        self._min_busy_s = min_busy_s
        self._epoch = [-1] * buckets  # which bucket number (time // bucket_s) each slot holds
        self._applied = [0] * buckets
        self._busy_s = [0.0] * buckets

    def note(self, now: float, *, applied: int, busy_s: float) -> None:
        """Count ``applied`` commands and ``busy_s`` seconds of busy time at ``now``."""
        epoch = int(now // self._bucket_s)
        i = epoch % len(self._epoch)
        if self._epoch[i] != epoch:
            self._epoch[i], self._applied[i], self._busy_s[i] = epoch, 0, 0.0
        self._applied[i] += applied
        self._busy_s[i] += busy_s

    def rate(self, now: float) -> float | None:
        """Commands per busy second over the window ending at ``now``; None if too little was busy."""
        oldest = int(now // self._bucket_s) - len(self._epoch)
        applied, busy = 0, 0.0
        for epoch, n, b in zip(self._epoch, self._applied, self._busy_s, strict=True):
            if epoch > oldest:
                applied += n
                busy += b
        if busy < self._min_busy_s or busy <= 0:
            return None
        return applied / busy

    def reset(self) -> None:
        """Forget everything (a new term: the old rate says little about the new leader)."""
        self._epoch = [-1] * len(self._epoch)


class Driver:
    """Owns the host loop (and through it the core and the kv) and storage; see the module docstring."""

    def __init__(
        self,
        *,
        core: Replica,
        storage: Storage,
        live: LiveLog,
        transport: PeerTransport,
        metrics: ReplicaMetrics,
        tick_s: float,
        snapshot_every: int,
        applied_index: int,
        write_behind_s: float = WRITE_BEHIND_S,
        request_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``request_timeout_s`` is the client deadline (REQUEST_TIMEOUT_MS) that admission serves
        within; ``write_behind_s`` the period of bug no-fsync's writes; ``clock`` (seconds, monotonic)
        is for tests. The kv is the loop's (``kv``): it is made with the core's bugs (no-dedup)."""
        self.core = core
        self.loop: HostLoop[asyncio.Future[Outcome | None]] = HostLoop(
            core=core, snapshot_every=snapshot_every, applied_index=applied_index,
            send=lambda messages: transport.send(self._encode(messages)), answer=self._answer,
            on_commit=self._on_commit, on_snapshot=lambda slot: metrics.snapshots.inc())
        self.kv: KV = self.loop.kv
        self.storage = storage
        self._live = live
        self._transport = transport
        self._metrics = metrics
        self._tick_s = tick_s
        self._inbox: collections.deque[Envelope] = collections.deque()
        # client commands not yet fed to the core, with when they were submitted
        self._pending: collections.deque[tuple[Command, asyncio.Future[Outcome | None], float]] = collections.deque()
        self._wake = asyncio.Event()
        self._io = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage")
        self._clock = clock
        self._ticks_done = 0
        self._started = clock()
        self._role_seen: tuple[str, int | None] = ("", None)
        # bug no-fsync (replica_image.bugs): the loop holds records back up to write_behind_s, replies leave
        self._write_behind_s = write_behind_s
        self._behind_since = clock()
        # admission (module docstring)
        self._deadline_s = request_timeout_s
        self._rate = ServiceRate()
        self._unfed: set[asyncio.Future[Outcome | None]] = set()  # in _pending, client still waiting
        self._held: dict[RequestKey, float] = {}  # handed to the core as leader, not applied: when
        self._admit_floor: int | None = None  # None: not the leader, nothing to shed
        self._busy_since: float | None = None  # since when something is held (None: nothing)
        self._applied_since = 0

    # ---- called by HTTP handlers (never touch the core) ----

    def submit(self, cmd: Command) -> asyncio.Future[Outcome | None]:
        """Queue a client command; the future resolves with Applied or Rejected (never an exception).

        The caller may resolve it with None itself when it gives up (then it must call ``forget``).
        A leader that holds as much as it can serve within the deadline returns the future already
        resolved with ``Rejected(reason="overloaded")``: not queued, definitely not proposed.
        """
        fut: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        # the rate is only looked at past the floor, that is under load: an idle leader pays nothing
        if self._admit_floor is not None and self.held >= self._admit_floor and self.held >= (self.admit_limit or 0):
            self._shed(None, fut)
            return fut
        self.loop.waiters.add(cmd, fut)
        self._pending.append((cmd, fut, self._clock()))
        self._unfed.add(fut)
        fut.add_done_callback(self._unfed.discard)
        if self._busy_since is None:
            self._busy_since = self._clock()
        self._wake.set()
        return fut

    @property
    def held(self) -> int:
        """Commands admitted and not yet applied: queued here (client still waiting) or in the core."""
        return len(self._unfed) + len(self._held)

    @property
    def admit_limit(self) -> int | None:
        """How many commands a leader holds before it sheds new ones (None: not the leader)."""
        floor = self._admit_floor
        if floor is None:
            return None
        rate = self._rate.rate(self._clock())
        return floor if rate is None else max(floor, int(rate * self._deadline_s * ADMIT_SAFETY))

    @property
    def applied_index(self) -> int:
        """The last slot the kv reflects."""
        return self.loop.applied_index

    def forget(self, cmd: Command, fut: asyncio.Future[Outcome | None]) -> None:
        """The client gave up on ``fut`` (deadline): stop tracking it."""
        self.loop.waiters.forget(cmd, fut)

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
                await self._round()
        finally:
            ticker.cancel()
            self._write_behind(force=True)
            self._io.shutdown(wait=True)

    async def _round(self) -> None:
        """One round of the loop (module docstring); tests call it directly."""
        self._feed()
        await self._pump()
        self._observe_role()
        self._account()
        self._write_behind(force=False)
        if self._pending and len(self._held) < self._core_cap:
            self._wake.set()  # room in the core again: feed what waits without waiting for a tick

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            self._wake.set()

    def _due_ticks(self) -> int:
        due = int((self._clock() - self._started) / self._tick_s) - self._ticks_done
        self._ticks_done += due
        return min(due, TICK_CATCHUP_MAX)

    def _feed(self) -> None:
        while self._inbox:
            env = self._inbox.popleft()
            try:
                self.core.step(env)
            except InvalidMessage as exc:
                _log.warning("dropped message from %d: %s", env.src, exc)
        self._forget_stale_held()
        leading = self.core.role is Role.LEADER
        room = self._core_cap - len(self._held)
        too_old = self._clock() - self._deadline_s * ADMIT_SAFETY
        while self._pending and (room > 0 or not leading):
            cmd, fut, since = self._pending.popleft()
            self._unfed.discard(fut)
            if fut.done():
                continue  # the client gave up: never proposed
            if leading and since < too_old:
                self._shed(cmd, fut)
                continue
            result = self.core.propose(cmd)
            if result is ProposeResult.QUEUED:
                self._metrics.proposals.inc()
                self._held.setdefault((cmd.client_id, cmd.request_id), self._clock())
                room -= 1
            else:
                self._reject(cmd, fut, result)
        for _ in range(self._due_ticks()):
            self.core.tick()

    @property
    def _core_cap(self) -> int:
        """Commands the core may hold unapplied: one full window of slots."""
        return self.core.config.window * self.core.config.batch_max

    def _forget_stale_held(self) -> None:
        cutoff = self._clock() - HELD_MAX_DEADLINES * self._deadline_s
        while self._held:
            key, since = next(iter(self._held.items()))
            if since >= cutoff:
                return
            del self._held[key]

    def _shed(self, cmd: Command | None, fut: asyncio.Future[Outcome | None]) -> None:
        """Refuse a command unproposed because the leader cannot serve it in time (``cmd``: it was queued)."""
        if cmd is not None:
            self.forget(cmd, fut)
        self._metrics.shed.inc()
        fut.set_result(Rejected(reason="overloaded", leader=self._role_seen[1]))

    def _reject(self, cmd: Command, fut: asyncio.Future[Outcome | None], result: ProposeResult) -> None:
        self.forget(cmd, fut)
        reason = "not-leader" if result is ProposeResult.NOT_LEADER else str(result.name).lower()
        fut.set_result(Rejected(reason=reason, leader=self.core.leader_id))

    async def _pump(self) -> None:
        for write in self.loop.rounds():
            await self._persist(write)

    async def _persist(self, write: Write) -> None:
        payloads = [encode_record(r) for r in write.records]
        fsyncs = self.storage.fsyncs
        loop = asyncio.get_running_loop()
        if write.deferred:
            pass  # bug no-fsync: the host loop holds them until _write_behind
        elif write.sync and self.storage.fsync_enabled:
            await loop.run_in_executor(self._io, self._write, payloads, True)
        else:
            # no fsync: a plain write is cheaper than a thread hand-off
            self._write(payloads, write.sync)
        if self.storage.fsyncs != fsyncs:
            self._metrics.fsyncs.inc()
            self._metrics.fsync_seconds.observe(self.storage.last_fsync_seconds)
        self._live.extend(zip(write.records, payloads))
        snap = next((r for r in reversed(write.records) if isinstance(r, SnapshotRecord)), None)
        if snap is not None:
            kept = self._live.compact(snap)
            await loop.run_in_executor(self._io, self.storage.rewrite, kept)
            self.loop.take_behind()  # the rewrite holds them
            self._metrics.log_rewrites.inc()
            _log.info("log truncated after snapshot through slot %d: %d records kept", snap.last_slot, len(kept))

    def _write_behind(self, *, force: bool) -> None:
        """Bug no-fsync: write out what waited `write_behind_s` (all of it when stopping cleanly)."""
        if "no-fsync" not in self.loop.bugs:
            return
        now = self._clock()
        if self.loop.behind and (force or now - self._behind_since >= self._write_behind_s):
            self._write([encode_record(r) for r in self.loop.take_behind()], True)
        if force or not self.loop.behind:
            self._behind_since = now

    def _write(self, payloads: list[bytes], sync: bool) -> None:
        self.storage.append(payloads)
        if sync:
            self.storage.sync()

    def _encode(self, messages: tuple[Envelope, ...]) -> list[Outgoing]:
        return [Outgoing(dst=env.dst, kind=env.msg.KIND, msg=encode_message(env.msg)) for env in messages]

    def _answer(self, fut: asyncio.Future[Outcome | None], result: Result) -> None:
        if not fut.done():  # the client may have given up (resolved with None) meanwhile
            fut.set_result(Applied(result=result))

    def _on_commit(self, slot: int, batch: Batch | None) -> None:
        """The loop commits ``batch`` in ``slot`` (None: a snapshot through it was installed)."""
        if batch is None:
            _log.info("installed snapshot through slot %d from a peer", slot)
            return
        self._metrics.commits.inc()
        self._metrics.commands_applied.inc(amount=len(batch))
        # admission: these commands are no longer held
        self._applied_since += len(batch)
        for cmd in batch:
            self._held.pop((cmd.client_id, cmd.request_id), None)

    def _account(self) -> None:
        """Once a round: feed the service rate and set the admission limit (module docstring)."""
        now = self._clock()
        if self._role_seen[0] == Role.LEADER.value:
            busy_s = 0.0 if self._busy_since is None else now - self._busy_since
            self._rate.note(now, applied=self._applied_since, busy_s=busy_s)
            self._admit_floor = max(ADMIT_FLOOR_MIN, self.core.config.batch_max)
        else:
            self._admit_floor = None
        self._busy_since = now if self.held > 0 else None
        self._applied_since = 0

    def _observe_role(self) -> None:
        seen = (self.core.role.value, self.core.leader_id)
        if seen == self._role_seen:
            return
        old_role = self._role_seen[0]
        self._role_seen = seen
        if Role.LEADER.value in (old_role, seen[0]) and old_role != seen[0]:
            # a new term: what the old one measured or held (the core dropped its queue) counts no more
            self._rate.reset()
            self._held.clear()
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
