"""The core's documented contracts that no history shows, checked on everything a simulated replica
does: what it answers its clients, what it sends its peers, and when.

A history and the replicas' logs show safety; these are the promises of `CoreConfig` and of the host
API that a user (the HTTP layer, an operator sizing messages, a peer waiting for heartbeats) relies on,
and that a mistake can break while every op stays linearizable:

- **Reply shape**: a client's answer carries the kv's `Result` (or none: not proposed) and a leader
  hint that is None or a node id of the cluster (`replica_image.loop.leader_problem`, the rule of
  /status too); the HTTP layer encodes both as JSON and looks the hint up among its peers, so
  anything else is a 500 there.
- **Message bounds**: no Accept or Chosen carries more than `entries_per_message_max` slots (the
  config's own words: "slots per Accept / Chosen message").
- **Heartbeats**: a leader sends every peer an Accept (entries or a heartbeat) at least every
  `heartbeat_ticks` ticks of its own clock; a candidate re-sends its Prepare to every peer that has not
  promised at least every `retransmit_ticks` ticks.
- **Retransmit pacing**, the other side of that timer: after a slot's first send to a peer in a
  ballot, a leader resends it there at most once per `retransmit_ticks` of its clock (its first resend
  may come at any tick: one timer serves every slot). One that resent faster would flood a slow or
  lagging peer, and still converge.
- **Retransmit content**: a resend round to a peer carries the slots the leader proposed in its
  ballot that the peer has not acknowledged (an `Accepted` of that ballot reached the leader) and that
  it has not learned chosen since (nor installed a peer's snapshot over), lowest first, as many as
  one message holds (`entries_per_message_max`). One that resent fewer would take a round trip per
  slot to repair a lost message, one that resent acknowledged slots would spend messages for nothing,
  and one that skipped the lowest would hold back the first unchosen slot, which every later one
  waits on. And not late: a peer with such a slot gets an Accept with entries within
  `retransmit_ticks` of the last one (or of the term's start).
- **No step-down for a snapshot over nothing of its own**: a leader that installs a peer's snapshot
  steps down only if the snapshot covers a slot it has in flight (the step-down below); one that
  stepped down anyway would leave its clients and peers without a leader for an election.
- **Check quorum** (etcd's CheckQuorum; `CoreConfig.election_timeout_ticks` promises it): a leader
  that hears from no majority for an election timeout steps down. The network is the simulator's, so
  it knows which peers a leader could hear: those whose link to it was open at some moment. A leader
  still leading after `checkquorum_ticks_max` of its own ticks in which those peers, all together,
  were fewer than a majority (itself included) broke it (see that function for the bound).
- **Step-down before a foreign commit** (replica.py's "Commit piggyback"): a leader's `Accept.commit`
  tells followers to learn every slot below it they accepted in its ballot, which is right only while
  every value chosen where it proposed is its own. So after any input, a node still leading at ballot
  b has not (a) learned a value chosen in a slot where it proposed another one in b, (b) learned a
  slot chosen at or beyond its next slot (above all it proposed in b, or, having proposed nothing, at
  or above the first slot it could propose in): only a higher ballot chooses there, nor (c) installed
  a peer's snapshot covering a slot it proposed in b and never saw chosen (its own host's snapshots
  cover only slots it applied). Its proposals are read from its own AcceptRecords, what it learned
  from the ChosenRecords and SnapshotRecords it persists.
- **P2c as a new leader proposes** (Paxos Made Simple; replica.py `_phase1_values`): each slot a new
  leader re-proposes carries the value a Promise of its candidacy reported chosen there, else that of
  the highest ballot the Promises reported, unless its own accept there outranks them. Checked at the
  proposal, before any replica learns it; a safety finding (agreement), like the world's P1a and P2.
- **Phase 2 at once**: a candidate that holds the promises of a majority for its ballot (its own
  included) leads after that input; one that waited for more would stall whenever only a bare
  majority is up.
- **Pipelining**: every slot a leader proposes (an AcceptRecord of its own ballot) goes to every peer
  in an Accept of that same Ready; it is not left for the retransmit timer, a round trip later.
- **Queue and window** (`queue_max`, `window`): after an input, a leader holds at most `queue_max`
  queued commands; if it holds any, its window is full (`window` slots in flight from its first
  unchosen one: a queued command takes the next free slot at once); and an input in which it put
  queued commands in slots leaves at most `window` in flight. A new leader's phase-1 re-proposals
  may exceed the window: they are not queued commands.
- **No-ops only fill gaps** (replica.py: "no-ops fill unconstrained gaps"): a new leader proposes a
  no-op only at a slot at or below the highest one its phase 1 reported (its own records, over all
  its incarnations, and the Promises that reached it in that candidacy), and a leader never proposes
  one afterwards: a no-op past that top is a slot wasted, and one more for every follower to learn.
- **Timers not early**, the other side of the heartbeats: a leader's heartbeat (an empty Accept) to a
  peer leaves no sooner than `heartbeat_ticks` after it began leading, its last heartbeat to that
  peer, or its last new proposal (each restarts the timer; a resend does not); a candidate's Prepare
  to a peer no sooner than `retransmit_ticks` after its last one in that candidacy; and a leader's
  resends to a peer no sooner than `retransmit_ticks` after it began leading or last resent there
  (one timer, started with the term). Early timers spend messages and wake idle peers for nothing.
- **Yield to a higher ballot** (Paxos Made Simple: a proposer "should abandon its proposal" once one
  with a higher number has begun): a candidate or leader that, in one input, is told of a ballot
  above its own (a Nack answering its current ballot, or a Prepare or Accept of a higher ballot it
  took) is a follower after that input. One that went on would keep sending what every acceptor
  refuses, and keep its clients waiting on it.
- **No needless catch-up**: a node asks a peer for chosen slots from `f` on (Catchup) only if some
  peer told it that a slot at or above `f` is chosen: an `Accept.commit`, an `Accepted.first_unchosen`
  or a `Promise.chosen_through` above `f`. (An acceptor that ignores a Prepare whose promise would not
  fit `MAX_ENTRIES` also catches up first; no simulated log reaches that size.) And the same
  request (no progress since the last) is repeated only after `retransmit_ticks`.

The world reports a bad reply or an oversized message as an error of the replica (a 500, a message
a peer may refuse), and a leader leading on where its commit could cover a foreign value too: the step
before a safety violation. A late or early timer, a missed check-quorum step-down, a held-back
proposal, a wrong queue or window, a needless no-op or catch-up are lapses (`SimResult.liveness`, like
the retransmit pacing check): progress owed and not made, or messages spent for nothing, which no
end-of-run check could see.

A P2c breach is a safety finding: the world records it as a disagreement.

Pure: the world feeds it what happens (`started`, `observe`, `load`, `sent`, `resent`, `adopted`,
`persisted`, `snapshot_taken`, `snapshot_step_down`, `delivered`, `ticked`, `reply`, `partitions`) and
it answers with the text of a violation, or None. Time is counted in each node's own ticks, so a
paused or crashed node's clock stops with it, as the core's does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from targets.paxos.core import (
    Accept, Accepted, AcceptRecord, Ballot, Batch, Catchup, Chosen, ChosenRecord, CoreConfig, Envelope, Nack, Prepare, Promise, Record,
    Result, Role, Snapshot, SnapshotRecord, leader_problem,
)

__all__ = ["Contracts", "checkquorum_ticks_max", "yield_problem"]

RESENDS_TRACKED = 1_024  # slots per link the retransmit pacing contract remembers (the newest)


@dataclass
class _Proposals:
    """What a node proposed in its latest ballot as leader (read from its own AcceptRecords)."""

    ballot: Ballot
    top: int = -1                                                # the highest slot it proposed in
    pending: dict[int, Batch] = field(default_factory=dict)     # slot -> batch, not learned chosen yet
    # slot -> the peers that acknowledged it, for each slot it proposed in this ballot and has not
    # learned chosen since (nor installed a peer's snapshot over): what a resend round draws from
    in_flight: dict[int, set[int]] = field(default_factory=dict)


def _show(batch: Batch) -> str:
    return "a no-op" if not batch else f"{len(batch)} command(s) from {batch[0].client_id}#{batch[0].request_id}"


def _slots(slots: Sequence[int]) -> str:
    """A list of slots for a person: the first few, and how many more."""
    shown = ", ".join(map(str, slots[:6]))
    return f"[{shown}{f', ... ({len(slots)} in all)' if len(slots) > 6 else ''}]"


def _ticks_of(table: dict[tuple[int, int], tuple[Ballot, int]], link: tuple[int, int], ballot: Ballot) -> list[int]:
    """The tick `table` holds for `link`, if it was noted in `ballot` (a new ballot starts afresh)."""
    noted = table.get(link)
    return [noted[1]] if noted is not None and noted[0] == ballot else []


def yield_problem(i: int, msg: object, before: tuple[Role, Ballot], after: tuple[Role, Ballot]) -> str | None:
    """Node i stepped `msg`, (role, ballot) `before` and `after`: did it fail to yield to a higher ballot?"""
    (role, ballot), (now, promised) = before, after
    if role is Role.FOLLOWER or now is Role.FOLLOWER:
        return None
    if isinstance(msg, Nack) and msg.rejected == ballot and msg.ballot > ballot:
        told = f"a Nack naming {msg.ballot}"
    elif isinstance(msg, (Prepare, Accept)) and promised > ballot:
        told = f"a {type(msg).__name__} of {msg.ballot} it took"
    else:
        return None
    return f"node {i}, {role.value} at {ballot}, is still {now.value} after {told}: it must yield to a higher ballot"


def checkquorum_ticks_max(config: CoreConfig) -> int:
    """Ticks a leader cut off from a majority may still lead: two election timeouts.

    The core checks what it heard at the end of each window of `election_timeout_ticks`, counting every
    peer heard at any moment of it. Any 2 x timeout consecutive ticks hold one whole window; if the
    peers the network let it hear during those ticks are too few, so are those it heard in that
    window, and it steps down at its end, counted in its own ticks.
    """
    return 2 * config.election_timeout_ticks


class Contracts:
    """The contracts of the module docstring, for the replicas `ids` running with `config`.

    Every method returns the text of the first violation it sees in that input, or None; the caller
    records it (the world keeps the first of a run).
    """

    def __init__(self, ids: Sequence[int], config: CoreConfig) -> None:
        self.ids = frozenset(ids)
        self.config = config
        self._majority = len(self.ids) // 2 + 1
        self._ticks = {i: 0 for i in ids}                  # ticks of node i's current incarnation
        self._term: dict[int, tuple[Role, Ballot]] = {}    # role and ballot after node i's last input
        self._since: dict[int, int] = {}                   # the tick node i's current term began
        self._last: dict[int, dict[int, int]] = {}         # node -> peer -> tick of its last Accept/Prepare to it
        self._promised: dict[int, set[int]] = {}           # candidate -> peers whose promise reached it
        # node -> the peers whose link to it is open now, and those open at some moment since its last tick
        self._audible: dict[int, frozenset[int]] = {i: self.ids - {i} for i in ids}
        self._audible_tick: dict[int, set[int]] = {i: set(self.ids - {i}) for i in ids}
        # leader -> the peers it could hear during each of its last checkquorum_ticks_max ticks of its term
        self._heard_window: dict[int, deque[frozenset[int]]] = {}
        # (src, dst) -> the ballot of src's last Accept with entries to dst, and slot -> (sends, tick of the last)
        self._resends: dict[tuple[int, int], tuple[Ballot, dict[int, tuple[int, int]]]] = {}
        self._entries_sent: dict[int, dict[int, int]] = {}  # leader -> peer -> tick of its last Accept with entries
        self._before_snapshot: dict[int, list[int]] = {}    # node -> its slots in flight as a Snapshot reached it
        # node -> its proposals in its latest ballot; and the step-down it owes at the end of this input
        self._proposals: dict[int, _Proposals] = {}
        self._owed: dict[int, tuple[Ballot, str]] = {}
        self._flushed: dict[int, bool] = {}       # node -> it proposed as the leader it already was, this input
        self._own_snapshot: dict[int, int] = {}   # node -> the slot of the snapshot its host just took
        # node -> (ballot, peer, slot) of every Accept entry it sent during the current input
        self._sent_now: dict[int, set[tuple[Ballot, int, int]]] = {}
        # node -> the highest slot any record of it ever named (over its incarnations: at least what its
        # log reports in a phase 1), and the highest slot the promises of its candidacy reported
        self._log_top: dict[int, int] = {}
        self._reported: dict[int, int] = {}
        # (node, peer) -> ballot and tick of its last heartbeat-timer reset for that peer / last Prepare to it
        self._beat: dict[tuple[int, int], tuple[Ballot, int]] = {}
        self._prepared: dict[tuple[int, int], tuple[Ballot, int]] = {}
        self._round: dict[tuple[int, int], tuple[Ballot, int]] = {}  # ... and of its last resend to that peer
        # node -> the highest first unchosen slot a peer ever told it of (a fact: it stays true on restarts)
        self._told: dict[int, int] = {}
        self._asked: dict[int, tuple[int, int]] = {}  # node -> from_slot and tick of its last Catchup
        # node -> the slots its records say it learned chosen: all below a prefix, and those above it (a
        # fact kept over restarts: a lost record only makes a later check weaker)
        self._chosen: dict[int, tuple[int, set[int]]] = {}
        # candidate -> slot -> the report its phase 1 must adopt there from the Promises that reached it:
        # (ballot, batch, chosen), a chosen one first, else the highest ballot; and node -> slot -> the
        # highest ballot it accepted there itself (its own report, which may outrank them)
        self._phase1: dict[int, dict[int, tuple[Ballot, Batch, bool]]] = {}
        self._own_ballot: dict[int, dict[int, Ballot]] = {}

    def ticks(self, i: int) -> int:
        """Node i's clock: the ticks of its current incarnation (the election timer counts in them too)."""
        return self._ticks[i]

    # ------------------------------------------------------------------ what the world reports
    def started(self, i: int) -> None:
        """Node i (re)started: a new incarnation, with its own clock and no term yet."""
        self._ticks[i] = 0
        self._forget(i)
        self._proposals.pop(i, None)
        self._own_snapshot.pop(i, None)
        self._sent_now.pop(i, None)
        self._flushed.pop(i, None)
        self._asked.pop(i, None)

    def observe(self, i: int, role: Role, ballot: Ballot) -> str | None:
        """Node i's role and ballot after an input (a tick, a message, a request, its start): does it
        still lead in a ballot whose commit could now cover a value not its own (`persisted`)?"""
        owed = self._owed.pop(i, None)
        self._sent_now.pop(i, None)
        term = (role, ballot)
        broken = None
        if owed is not None and term == (Role.LEADER, owed[0]):
            broken = (f"node {i} still leads at {ballot} after it {owed[1]}: its commit could cover a value "
                      "not its own, so it must step down first (commit piggyback)")
        if self._term.get(i) == term:
            return broken
        self._forget(i)
        self._term[i] = term
        # the messages of the input that began the term went out at this very tick
        self._since[i] = self._ticks[i]
        return broken

    def load(self, i: int, queued: int, next_slot: int, first_unchosen: int) -> str | None:
        """Node i, done with an input (every Ready of it carried out), has `queued` client commands
        waiting, proposes in `next_slot` next and has chosen every slot below `first_unchosen` (the
        world asks only of leaders and candidates: a follower has no queue)."""
        proposed = self._flushed.pop(i, False)  # it put queued commands in new slots in that input
        term = self._term.get(i)
        promised = self._promised.get(i, set())
        if term is not None and term[0] is Role.CANDIDATE and 1 + len(promised) >= self._majority:
            return (f"node {i} is still a candidate at {term[1]} with the promises of nodes "
                    f"{','.join(map(str, sorted(promised)))} and its own, a majority: phase 2 begins at once")
        if term is None or term[0] is not Role.LEADER:
            return None
        props = self._proposals.get(i)
        if props is None or props.ballot != term[1]:  # a leader that proposed nothing yet: none below next_slot
            self._proposals[i] = _Proposals(term[1], top=next_slot - 1)
        cfg, in_flight = self.config, next_slot - first_unchosen
        if queued > cfg.queue_max:
            return f"node {i}, leader at {term[1]}, holds {queued} queued commands, above queue_max {cfg.queue_max}"
        if queued and in_flight < cfg.window:
            return (f"node {i}, leader at {term[1]}, left {queued} commands queued with only {in_flight} slots in "
                    f"flight, below its window of {cfg.window} (a queued command takes the next free slot)")
        if proposed and in_flight > cfg.window:
            return (f"node {i}, leader at {term[1]}, proposed queued commands up to {in_flight} slots in flight, "
                    f"beyond its window of {cfg.window}")
        return None

    def adopted(self, i: int, records: Sequence[Record]) -> str | None:
        """P2c at the moment of proposing: node i persisted `records`; each slot a new leader proposes in
        its phase 1 (before `observe` sees it lead) carries the value chosen there if a Promise reported
        one, else that of the highest ballot the Promises reported, unless its own accept there is of a
        higher ballot still (or it knows the slot chosen). Its own accepts are read from its records,
        over its incarnations: a record a crash lost only makes the check skip a slot."""
        reports = self._phase1.get(i, {})
        own = self._own_ballot.setdefault(i, {})
        broken = None
        for rec in records:
            if not isinstance(rec, AcceptRecord):
                if isinstance(rec, SnapshotRecord):  # slots it covers are never proposed again
                    for s in [s for s in own if s <= rec.last_slot]:
                        del own[s]
                continue
            rep = reports.get(rec.slot)
            if (rec.ballot.node == i and rep is not None and self._term.get(i) != (Role.LEADER, rec.ballot)
                    and rep[1] != rec.batch and broken is None and not self._learned(i, rec.slot)
                    and (rep[2] or own.get(rec.slot, Ballot.ZERO) <= rep[0])):
                what = "chosen" if rep[2] else f"accepted in ballot {rep[0]}, the highest reported"
                broken = (f"node {i} began leading at {rec.ballot} proposing {_show(rec.batch)} in slot {rec.slot}, "
                          f"where its phase 1 reported {_show(rep[1])} {what} (P2c)")
            if rec.ballot > own.get(rec.slot, Ballot.ZERO):
                own[rec.slot] = rec.ballot
        return broken

    def snapshot_taken(self, i: int, slot: int) -> None:
        """Node i's host took a snapshot through `slot`: the SnapshotRecord that follows is its own."""
        self._own_snapshot[i] = slot

    def persisted(self, i: int, records: Sequence[Record]) -> str | None:
        """Node i carried out a Ready that persisted `records` (its messages sent first): a leader's new
        proposals left at once, no-ops only fill gaps; and which step-down does it owe (`observe`)?"""
        top_before = self._log_top.get(i, -1)
        leading = self._term.get(i)
        props = self._proposals.get(i)
        sent = self._sent_now.get(i, set())
        broken: str | None = None
        for rec in records:
            if isinstance(rec, AcceptRecord) and rec.ballot.node == i:  # its own proposal
                b, s = rec.ballot, rec.slot
                if props is None or props.ballot != b:
                    props = self._proposals[i] = _Proposals(b)
                props.in_flight[s] = set()
                props.top = max(props.top, s)
                if not self._learned(i, s):  # a re-proposal of a slot it knows chosen is never learned again
                    props.pending[s] = rec.batch
                if leading == (Role.LEADER, b):  # leading before this input: a queued command, not phase 1
                    self._flushed[i] = True
                missing = [p for p in sorted(self.ids - {i}) if (b, p, s) not in sent]
                if missing and broken is None:
                    broken = (f"node {i} proposed slot {s} in ballot {b} and did not send it to node {missing[0]} "
                              "in that same Ready (a new proposal leaves at once: pipelining)")
                for p in self.ids - {i}:  # the heartbeat timer restarts with every broadcast
                    self._beat[(i, p)] = (b, self._ticks[i])
                if not rec.batch and broken is None:  # the no-op (an empty batch: no client sends one)
                    if leading == (Role.LEADER, b):
                        broken = f"node {i}, leader at {b}, proposed a no-op in slot {s} after its phase 1"
                    elif s > max(top_before, self._reported.get(i, -1)):
                        broken = (f"node {i} began leading at {b} with a no-op in slot {s}, above every slot its phase 1 "
                                  f"reported (at most {max(top_before, self._reported.get(i, -1))}): no-ops only "
                                  "fill gaps")
            elif isinstance(rec, ChosenRecord) and props is not None:
                self._learn(i, rec.slot)
                props.in_flight.pop(rec.slot, None)
                mine = props.pending.pop(rec.slot, None)
                if mine is not None and mine != rec.batch:
                    self._owed.setdefault(i, (props.ballot, f"learned slot {rec.slot} chosen with another value "
                                                            "than the one it proposed there"))
                elif rec.slot > props.top:
                    self._owed.setdefault(i, (props.ballot, f"learned slot {rec.slot} chosen, above every slot it "
                                                            f"proposed in or skipped as chosen (up to {props.top})"))
            elif isinstance(rec, ChosenRecord):
                self._learn(i, rec.slot)
            elif isinstance(rec, SnapshotRecord):
                own = self._own_snapshot.get(i) == rec.last_slot  # its host's: it covers only applied slots
                if own:
                    del self._own_snapshot[i]
                covered = [] if props is None else [s for s in props.pending if s <= rec.last_slot]
                if props is not None and covered:
                    if not own:
                        self._owed.setdefault(i, (props.ballot, f"installed a peer's snapshot through slot "
                                                                f"{rec.last_slot}, over slot {min(covered)} it "
                                                                "proposed in and never saw chosen"))
                    for s in covered:
                        del props.pending[s]
                # a peer's snapshot ends them; its own host's does not: a slot it re-proposed knowing it
                # chosen is never learned again, so it stays in flight until every peer acknowledged it
                inflight = {} if props is None or own else props.in_flight
                for s in [s for s in inflight if s <= rec.last_slot]:
                    del inflight[s]
                self._learn(i, rec.last_slot, through=True)
            slot = rec.last_slot if isinstance(rec, SnapshotRecord) else getattr(rec, "slot", -1)
            self._log_top[i] = max(self._log_top.get(i, -1), slot)
        self._sent_now.pop(i, None)
        return broken

    def sent(self, env: Envelope) -> str | None:
        """Node env.src sends env: bounded, and (for the timing contracts) when."""
        msg = env.msg
        if isinstance(msg, (Accept, Chosen)) and len(msg.entries) > self.config.entries_per_message_max:
            return (f"node {env.src} sent node {env.dst} {type(msg).__name__} entries for {len(msg.entries)} slots, "
                    f"above entries_per_message_max {self.config.entries_per_message_max}")
        term = self._term.get(env.src)
        if term is not None and isinstance(msg, (Accept, Prepare)) and msg.ballot == term[1]:
            if (term[0] is Role.LEADER) == isinstance(msg, Accept):
                self._last.setdefault(env.src, {})[env.dst] = self._ticks[env.src]
        if isinstance(msg, Accept) and msg.entries:
            self._sent_now.setdefault(env.src, set()).update((msg.ballot, env.dst, e.slot) for e in msg.entries)
            if term == (Role.LEADER, msg.ballot):
                self._entries_sent.setdefault(env.src, {})[env.dst] = self._ticks[env.src]
        return None

    def _catchup(self, i: int, dst: int, from_slot: int) -> str | None:
        """No needless catch-up, and none repeated early: the same request (no progress since) again
        only after `retransmit_ticks`; a node that did progress asks for the rest at once."""
        if from_slot >= self._told.get(i, 0):
            return (f"node {i} asked node {dst} to catch it up from slot {from_slot}, and no peer ever "
                    f"told it of a slot chosen there or above (the highest it heard of: below "
                    f"{self._told.get(i, 0)}): a needless catch-up")
        now, last = self._ticks[i], self._asked.get(i)
        self._asked[i] = (from_slot, now)
        if last is not None and last[0] == from_slot and now - last[1] < self.config.retransmit_ticks:
            return (f"node {i} asked again to catch up from slot {from_slot} {now - last[1]} ticks after the last "
                    f"time, within its retransmit_ticks of {self.config.retransmit_ticks}")
        return None

    def _early(self, env: Envelope) -> str | None:
        """Timers not early: a heartbeat (an empty Accept) leaves `heartbeat_ticks` after the leader's
        last heartbeat or new proposal to that peer, or after it began leading; a candidate resends its
        Prepare to a peer `retransmit_ticks` after the last one. Found sooner: a lapse (`early`)."""
        msg, i, now = env.msg, env.src, self._ticks[env.src]
        if isinstance(msg, Accept) and not msg.entries:
            period, name, what, table = self.config.heartbeat_ticks, "heartbeat_ticks", "heartbeat", self._beat
            ref = _ticks_of(table, (i, env.dst), msg.ballot)
            if self._term.get(i) == (Role.LEADER, msg.ballot):
                ref.append(self._since[i])
        elif isinstance(msg, Prepare):
            period, name, what, table = self.config.retransmit_ticks, "retransmit_ticks", "Prepare", self._prepared
            ref = _ticks_of(table, (i, env.dst), msg.ballot)
        else:
            return None
        table[(i, env.dst)] = (msg.ballot, now)
        if ref and now - max(ref) < period:
            return (f"node {i} sent node {env.dst} a {what} of ballot {msg.ballot} {now - max(ref)} ticks after "
                    f"the last, sooner than its {name} of {period}")
        return None

    def resent(self, env: Envelope) -> str | None:
        """Node env.src sends env: if it is an Accept with entries, is any of them resent too soon?
        Kept per ballot, not per term: a new leader's first broadcast goes out before `observe` sees it lead."""
        msg = env.msg
        if isinstance(msg, Catchup):
            return self._catchup(env.src, env.dst, msg.from_slot)
        if not isinstance(msg, Accept) or not msg.entries:
            return self._early(env)
        ballot, sent = self._resends.get((env.src, env.dst), (msg.ballot, {}))
        if ballot != msg.ballot:
            sent = {}
        self._resends[(env.src, env.dst)] = (msg.ballot, sent)
        now, period, broken = self._ticks[env.src], self.config.retransmit_ticks, None
        if any(e.slot in sent for e in msg.entries):  # a retransmit round: one per timer period of the term
            broken = self._resend_content(env.src, env.dst, msg)
            ref = _ticks_of(self._round, (env.src, env.dst), msg.ballot)
            if self._term.get(env.src) == (Role.LEADER, msg.ballot):
                ref.append(self._since[env.src])
            if ref and now - max(ref) < period and broken is None:
                broken = (f"node {env.src} resent ballot {msg.ballot}'s proposals to node {env.dst} {now - max(ref)} "
                          f"ticks after it began leading or last resent, within its retransmit_ticks of {period} "
                          "(retransmit pacing)")
            self._round[(env.src, env.dst)] = (msg.ballot, now)
        for e in msg.entries:
            count, last = sent.get(e.slot, (0, now))
            if count >= 2 and now - last < period and broken is None:
                broken = (f"node {env.src} resent slot {e.slot} of ballot {msg.ballot} to node {env.dst} "
                          f"{now - last} ticks after the last time, within its retransmit_ticks of {period} "
                          "(retransmit pacing)")
            sent[e.slot] = (count + 1, now)
        if len(sent) > 4 * RESENDS_TRACKED:  # chosen slots are never resent: forget the oldest
            for s in sorted(sent)[:len(sent) - RESENDS_TRACKED]:
                del sent[s]
        return broken

    def _resend_content(self, i: int, dst: int, msg: Accept) -> str | None:
        """Retransmit content: the lowest slots of its ballot `dst` has not acknowledged, up to the limit."""
        inflight = self._in_flight(i, msg.ballot)
        if inflight is None:
            return None
        owed = [s for s in sorted(inflight) if dst not in inflight[s]][:self.config.entries_per_message_max]
        resent = [e.slot for e in msg.entries]
        if resent == owed:
            return None
        return (f"node {i} resent node {dst} slots {_slots(resent)} of ballot {msg.ballot}, where the lowest it "
                f"had not seen acknowledged there, up to entries_per_message_max "
                f"({self.config.entries_per_message_max}), were {_slots(owed)} (retransmit content)")

    def delivered(self, env: Envelope) -> None:
        """env is about to be stepped into node env.dst: a promise for its candidacy counts from now."""
        msg = env.msg
        told = (msg.commit if isinstance(msg, Accept) else msg.first_unchosen if isinstance(msg, Accepted)
                else msg.chosen_through if isinstance(msg, Promise) else 0)
        if told > self._told.get(env.dst, 0):
            self._told[env.dst] = told
        term = self._term.get(env.dst)
        if isinstance(msg, Snapshot):
            mine = self._in_flight(env.dst, term[1]) if term is not None and term[0] is Role.LEADER else None
            self._before_snapshot[env.dst] = sorted(mine or {})
        if isinstance(msg, Accepted) and term == (Role.LEADER, msg.ballot):
            inflight = self._in_flight(env.dst, msg.ballot) or {}
            for s in msg.slots:
                if s in inflight:
                    inflight[s].add(env.src)
        if isinstance(env.msg, Promise) and term == (Role.CANDIDATE, env.msg.ballot):
            self._promised.setdefault(env.dst, set()).add(env.src)
            if env.msg.entries:
                top = max(e.slot for e in env.msg.entries)
                self._reported[env.dst] = max(self._reported.get(env.dst, -1), top)
            best = self._phase1.setdefault(env.dst, {})
            for e in env.msg.entries:
                cur = best.get(e.slot)
                if cur is None or (e.chosen and not cur[2]) or (not cur[2] and e.ballot > cur[0]):
                    best[e.slot] = (e.ballot, e.batch, e.chosen)

    def ticked(self, i: int) -> None:
        """Node i is about to run one tick of its clock."""
        self._ticks[i] += 1

    def after_tick(self, i: int) -> str | None:
        """Node i ran a tick (and `observe` saw its role after it): is it late, or leading cut off?"""
        term = self._term.get(i)
        if term is None:
            return None
        role, ballot = term
        could_hear = frozenset(self._audible_tick[i])
        self._audible_tick[i] = set(self._audible[i])
        if role is Role.LEADER:
            bound = checkquorum_ticks_max(self.config)
            window = self._heard_window.setdefault(i, deque(maxlen=bound))
            window.append(could_hear)
            heard = frozenset().union(*window)
            if len(window) == bound and 1 + len(heard) < self._majority:
                return (f"node {i} still leads at {ballot} after {bound} ticks in which the network let it hear "
                        f"{'only nodes ' + ','.join(map(str, sorted(heard))) if heard else 'no peer'}, no majority; "
                        f"it must step down within 2 x election_timeout_ticks ({bound})")
        if role is Role.LEADER:
            return (self._late(i, self.ids - {i}, self.config.heartbeat_ticks, "Accept", "heartbeat_ticks")
                    or self._late_resend(i, ballot))
        if role is Role.CANDIDATE:
            waiting = self.ids - {i} - self._promised.get(i, set())
            return self._late(i, waiting, self.config.retransmit_ticks, "Prepare", "retransmit_ticks")
        return None

    def partitions(self, blocked: Iterable[tuple[int, int]]) -> None:
        """The network's cut links changed (`blocked`: (src, dst) pairs; 0 is the clients)."""
        # Node i cannot hear peer j while the link j -> i is cut: a partition drops what is in flight on
        # it too. A cut of i -> j alone does not count: j's answers to Accepts that crossed before the cut
        # may still arrive over j -> i, a slow one 80 ticks later (a 40 ms link's 20x); and j, hearing no
        # leader, soon sends it a higher Prepare over that same link, which ends its term anyway.
        # The core counts the peers it heard over a whole election timeout, not at one instant: a leader
        # that hears one peer, then another, may rightly stay. So what it could hear is kept per tick, as
        # the union of the peers whose link was open at any moment of that tick.
        cut = set(blocked)
        for i in self.ids:
            self._audible[i] = frozenset(j for j in self.ids - {i} if (j, i) not in cut)
            self._audible_tick[i] |= self._audible[i]

    def reply(self, i: int, result: object, leader: object) -> str | None:
        """Node i answers a client: the kv's Result or None, and a hint the HTTP layer can encode."""
        if result is not None and not isinstance(result, Result):
            return f"node {i} answered a client with {type(result).__name__} {result!r:.80}, not a Result or None"
        hint = leader_problem(leader, self.ids)  # the rule of /status too: one copy
        if hint is not None:
            return f"node {i} answered a client with a bad leader hint ({type(leader).__name__}): {hint}; a 500 over HTTP"
        return None

    # ------------------------------------------------------------------ helpers
    def _learned(self, i: int, slot: int) -> bool:
        prefix, above = self._chosen.get(i, (0, set()))
        return slot < prefix or slot in above

    def _learn(self, i: int, slot: int, *, through: bool = False) -> None:
        """Node i learned `slot` chosen (`through`: every slot up to it, a snapshot)."""
        prefix, above = self._chosen.setdefault(i, (0, set()))
        if through:
            prefix = max(prefix, slot + 1)
            above.difference_update([s for s in above if s < prefix])
        else:
            above.add(slot)
        while prefix in above:
            above.discard(prefix)
            prefix += 1
        self._chosen[i] = (prefix, above)

    def _late(self, i: int, peers: Iterable[int], period: int, what: str, name: str) -> str | None:
        """The first of `peers` that node i has sent no `what` of its term for `period` ticks: the core
        sends one at the tick its timer reaches `period`, so after a tick the gap is below it."""
        last = self._last.get(i, {})
        for p in sorted(peers):
            gap = self._ticks[i] - max(last.get(p, self._since[i]), self._since[i])
            if gap >= period:
                role, ballot = self._term[i]
                return (f"node {i}, {role.value} at {ballot}, sent node {p} no {what} for {gap} ticks "
                        f"(every {name}: {period})")
        return None

    def snapshot_step_down(self, i: int, last_slot: int, before: tuple[Role, Ballot], after: Role) -> str | None:
        """Node i took a peer's snapshot through `last_slot` as its input, `before` (role, ballot) and
        `after` (role): a leader steps down on one only if it covers a slot it had in flight (a Snapshot
        carries no ballot; the other direction is the step-down it owes, `persisted`)."""
        mine = self._before_snapshot.pop(i, [])
        if before[0] is not Role.LEADER or after is Role.LEADER or any(s <= last_slot for s in mine):
            return None
        return (f"node {i}, leader at {before[1]}, stepped down on a peer's snapshot through slot {last_slot}, "
                f"which covers none of the slots it had in flight ({_slots(mine) if mine else 'none'}): a "
                "needless step-down")

    def _late_resend(self, i: int, ballot: Ballot) -> str | None:
        """Retransmit not late: a peer that has not acknowledged a slot in flight gets an Accept with
        entries within `retransmit_ticks` of the last one (or of the term's start): the core's one
        timer, started with the term, resends to every such peer each time it reaches the period."""
        inflight = self._in_flight(i, ballot)
        if not inflight:
            return None
        last, period = self._entries_sent.get(i, {}), self.config.retransmit_ticks
        for p in sorted(self.ids - {i}):
            gap = self._ticks[i] - max(last.get(p, self._since[i]), self._since[i])
            if gap >= period:
                owed = [s for s in sorted(inflight) if p not in inflight[s]]
                if owed:
                    return (f"node {i}, leader at {ballot}, resent node {p} none of slots {_slots(owed)}, which it "
                            f"has not seen acknowledged there, for {gap} ticks (every retransmit_ticks: {period})")
        return None

    def _in_flight(self, i: int, ballot: Ballot) -> dict[int, set[int]] | None:
        """Node i's slots in flight in `ballot` (its latest as leader), each with the peers that
        acknowledged it; None for any other ballot."""
        props = self._proposals.get(i)
        return props.in_flight if props is not None and props.ballot == ballot else None

    def _forget(self, i: int) -> None:
        self._term.pop(i, None)
        self._entries_sent.pop(i, None)
        self._since.pop(i, None)
        self._last.pop(i, None)
        self._promised.pop(i, None)
        self._heard_window.pop(i, None)
        self._reported.pop(i, None)
        self._phase1.pop(i, None)
        self._flushed.pop(i, None)
