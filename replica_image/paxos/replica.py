"""The Multi-Paxos replica: proposer, acceptor and learner in one sans-IO object.

This is the only module where roles change (`_become_follower`, `_become_candidate`,
`_become_leader`). Inputs: `step(envelope)`, `tick()`, `propose(command)`, `snapshot_taken(...)`.
Outputs: `ready()` -> `Ready`, acknowledged with `advance(ready)`. See the package docstring for the loop.

Rules from "Paxos Made Simple" and where they live:
- P1a (promise iff higher; accept iff not below the promise): `_on_prepare`, `_on_accept`.
- P2c via phase 1 (adopt the highest-ballot value reported per slot): `_become_leader` / `_phase1_values`.
- Unique proposal numbers: `Ballot(round, node_id)` in `_become_candidate`.
- Stable storage before replying: every promise/accept is a record in the same Ready as its reply,
  with `must_sync`; the host persists before it sends.
- Phase 1 for all instances at once: `Prepare.first_slot`; no-ops fill unconstrained gaps.

Why the non-obvious parts are safe:
- Phase 1 base. An acceptor reports accepted values only at slots >= its own first unchosen slot
  (`chosen_through`); below it everything is chosen and may already be truncated. The new leader takes
  `base` = the highest `chosen_through` in its quorum, never proposes below `base` (those slots are
  chosen: it fetches them by catch-up) and, at and above `base`, has every quorum member's full report,
  so P2c holds there.
- Commit piggyback. `Accept.commit` = the leader's first unchosen slot. A follower marks slot s < commit
  chosen only if it accepted s in the leader's *current* ballot. That is right because a leader proposes
  one value per slot per ballot, and for every slot it proposed in, the value chosen there is its own:
  either a majority accepted it in this ballot, or it learned the chosen value from elsewhere and it
  matched. When it does not match (a Chosen message), when a slot is chosen beyond everything it
  proposed (only a higher ballot can have done that: phase 1 saw every lower-ballot choice), or when it
  cannot be checked (a Snapshot covering its proposals), the leader steps down before it sends another
  commit.
- Chosen marks are persisted without fsync: losing one only means learning it again.
- An acceptor whose promise would not fit in one message (`MAX_ENTRIES`) ignores the prepare (always
  safe: "it can ignore these without affecting safety") and catches up first.
- Two values for one slot in one ballot, or a Chosen value contradicting ours, is a `ProtocolViolation`:
  the whole message is rejected before any state changes.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterable, Sequence

from replica_image.errors import InvalidMessage, MisuseError, ProtocolViolation
from replica_image.paxos.ballot import Ballot
from replica_image.paxos.config import CoreConfig
from replica_image.paxos.log import PaxosLog
from replica_image.paxos.log import invariant as _invariant
from replica_image.paxos.quorum import majority
from replica_image.paxos.messages import (
    MAX_ENTRIES, NOOP, Accept, Accepted, AcceptRecord, Batch, Catchup, Chosen, ChosenRecord, Command, Envelope,
    Message, Nack, Prepare, Promise, PromiseEntry, PromiseRecord, Proposal, Record, Snapshot,
    SnapshotRecord,
)
from replica_image.paxos.ready import Ready

__all__ = ["Role", "ProposeResult", "Replica"]


class Role(enum.Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


class ProposeResult(enum.Enum):
    """What `propose` did. Only QUEUED may lead to the command being applied."""

    QUEUED = "queued"          # leader: will be put in a slot (unless it loses leadership first)
    NOT_LEADER = "not_leader"  # definitely not proposed; ask `replica.leader_id`
    BUSY = "busy"              # definitely not proposed; the queue is full, retry later


class Replica:
    """One replica of the fixed cluster `nodes`. Restart = construct with the records storage read back.

    Args:
        node_id: this replica's id (>= 1), a member of `nodes`.
        nodes: every replica id of the cluster (this one included).
        config: bounds and timeouts.
        rng: the only randomness (election timeouts); inject a seeded one for determinism.
        recovered: the records persisted earlier, in the order they were written.

    Raises:
        MisuseError: bad node ids or config.
    """

    def __init__(self, node_id: int, nodes: Sequence[int], config: CoreConfig, rng: random.Random,
                 recovered: Sequence[Record] = ()) -> None:
        ids = sorted(set(nodes))
        if len(ids) != len(nodes) or not ids or ids[0] < 1 or any(type(n) is not int for n in ids):
            raise MisuseError(f"nodes must be distinct ints >= 1, got {list(nodes)!r}")
        if node_id not in ids:
            raise MisuseError(f"node_id {node_id!r} is not one of nodes {ids}")
        self.node_id = node_id
        self.nodes = tuple(ids)
        self.peers = tuple(n for n in ids if n != node_id)
        self.config = config
        self._bugs = config.bugs  # deliberate bugs (replica_image.bugs); empty in every real use
        # bug small-quorum: N//2 replicas, so two "quorums" need not intersect
        self.quorum = max(1, len(ids) // 2) if "small-quorum" in self._bugs else majority(len(ids))
        self._rng = rng
        self._log = PaxosLog()
        self._promised = Ballot.ZERO
        self._ballot = Ballot.ZERO        # our own ballot while candidate or leader
        self._max_round_seen = 0
        self._role = Role.FOLLOWER
        self._leader_id: int | None = None
        # outbox: drained by ready()
        self._persist: list[Record] = []
        self._messages: list[Envelope] = []
        self._must_sync = False
        self._snapshot_out: Snapshot | None = None
        self._applied = -1
        self._outstanding: Ready | None = None
        # timers
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self._retransmit_elapsed = 0
        self._heartbeat_elapsed = 0
        # candidate
        self._promises: dict[int, Promise] = {}
        # leader
        self._queue: deque[Command] = deque()
        self._next_slot = 0
        self._proposals: dict[int, Batch] = {}
        self._acks: dict[int, set[int]] = {}
        self._heard: set[int] = set()
        # learner catch-up
        self._known_commit = 0
        self._catchup_from: int | None = None
        self._catchup_elapsed = 0
        self._catchup_sent_at = -1
        self._recover(recovered)

    # ------------------------------------------------------------------ status accessors
    @property
    def role(self) -> Role:
        return self._role

    @property
    def ballot(self) -> Ballot:
        """The highest ballot promised (what /status shows)."""
        return self._promised

    @property
    def leader_id(self) -> int | None:
        return self._leader_id

    @property
    def first_unchosen(self) -> int:
        return self._log.first_unchosen

    @property
    def commit_index(self) -> int:
        """Slots below this are chosen (same as `first_unchosen`)."""
        return self._log.first_unchosen

    @property
    def applied_index(self) -> int:
        """The last slot handed to the host in an advanced Ready (-1: none)."""
        return self._applied

    @property
    def log_length(self) -> int:
        """Slots held in memory (accepted or chosen, not yet truncated by a snapshot)."""
        return len(self._log.chosen) + len(self._log.accepted)

    @property
    def snapshot_last(self) -> int:
        return self._log.snapshot_last

    @property
    def queue_length(self) -> int:
        """Client commands queued for a slot (a leader's; at most `queue_max`)."""
        return len(self._queue)

    @property
    def next_slot(self) -> int:
        """The slot a leader proposes in next: `next_slot - first_unchosen` slots are in flight."""
        return self._next_slot

    def accepted_value(self, slot: int) -> tuple[Ballot, Batch] | None:
        """The (ballot, batch) this acceptor last accepted in `slot`, if held (for checks and debugging)."""
        return self._log.accepted.get(slot)

    def chosen_value(self, slot: int) -> Batch | None:
        """The chosen batch of `slot` if known and not truncated (for tests and debugging)."""
        return self._log.chosen.get(slot)

    # ------------------------------------------------------------------ recovery
    def _recover(self, records: Iterable[Record]) -> None:
        snapshot: SnapshotRecord | None = None
        forget_promises = "forget-promise-on-restart" in self._bugs
        for rec in records:
            if isinstance(rec, PromiseRecord):
                if not forget_promises:
                    self._promised = max(self._promised, rec.ballot)
            elif isinstance(rec, AcceptRecord):
                self._promised = max(self._promised, rec.ballot)
                old = self._log.accepted.get(rec.slot)
                if rec.slot > self._log.snapshot_last and (old is None or old[0] <= rec.ballot):
                    self._log.accept(rec.slot, rec.ballot, rec.batch)
            elif isinstance(rec, ChosenRecord):
                self._log.choose(rec.slot, rec.batch)
            elif isinstance(rec, SnapshotRecord):
                self._log.install_snapshot(rec.last_slot, rec.data)
                snapshot = rec
            else:
                raise MisuseError(f"recovered records must be Records, got {type(rec).__name__}")
        self._max_round_seen = self._promised.round
        if snapshot is not None and snapshot.last_slot == self._log.snapshot_last:
            # the host rebuilds its state machine from the first Ready: snapshot, then committed slots
            self._snapshot_out = Snapshot(last_slot=snapshot.last_slot, data=snapshot.data)
            self._applied = snapshot.last_slot

    # ------------------------------------------------------------------ host API
    def has_ready(self) -> bool:
        """True if `ready()` would return something to do (and no Ready is awaiting `advance`)."""
        if self._outstanding is not None:
            return False
        return bool(
            self._persist or self._messages or self._snapshot_out is not None
            or self._applied + 1 < self._log.first_unchosen
            or (self._role is Role.LEADER and self._queue and self._window_open())
        )

    def ready(self) -> Ready:
        """Collect the pending effects. The host must carry them out (see `Ready`) and then `advance`.

        Raises:
            MisuseError: a previous Ready was not advanced yet.
        """
        if self._outstanding is not None:
            raise MisuseError("ready() called again before advance() of the previous Ready")
        if self._role is Role.LEADER:
            self._flush_queue()
        start = max(self._applied + 1, self._log.snapshot_last + 1)
        stop = min(self._log.first_unchosen, start + self.config.committed_per_ready_max)
        committed = tuple((s, self._log.chosen[s]) for s in range(start, stop))
        rd = Ready(persist=tuple(self._persist), messages=tuple(self._messages), committed=committed,
                   snapshot=self._snapshot_out, must_sync=self._must_sync)
        self._persist, self._messages, self._must_sync, self._snapshot_out = [], [], False, None
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """Acknowledge that every effect of `rd` was carried out in order.

        Raises:
            MisuseError: `rd` is not the Ready last returned by `ready()`.
        """
        if rd is not self._outstanding:
            raise MisuseError("advance() must be given the Ready returned by the last ready() call")
        self._outstanding = None
        if rd.snapshot is not None:
            self._applied = max(self._applied, rd.snapshot.last_slot)
        if rd.committed:
            _invariant(rd.committed[0][0] <= self._applied + 1, "committed slots handed out with a gap")
            self._applied = max(self._applied, rd.committed[-1][0])

    def propose(self, cmd: Command) -> ProposeResult:
        """Queue a client command for a slot. Only a leader accepts; see `ProposeResult`."""
        if not isinstance(cmd, Command):
            raise MisuseError(f"propose() takes a Command, got {type(cmd).__name__}")
        if self._role is not Role.LEADER:
            return ProposeResult.NOT_LEADER
        if len(self._queue) >= self.config.queue_max:
            return ProposeResult.BUSY
        self._queue.append(cmd)
        return ProposeResult.QUEUED

    def snapshot_taken(self, last_slot: int, data: str) -> None:
        """The host snapshotted its state machine through `last_slot` (<= the applied index).

        The core persists a SnapshotRecord (fsync), forgets slots <= last_slot and serves `data` to
        peers that ask for them.
        """
        if type(last_slot) is not int or not self._log.snapshot_last < last_slot <= self._applied:
            raise MisuseError(f"snapshot_taken({last_slot!r}): must be in "
                              f"{self._log.snapshot_last + 1}..{self._applied} (after the last snapshot, "
                              "at most the applied index)")
        self._log.truncate(last_slot, data)
        self._record(SnapshotRecord(last_slot=last_slot, data=data), sync=True)

    def step(self, env: Envelope) -> None:
        """Feed one message from a peer.

        Raises:
            InvalidMessage: the envelope is not addressed to this replica or comes from a non-member.
        """
        if not isinstance(env, Envelope):
            raise InvalidMessage(f"step() takes an Envelope, got {type(env).__name__}")
        if env.dst != self.node_id:
            raise InvalidMessage(f"Envelope.dst is {env.dst}, but this replica is {self.node_id}")
        if env.src not in self.peers:
            raise InvalidMessage(f"Envelope.src {env.src} is not a peer of replica {self.node_id} ({list(self.peers)})")
        self._dispatch(env.src, env.msg)

    def tick(self) -> None:
        """Advance logical time by one tick (elections, heartbeats, retransmissions, catch-up)."""
        self._elapsed += 1
        self._retransmit_elapsed += 1
        self._catchup_elapsed += 1
        if self._role is Role.LEADER:
            self._tick_leader()
        elif self._elapsed >= self._timeout:
            self._become_candidate()
        elif self._role is Role.CANDIDATE and self._retransmit_elapsed >= self.config.retransmit_ticks:
            self._retransmit_elapsed = 0
            self._broadcast_prepare(skip=set(self._promises))
        if self._catchup_from is not None and self._catchup_elapsed >= self.config.retransmit_ticks:
            self._request_catchup()

    # ------------------------------------------------------------------ outbox helpers
    def _record(self, rec: Record, *, sync: bool) -> None:
        self._persist.append(rec)
        self._must_sync = self._must_sync or sync

    def _send(self, dst: int, msg: Message) -> None:
        self._messages.append(Envelope(src=self.node_id, dst=dst, msg=msg))

    def _random_timeout(self) -> int:
        t = self.config.election_timeout_ticks
        return self._rng.randrange(t, 2 * t)

    # ------------------------------------------------------------------ acceptor
    def _dispatch(self, src: int, msg: Message) -> None:
        if isinstance(msg, Prepare):
            self._on_prepare(src, msg)
        elif isinstance(msg, Promise):
            self._on_promise(src, msg)
        elif isinstance(msg, Accept):
            self._on_accept(src, msg)
        elif isinstance(msg, Accepted):
            self._on_accepted(src, msg)
        elif isinstance(msg, Nack):
            self._on_nack(src, msg)
        elif isinstance(msg, Catchup):
            self._on_catchup(src, msg)
        elif isinstance(msg, Chosen):
            self._on_chosen(msg)
        elif isinstance(msg, Snapshot):
            self._on_snapshot(msg)
        else:  # pragma: no cover - Envelope validation makes this unreachable
            raise InvalidMessage(f"unknown message type {type(msg).__name__}")

    def _check_ballot_owner(self, src: int, ballot: Ballot, kind: str) -> None:
        if ballot.node != src:
            raise InvalidMessage(f"{kind}.ballot {ballot} belongs to node {ballot.node}, but it came from {src}")

    def _promise_ballot(self, ballot: Ballot) -> None:
        """Raise our promise to `ballot` (durably, fsync before any reply) and yield to it."""
        _invariant(ballot >= self._promised, f"promised ballot would go down {self._promised} -> {ballot}")
        if ballot > self._promised:
            self._promised = ballot
            self._record(PromiseRecord(ballot=ballot), sync=True)
        self._max_round_seen = max(self._max_round_seen, ballot.round)
        if self._role is not Role.FOLLOWER and ballot != self._ballot:
            self._become_follower()

    def _below_promise(self, ballot: Ballot) -> bool:
        """P1a's test. Bug reused-ballot compares rounds only: equal rounds of two proposers collide."""
        if "reused-ballot" in self._bugs:
            return ballot.round < self._promised.round
        return ballot < self._promised

    def _on_prepare(self, src: int, m: Prepare) -> None:
        self._check_ballot_owner(src, m.ballot, "Prepare")
        if self._below_promise(m.ballot):
            self._send(src, Nack(ballot=self._promised, rejected=m.ballot))
            return
        # P1a: promise iff higher than every promise; an equal ballot is the same proposer's retry
        entries = self._log.promise_entries(m.first_slot)
        if len(entries) > MAX_ENTRIES:
            # too much to report in one message: ignoring a prepare is always safe; catch up first
            self._note_progress(src, self._log.first_unchosen + 1)
            return
        if m.ballot > self._promised:
            self._promise_ballot(m.ballot)
            self._leader_id = None
            self._elapsed = 0  # give the candidate a chance before competing
        self._send(src, Promise(ballot=m.ballot, first_slot=m.first_slot,
                                chosen_through=self._log.first_unchosen, entries=entries))

    def _on_accept(self, src: int, m: Accept) -> None:
        self._check_ballot_owner(src, m.ballot, "Accept")
        # P1a: never accept below the promise (bug accept-below-promise: skip this test)
        if self._below_promise(m.ballot) and "accept-below-promise" not in self._bugs:
            self._send(src, Nack(ballot=self._promised, rejected=m.ballot))
            return
        self._check_one_value_per_ballot(src, m)
        if m.ballot >= self._promised:  # below it only with a bug: the promise never goes down
            self._promise_ballot(m.ballot)
        self._leader_id = src
        self._elapsed = 0
        slots: list[int] = []
        for e in m.entries:
            if e.slot < self._log.first_unchosen:
                continue  # chosen here already (maybe truncated): the leader catches up from our hint
            old = self._log.accepted.get(e.slot)
            if old is not None and old[0] > m.ballot:  # only with a bug: acknowledged, not stored
                slots.append(e.slot)
                continue
            if old != (m.ballot, e.batch):  # a duplicate needs no new record
                self._log.accept(e.slot, m.ballot, e.batch)
                self._record(AcceptRecord(slot=e.slot, ballot=m.ballot, batch=e.batch), sync=True)
            slots.append(e.slot)
        self._learn_commit(src, m.ballot, m.commit)
        self._send(src, Accepted(ballot=m.ballot, slots=tuple(slots), first_unchosen=self._log.first_unchosen))

    def _check_one_value_per_ballot(self, src: int, m: Accept) -> None:
        """A proposer proposes one value per slot per ballot; reject (whole) a message that does not."""
        seen: dict[int, Batch] = {}
        for e in m.entries:
            acc = self._log.accepted.get(e.slot)
            earlier = seen.setdefault(e.slot, e.batch)
            if earlier != e.batch or (acc is not None and acc[0] == m.ballot and acc[1] != e.batch):
                raise ProtocolViolation(f"Accept from {src}: ballot {m.ballot} proposes two values for slot {e.slot}")

    def _learn_commit(self, src: int, ballot: Ballot, commit: int) -> None:
        """Slots below the leader's commit that we accepted in its ballot carry the chosen value."""
        stop = min(commit, self._log.top + 1, self._log.first_unchosen + self.config.learn_scan_max)
        for s in range(self._log.first_unchosen, stop):
            acc = self._log.accepted.get(s)
            if acc is not None and acc[0] == ballot and s not in self._log.chosen:
                self._learn(s, acc[1])
        self._note_progress(src, commit)

    def _note_progress(self, src: int, their_first_unchosen: int) -> None:
        """A peer has chosen everything below `their_first_unchosen`: catch up from it if we lag."""
        if their_first_unchosen > self._log.first_unchosen:
            self._known_commit = max(self._known_commit, their_first_unchosen)
            if self._catchup_from is None:
                self._catchup_from = src
                self._catchup_elapsed = self.config.retransmit_ticks  # ask at the next tick
        elif self._log.first_unchosen >= self._known_commit:
            self._catchup_from = None

    # ------------------------------------------------------------------ learner
    def _learn(self, slot: int, batch: Batch) -> None:
        if not self._log.choose(slot, batch):
            return
        self._record(ChosenRecord(slot=slot, batch=batch), sync=False)
        proposed = self._proposals.pop(slot, None)
        self._acks.pop(slot, None)
        if self._role is Role.LEADER and (slot >= self._next_slot or (proposed is not None and proposed != batch)):
            # chosen beyond our proposals, or a different value where we proposed: a higher ballot is
            # active, and our commit index must never cover a slot whose value is not ours
            self._become_follower()

    def _on_chosen(self, m: Chosen) -> None:
        for e in m.entries:
            ours = self._log.chosen.get(e.slot)
            if ours is not None and ours != e.batch:
                raise ProtocolViolation(f"Chosen: slot {e.slot} has a different chosen value here; nothing applied")
        before = self._log.first_unchosen
        for e in m.entries:
            self._learn(e.slot, e.batch)
        progressed = self._log.first_unchosen > before  # a stale duplicate must not trigger a request
        if self._catchup_from is not None and self._log.first_unchosen < self._known_commit and progressed:
            self._request_catchup()  # more to fetch: do not wait for the next retransmit
        elif self._log.first_unchosen >= self._known_commit:
            self._catchup_from = None

    def _on_snapshot(self, m: Snapshot) -> None:
        if m.last_slot < self._log.first_unchosen:
            return  # we already have everything it covers
        if self._role is Role.LEADER and any(s <= m.last_slot for s in self._proposals):
            # a snapshot hides which values were chosen in slots we proposed in; if one differs, a higher
            # ballot exists and our commit index must not cover our own value there: step down first
            self._become_follower()
        self._log.install_snapshot(m.last_slot, m.data)
        self._record(SnapshotRecord(last_slot=m.last_slot, data=m.data), sync=True)
        self._snapshot_out = m
        self._applied = max(self._applied, m.last_slot)
        for s in [s for s in self._proposals if s <= m.last_slot]:
            del self._proposals[s]
            self._acks.pop(s, None)
        if self._log.first_unchosen >= self._known_commit:
            self._catchup_from = None  # caught up by the snapshot: nothing left to ask

    def _on_catchup(self, src: int, m: Catchup) -> None:
        start = m.from_slot
        if start <= self._log.snapshot_last and self._log.snapshot_data is not None:
            self._send(src, Snapshot(last_slot=self._log.snapshot_last, data=self._log.snapshot_data))
            start = self._log.snapshot_last + 1
        entries = self._log.chosen_from(start, self.config.entries_per_message_max)
        if entries:
            self._send(src, Chosen(entries=entries))

    def _request_catchup(self) -> None:
        target = self._catchup_from
        if target is None:
            return
        if self._catchup_sent_at == self._log.first_unchosen:
            # no progress since the last request: that peer may be gone, try another one
            target = self._catchup_from = self._rng.choice(self.peers)
        self._catchup_sent_at = self._log.first_unchosen
        self._catchup_elapsed = 0
        self._send(target, Catchup(from_slot=self._log.first_unchosen))

    # ------------------------------------------------------------------ candidate
    def _become_candidate(self) -> None:
        round_ = max(self._promised.round, self._max_round_seen) + 1
        ballot = Ballot(round=round_, node=self.node_id)
        self._become_follower()
        self._role = Role.CANDIDATE
        self._ballot = ballot
        self._promise_ballot(ballot)  # our own promise: durable before the prepares leave
        self._promises = {}
        self._leader_id = None
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self._retransmit_elapsed = 0
        if self.quorum == 1:
            self._become_leader()
        else:
            self._broadcast_prepare(skip=set())

    def _broadcast_prepare(self, *, skip: set[int]) -> None:
        msg = Prepare(ballot=self._ballot, first_slot=self._log.first_unchosen)
        for p in self.peers:
            if p not in skip:
                self._send(p, msg)

    def _on_promise(self, src: int, m: Promise) -> None:
        if self._role is not Role.CANDIDATE or m.ballot != self._ballot:
            return  # late or duplicate: phase 1 of that ballot is over
        self._promises[src] = m
        if len(self._promises) + 1 >= self.quorum:
            self._become_leader()

    def _on_nack(self, src: int, m: Nack) -> None:
        self._max_round_seen = max(self._max_round_seen, m.ballot.round)
        if self._role is not Role.FOLLOWER and m.rejected == self._ballot and m.ballot > self._ballot:
            self._become_follower()

    # ------------------------------------------------------------------ leader
    def _phase1_values(self) -> tuple[int, dict[int, Batch]]:
        """P2c: per slot >= base, the chosen value if reported, else the highest-ballot value reported.

        `base` is the highest first-unchosen slot in the quorum: below it everything is chosen and is
        fetched by catch-up, never proposed.
        """
        base = max([self._log.first_unchosen] + [p.chosen_through for p in self._promises.values()])
        best: dict[int, PromiseEntry] = {}
        reports = [self._log.promise_entries(base)] + [p.entries for p in self._promises.values()]
        ignore_accepted = "ignore-phase1-values" in self._bugs
        for entries in reports:
            for e in entries:
                if e.slot < base or (ignore_accepted and not e.chosen):
                    continue
                cur = best.get(e.slot)
                if cur is None or (e.chosen and not cur.chosen) or (not cur.chosen and e.ballot > cur.ballot):
                    best[e.slot] = e
        return base, {s: e.batch for s, e in best.items()}

    def _become_leader(self) -> None:
        _invariant(self._role is Role.CANDIDATE, f"become_leader from {self._role}")
        _invariant(self._promised == self._ballot, "leader without its own promise")
        base, values = self._phase1_values()
        self._role = Role.LEADER
        self._leader_id = self.node_id
        self._proposals, self._acks, self._heard = {}, {}, set()
        top = max(values, default=base - 1)
        # re-propose constrained slots, fill unconstrained gaps with no-ops (the seed's stop-gap)
        self._next_slot = base
        new = [self._self_accept(s, values.get(s, NOOP)) for s in range(base, top + 1)]
        _invariant(self._next_slot == top + 1, "phase-1 slots not all re-proposed")
        self._broadcast_accepts(new)
        self._heartbeat_elapsed = 0
        self._retransmit_elapsed = 0
        self._elapsed = 0
        if self._log.first_unchosen < base:
            src = next(n for n, p in self._promises.items() if p.chosen_through == base)
            self._note_progress(src, base)

    def _self_accept(self, slot: int, batch: Batch) -> Proposal:
        """Accept our own proposal for `slot` (the next one: `_next_slot` moves past it first, so that with
        a quorum of one the immediate `_learn` sees a slot within our proposals, not beyond them)."""
        _invariant(slot == self._next_slot, f"self-accept of slot {slot}, next is {self._next_slot}")
        self._next_slot = slot + 1
        self._log.accept(slot, self._ballot, batch)
        self._record(AcceptRecord(slot=slot, ballot=self._ballot, batch=batch), sync=True)
        self._proposals[slot] = batch
        self._acks[slot] = {self.node_id}
        if self.quorum == 1 or "early-reply" in self._bugs:  # bug: our own accept taken for a majority's
            self._learn(slot, batch)
        return Proposal(slot=slot, batch=batch)

    def _window_open(self) -> bool:
        return self._next_slot - self._log.first_unchosen < self.config.window

    def _flush_queue(self) -> None:
        """Assign queued client commands to new slots, `batch_max` per slot, within the window."""
        new: list[Proposal] = []
        while self._queue and self._window_open():
            n = min(len(self._queue), self.config.batch_max)
            batch = tuple(self._queue.popleft() for _ in range(n))
            new.append(self._self_accept(self._next_slot, batch))
        self._broadcast_accepts(new)

    def _broadcast_accepts(self, entries: Sequence[Proposal]) -> None:
        if not entries:
            return
        step = self.config.entries_per_message_max
        for i in range(0, len(entries), step):
            msg = Accept(ballot=self._ballot, commit=self._log.first_unchosen, entries=tuple(entries[i:i + step]))
            for p in self.peers:
                self._send(p, msg)
        self._heartbeat_elapsed = 0

    def _on_accepted(self, src: int, m: Accepted) -> None:
        if self._role is not Role.LEADER or m.ballot != self._ballot:
            return
        self._heard.add(src)
        for s in m.slots:
            acks = self._acks.get(s)
            if acks is None:
                continue
            acks.add(src)
            if len(acks) >= self.quorum:
                self._learn(s, self._proposals[s])
        self._note_progress(src, m.first_unchosen)

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            hb = Accept(ballot=self._ballot, commit=self._log.first_unchosen, entries=())
            for p in self.peers:
                self._send(p, hb)
        if self._retransmit_elapsed >= self.config.retransmit_ticks:
            self._retransmit_elapsed = 0
            self._retransmit_accepts()
        if self._elapsed >= self.config.election_timeout_ticks:
            self._elapsed = 0
            if len(self._heard) + 1 < self.quorum:
                self._become_follower()  # cut off from a majority: let clients go elsewhere
            self._heard = set()

    def _retransmit_accepts(self) -> None:
        """Resend in-flight slots to each peer that has not acknowledged them (one message per peer)."""
        limit = self.config.entries_per_message_max
        for p in self.peers:
            missing: list[Proposal] = []
            for s in sorted(self._proposals):
                if p not in self._acks[s]:
                    missing.append(Proposal(slot=s, batch=self._proposals[s]))
                    if len(missing) >= limit:
                        break
            if missing:
                self._send(p, Accept(ballot=self._ballot, commit=self._log.first_unchosen, entries=tuple(missing)))

    # ------------------------------------------------------------------ transitions
    def _become_follower(self) -> None:
        self._role = Role.FOLLOWER
        self._promises = {}
        self._queue.clear()
        self._proposals, self._acks, self._heard = {}, {}, set()
        self._elapsed = 0
        self._timeout = self._random_timeout()
