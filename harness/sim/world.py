"""One simulated run: N real replica cores, a seeded network and nemesis, recording clients, checks.

Everything happens on one virtual clock (microseconds) driven by an event queue; the only sources of
randomness are `random.Random` instances seeded from the run's seed, one per concern (network,
nemesis, each replica incarnation, each client), so one seed gives one history, byte for byte
(`tests/harness/sim/test_world.py`). Nothing here reads a clock, sleeps or does I/O, except the
checker's time budget, which can only turn a verdict into `unknown`.

A run (`simulate`):
1. `duration_ms` of workload: `concurrency` clients run the suite's op generator
   (`workloads.generator`) against random replicas, following leader hints, while the planned faults
   (`harness.sim.nemesis`) come and go;
2. the final heal: partitions lifted, crashed replicas restarted, crash points disarmed; clients
   finish what they have open;
3. final reads of every key through the log, then the checks:
   - linearizability of the history (the same checker as the Docker runs);
   - agreement: every replica applies, slot after slot, the value every other replica applied there
     (the simulator sees every replica's log, which a black-box run cannot);
   - liveness after the heal: one leader, and every replica at the same slot with the same state;
   and all run long, what no history shows: a follower's duties at each Accept (P1, the commit
   piggyback) and no needless step-down (here), the core's contracts (`harness.sim.contracts`: reply
   shape and message bound are errors of the replica; heartbeat and prepare timers, retransmit pacing
   and check quorum, like the duties, are lapses, with liveness), every replica's
   /status document (`status_problem`) and the host API's refusals (`harness.sim.misuse`), at each
   fault and at the end; at each restart, that the core holds what its durable records describe
   (`harness.sim.recovery`); and its refusal of forged peer messages (`harness.sim.forge`: the
   documented error and no change; every delivered message goes through the real host's gate,
   `check_peer_message`, first).

The config and result are `harness.sim.config`, the clients and their rules `harness.sim.clients`.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Callable

from harness.checker import CheckResult, check, model_for, operations
from harness.sim.clients import Clients
from harness.sim.config import SimConfig, SimResult, replica_core_config
from harness.sim.contracts import Contracts, yield_problem
from harness.sim.election_timer import ElectionTimer
from harness.sim.forge import Forger
from harness.sim.nemesis import Fault
from harness.sim.network import Network
from harness.sim.node import Disk, SimNode, Waiter, over_the_wire
from harness.sim.misuse import misuse_problem
from harness.sim.recovery import recovery_problem
from targets.errors import InternalError
from targets.paxos.core import (
    Accept,
    Accepted,
    AcceptRecord,
    Ballot,
    Batch,
    Catchup,
    Chosen,
    ChosenRecord,
    Command,
    Envelope,
    InvalidMessage,
    Prepare,
    PromiseRecord,
    ProtocolViolation,
    Record,
    Replica,
    ReplicaError,
    Result,
    Role,
    Snapshot,
    SnapshotRecord,
    check_peer_message,
    status_problem,
)
from workloads.generator import Op, OpGenerator
from workloads.history import HistoryRecorder
from workloads.spec import DEFAULT_MIX, WorkloadSpec

__all__ = ["SimConfig", "SimResult", "World", "simulate"]

# The record kinds a crash point waits for (harness.sim.nemesis.CrashRecord).
CRASH_RECORDS: dict[str, tuple[type, ...]] = {
    "promise": (PromiseRecord,), "accept": (AcceptRecord,),
    "any": (PromiseRecord, AcceptRecord, ChosenRecord, SnapshotRecord),
}

TICK_US = 10_000           # the replica's TICK_MS
FLUSH_US = 1_000_000       # bug no-fsync: the write-behind period of replica_image/host.py
FINAL_READ_ATTEMPTS = 20
HELD_ACKS_MAX = 10_000     # the stale-ack fault holds at most this many acknowledgements (then drops)
EVENTS_MAX = 20_000_000    # a run that needs more events than this is stuck in a loop: stop it


class _World:
    def __init__(self, cfg: SimConfig) -> None:
        assert cfg.net is not None and cfg.faults is not None and cfg.snapshot_every is not None
        self.cfg = cfg
        self.ids = list(range(1, cfg.n + 1))
        self.core_config = cfg.core or replica_core_config(cfg.bugs)
        self.now = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.net = Network(random.Random(f"{cfg.seed}/net"), cfg.net)
        self.rng = random.Random(f"{cfg.seed}/world")
        self.disks = {i: Disk() for i in self.ids}
        self.nodes: dict[int, SimNode | None] = {i: None for i in self.ids}
        self.incarnation = {i: 0 for i in self.ids}
        self.expect = {i: 0 for i in self.ids}      # the next slot each replica must apply
        self.chosen: dict[int, Batch] = {}
        self.agreement: str | None = None
        # the first replica that stopped on an internal error, or broke a contract of its host API or its
        # messages (a reply, a message bound, its /status document)
        self.error: str | None = None
        # the first lapse of a replica that is not a safety matter: progress it owed and did not make, or
        # messages sent faster than its config allows (a liveness finding)
        self.lapse: str | None = None
        # the step-down check: node -> since when it has been in touch with a majority (absent: not now)
        self.contact_since: dict[int, int] = {}
        self.contracts = Contracts(self.ids, self.core_config)  # its timers and check quorum are lapses
        self.election = ElectionTimer(self.core_config, self.contracts.ticks)  # a lapse too
        # the forged-message fault (harness.sim.forge): a stream of its own, so a run whose forgeries are
        # all refused is the run it would have been without them
        self.forger = Forger(random.Random(f"{cfg.seed}/forge/deliveries"), cfg.forge or 0.0, tuple(self.ids))
        # fault number -> links it cuts; a link (0, i) is the clients' link to node i
        self.partitions: dict[int, frozenset[tuple[int, int]]] = {}
        self.paused: dict[int, SimNode] = {}        # node -> its frozen host (SIGSTOP): no ticks, no input
        self.fault_log: list[str] = []
        self.recorder = HistoryRecorder(clock_ns=lambda: self.now * 1000)
        self.clients = Clients(self, cfg, ids=self.ids, recorder=self.recorder, rng=self.rng)
        self.workload_end = cfg.duration_ms * 1000
        self.armed: dict[int, tuple[tuple[type, ...], int]] = {}  # node -> (records, downtime): one-shot
        self._crashing: dict[int, tuple[int, str, bool]] = {}  # node -> (downtime, what, power loss): crash now
        self.final_from = 1 << 62                   # first process id of the final reads
        self.p1a_floor: dict[int, Ballot] = {}      # node -> the highest ballot it promised or accepted
        # (slot, ballot) -> node -> the value it accepted there (ever, durably): the P2 check's evidence
        self.accepted_at: dict[tuple[int, Ballot], dict[int, Batch]] = {}
        self.ballots_of: dict[int, set[Ballot]] = {}
        self.snapshot_last: dict[int, int] = {}     # node -> the last slot of its newest snapshot
        self.truncated: dict[int, int] = {}         # node -> slots it was seen to hold none at or below
        # the stale-leader fault: (fault number, fault, until) while waiting for a leader asking for
        # catch-up; node -> (its ballot, until, values lost too) while the higher ballot is kept from it;
        # node -> (its ballot, until, acknowledgements held back) while they wait for it to lead at a
        # higher ballot; and the node frozen, while no other fault begins
        self.stale_watch: tuple[int, Fault, int] | None = None
        self.stale_filter: dict[int, tuple[Ballot, int, bool]] = {}
        self.stale_frozen: int | None = None
        self.held: dict[int, tuple[Ballot, int, list[Envelope]]] = {}
        # the stale-ack fault: (fault number, fault, until) while waiting for a leader sending new
        # proposals; then (leader, follower, the leader's ballot, the follower's acknowledgements of that
        # ballot held on their slow link) until the leader sends proposals of a higher ballot
        self.ack_watch: tuple[int, Fault, int] | None = None
        self.ack_held: tuple[int, int, Ballot, list[Envelope]] | None = None
        # while the split lasts: (fault number, fault, leader, follower, the frozen spokes, the slots of the
        # proposals the split cut off), for the hub
        self.ack_split: tuple[int, Fault, int, int, tuple[int, ...], frozenset[int]] | None = None
        for i in self.ids:
            self._start(i)

    # ------------------------------------------------------------------ the clock
    def at(self, t: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (t, self._seq, fn))
        self._seq += 1

    def after(self, delay: int, fn: Callable[[], None]) -> None:
        self.at(self.now + delay, fn)

    def run_until(self, t: int) -> None:
        for _ in range(EVENTS_MAX):
            if not self._queue or self._queue[0][0] > t:
                self.now = t
                return
            when, _, fn = heapq.heappop(self._queue)
            self.now = when
            fn()
            if self._crashing:
                self._fire_crash_points()
        raise InternalError(f"simulator seed {self.cfg.seed}: more than {EVENTS_MAX} events before {t} us; "
                            "something schedules events without end (report it with the seed)")

    def log(self, text: str) -> None:
        self.fault_log.append(f"{self.now / 1000:9.1f} ms  {text}")

    # ------------------------------------------------------------------ replicas
    def _start(self, i: int) -> None:
        self.expect[i] = 0  # a restarted core hands its snapshot and chosen slots to the host again
        self.truncated.pop(i, None)  # and the memory of the new incarnation is looked at afresh
        self.p1a_floor[i] = max((r.ballot for r in self.disks[i].records if isinstance(r, (PromiseRecord, AcceptRecord))),
                                default=Ballot.ZERO)
        inc = self.incarnation[i]
        self.contracts.started(i)
        try:
            node = self.nodes[i] = SimNode(
                i, self.ids, self.core_config, disk=self.disks[i],
                rng=random.Random(f"{self.cfg.seed}/replica/{i}/{inc}"),
                send=self._send, reply=functools.partial(self._reply, i),
                on_commit=self._on_commit, crash_point=self._crash_point, snapshot_every=self.cfg.snapshot_every or 0,
                on_snapshot=self._on_snapshot_taken, on_recovered=functools.partial(self._check_recovered, i))
        except ReplicaError as exc:  # a real replica refuses to start on what its disk holds: it stays down
            self.nodes[i] = None
            self._contract(f"node {i} cannot start: {type(exc).__name__}: {exc}")
            return
        self._contract(self.contracts.observe(i, node.core.role, node.core.ballot))
        self.election.started(i, node.core.role, node.core.ballot)
        self.after(self.rng.randint(1, TICK_US), lambda: self._tick(i, inc))
        if "no-fsync" in self.cfg.bugs:
            self.after(self.rng.randint(1, FLUSH_US), lambda: self._flush(i, inc))

    def _check_recovered(self, i: int, core: Replica, records: tuple[Record, ...]) -> None:
        lost = recovery_problem(core, records)
        if lost is not None:
            self._contract(f"node {i} (re)started from {len(records)} durable records, but {lost}")

    def _alive(self, i: int, inc: int) -> SimNode | None:
        node = self.nodes[i]
        return node if node is not None and self.incarnation[i] == inc else None

    def _tick(self, i: int, inc: int) -> None:
        node = self._alive(i, inc)
        if node is not None:
            leading = node.core.role is Role.LEADER
            self._note_contact(i)
            self.contracts.ticked(i)  # the clock of the election timer too
            self._guard(i, node.tick)
            if leading and self.nodes[i] is node and node.core.role is not Role.LEADER:
                self._check_step_down(i)
            late = None
            if self._alive(i, inc) is node and not node.must_crash:  # a node stopped mid-tick sent the rest of nothing
                late = self.contracts.after_tick(i) or self.election.after_tick(i, node.core.role)
            if late is not None:  # a timer or a step-down it owed and did not keep: a lapse
                self._lapse(late)
            self.after(TICK_US, lambda: self._tick(i, inc))

    def _in_touch(self, i: int, j: int) -> bool:
        """Whether node i and node j are both running and every message between them arrives, at the
        network's plain delay, in both directions: no cut, no added latency, no fault holding or
        dropping some of them."""
        if self.nodes[j] is None or (i, j) in self.net.blocked or (j, i) in self.net.blocked:
            return False
        return not ((i, j) in self.net.link_delays or (j, i) in self.net.link_delays or self.held
                    or self.stale_filter or self.ack_held is not None or self.ack_split is not None)

    def _note_contact(self, i: int) -> None:
        """Keep `contact_since[i]`: since when node i has been in touch with a majority (itself included)."""
        peers = sum(1 for j in self.ids if j != i and self._in_touch(i, j))
        if peers + 1 < self.cfg.n // 2 + 1:
            self.contact_since.pop(i, None)
        else:
            self.contact_since.setdefault(i, self.now)

    def _check_step_down(self, i: int) -> None:
        """A leader steps down on its own (at a tick: no message told it of a higher ballot) only when a
        majority has not acknowledged it for an election timeout (etcd's CheckQuorum). One that has been
        in touch with a majority for two election timeouts, on a network that loses and stalls nothing,
        heard them: stepping down then is needless, an election (and unavailability) for nothing."""
        faults = self.net.faults
        since = self.contact_since.get(i)
        if since is None or faults.loss or faults.slow:
            return
        bound = 2 * self.core_config.election_timeout_ticks * TICK_US + 2 * faults.delay_us[1]
        if self.now - since >= bound:
            self._lapse(f"node {i} stepped down as leader on its own after {(self.now - since) / 1000:.0f} ms in touch "
                        f"with a majority (a leader steps down only when a majority has not acknowledged it)")

    def _flush(self, i: int, inc: int) -> None:
        node = self._alive(i, inc)
        if node is not None:
            node.flush()
            self.after(FLUSH_US, lambda: self._flush(i, inc))

    def crash(self, i: int, *, power: bool, torn: bool = True) -> None:
        """Kill node i, or cut its power: unsynced records are lost but a random prefix of them
        (`torn`), or all of them (a crash point: right after the write, nothing written back)."""
        node = self.nodes[i] or self.paused.pop(i, None)  # a frozen process can be killed too
        if node is None:
            return
        self.armed.pop(i, None)
        lost = self.disks[i].lose_power(self.rng if torn else None) if power else 0
        self.nodes[i] = None
        self.incarnation[i] += 1
        self.log(f"node {i} " + (f"loses power ({lost} unsynced records lost)" if power else "killed (kill -9)"))

    def restart(self, i: int) -> None:
        if i in self.paused:
            self.resume(i)
        elif self.nodes[i] is None:
            self._start(i)
            self.log(f"node {i} restarted")

    def pause(self, i: int) -> None:
        """Freeze node i (docker pause): it keeps its memory, but neither ticks nor hears anything
        (messages and client requests to it are lost) until `resume`."""
        node = self.nodes[i]
        if node is None:
            return
        self.paused[i] = node
        self.nodes[i] = None
        self.log(f"node {i} paused")

    def resume(self, i: int) -> None:
        node = self.paused.pop(i, None)
        if node is None:
            return
        self.nodes[i] = node
        inc = self.incarnation[i]
        self.after(TICK_US, lambda: self._tick(i, inc))
        self.log(f"node {i} resumed")

    def arm(self, i: int, record: str, down_us: int) -> bool:
        """Arm node i to crash right after its next Ready that synced a `record` record (promise,
        accept, any), and restart `down_us` later. False if it is down or already armed."""
        if self.nodes[i] is None or i in self.armed:
            return False
        self.armed[i] = (CRASH_RECORDS[record], down_us)
        return True

    def _crash_point(self, i: int, persisted: tuple[Record, ...]) -> bool:
        """Asked by node i after each Ready that persisted records, synced or not (its replies sent):
        must it crash now? (armed faults, then chance). The crash is a power loss with probability
        `crash_power` when the disk holds records not synced yet (else a kill: the same thing then)."""
        self._check_p1a(i, persisted)
        self._check_chosen(i, persisted)
        adopted = self.contracts.adopted(i, persisted)  # P2c as a new leader proposes: safety
        if adopted is not None:
            self._disagree(adopted)
        late = self.contracts.persisted(i, persisted)  # a proposal held back, a needless no-op: lapses
        if late is not None:
            self._lapse(late)
        if self.now >= self.workload_end:
            return False  # the final heal is on
        kinds = {type(r) for r in persisted}
        armed = self.armed.get(i)
        if armed is not None and kinds & set(armed[0]):
            del self.armed[i]
            down = armed[1]
        elif ((PromiseRecord in kinds and self.rng.random() < (self.cfg.crash_on_promise or 0.0))
              or (AcceptRecord in kinds and self.rng.random() < (self.cfg.crash_on_accept or 0.0))):
            low, high = self.cfg.restart_ms or (0, 0)
            down = round(1000 * low * (high / low) ** self.rng.random()) if low else 0
        else:
            return False
        disk = self.disks[i]
        unsynced = disk.synced < len(disk.records)
        power = unsynced and self.rng.random() < (self.cfg.crash_power or 0.0)
        # named only for the crashes themselves: this runs after every persisting Ready
        what = ", ".join(sorted(k.__name__.removesuffix("Record").lower() for k in kinds))
        self._crashing[i] = (down, f"{'wrote (not all synced)' if unsynced else 'synced'} {what} records", power)
        return True

    def _check_p1a(self, i: int, persisted: tuple[Record, ...]) -> None:
        """P1a on node i's records: a promise never goes below a ballot it already holds durably
        (promised or accepted), and an accept is never below a promise it holds. Only a simulator sees
        every acceptor's records; a replica that breaks the rule breaks the protocol even before a
        history shows it. The floor starts, at each (re)start, from what its disk kept."""
        floor = self.p1a_floor.get(i, Ballot.ZERO)
        for rec in persisted:
            if isinstance(rec, (PromiseRecord, AcceptRecord)):
                if rec.ballot < floor:
                    kind = "promised" if isinstance(rec, PromiseRecord) else "accepted"
                    self._disagree(f"node {i} {kind} ballot {rec.ballot} after durably holding {floor} (P1a)")
                floor = max(floor, rec.ballot)
        self.p1a_floor[i] = floor

    def _check_chosen(self, i: int, persisted: tuple[Record, ...]) -> None:
        """P2 at the moment of learning: a replica records a slot chosen only once a majority of
        acceptors has accepted that value in one ballot (each accept is recorded by its acceptor before
        it acknowledges, so the evidence is here before any acknowledgement can arrive). Counting
        acknowledgements of two ballots, or of fewer acceptors, breaks this before any history shows it."""
        for rec in persisted:
            if isinstance(rec, AcceptRecord):
                self.accepted_at.setdefault((rec.slot, rec.ballot), {})[i] = rec.batch
                self.ballots_of.setdefault(rec.slot, set()).add(rec.ballot)
            elif isinstance(rec, SnapshotRecord):
                self.snapshot_last[i] = max(self.snapshot_last.get(i, -1), rec.last_slot)
            elif isinstance(rec, ChosenRecord):
                majority = self.cfg.n // 2 + 1
                if not any(sum(v == rec.batch for v in self.accepted_at[(rec.slot, b)].values()) >= majority
                           for b in self.ballots_of.get(rec.slot, ())):
                    self._disagree(f"node {i} learned slot {rec.slot} chosen ({_show(rec.batch)}), but no majority "
                                   "accepted that value in any one ballot (P2)")

    def _fire_crash_points(self) -> None:
        for i, (down, what, power) in sorted(self._crashing.items()):
            self.log(f"node {i} crashes at a crash point{' (power loss)' if power else ''}: {what}, sent its "
                     f"replies; restarts in {down / 1000:.0f} ms")
            self.crash(i, power=power, torn=False)
            self.after(down, functools.partial(self.restart, i))
        self._crashing.clear()

    def _send(self, envs: tuple[Envelope, ...]) -> None:
        for env in envs:
            self._contract(self.contracts.sent(env))
            if self.stale_watch is not None and isinstance(env.msg, Catchup):
                self._stale_catchup(env.src)
            if isinstance(env.msg, Accept) and (self.ack_watch is not None or self.ack_held is not None):
                self._stale_ack_send(env.src, env.msg)
            elif isinstance(env.msg, Prepare) and self.ack_split is not None and env.src == self.ack_split[2]:
                self._stale_ack_prepare(env.msg.ballot)
            resent = self.contracts.resent(env)
            if resent is not None:  # a lapse, like a late timer: not a safety matter
                self._lapse(resent)
            for delay in self.net.plan(env.src, env.dst):
                self.after(delay, functools.partial(self._deliver, env))

    def _deliver(self, env: Envelope) -> None:
        node = self.nodes[env.dst]
        if not self.net.passes(env.src, env.dst):
            return
        held = self.held.get(env.dst)
        if held is not None and isinstance(env.msg, Accepted) and env.msg.ballot == held[0] and node is None:
            held[2].append(env)  # an acknowledgement to the frozen stale leader: delayed, not lost
            return
        hold = self.ack_held
        if (hold is not None and (env.src, env.dst) == (hold[1], hold[0]) and isinstance(env.msg, Accepted)
                and env.msg.ballot == hold[2] and len(hold[3]) < HELD_ACKS_MAX):
            hold[3].append(env)  # the stale-ack fault: stuck on the slow link until the next term
            split = self.ack_split
            if split is not None and split[3] not in self.paused and set(env.msg.slots) & split[5]:
                # it has acknowledged a slot of the proposals the split cut off: freeze it too, so its
                # election timer cannot outbid the old leader's next ballot before the hub
                self.pause(split[3])
            return
        if node is None or self._filtered(env):
            return
        if self.cfg.wire:
            try:
                env = over_the_wire(env)
            except InvalidMessage as exc:  # its server answers 400 and drops it: the sender broke the protocol
                self._contract(f"node {env.src} sent node {env.dst} a {env.msg.KIND} its codec refuses: {exc}")
                return
        first_unchosen, promised, role = node.core.first_unchosen, node.core.ballot, node.core.role
        self.contracts.delivered(env)
        try:
            check_peer_message(env.msg, self.ids)  # the real replica's gate before its core (server.py)
        except InvalidMessage as exc:
            self._contract(f"node {env.dst} refused a message node {env.src} sent, at its host's gate: {exc}")
            return
        try:
            self._guard(env.dst, functools.partial(node.step, env))
        except ProtocolViolation as exc:
            # the real host logs and drops it (replica_image/host.py); here it is also a finding
            self._disagree(f"node {env.dst} rejected a message from {env.src} as a protocol violation: {exc}")
            return
        except InvalidMessage:
            return
        if self.nodes[env.dst] is node:
            self.election.took(env.dst, env.msg, promised, node.core.ballot)
            late = yield_problem(env.dst, env.msg, (role, promised), (node.core.role, node.core.ballot))
            if late is not None:
                self._lapse(late)
        if isinstance(env.msg, Accept) and self.nodes[env.dst] is node:
            self._check_accept_handled(env.dst, env.msg, first_unchosen)
        elif isinstance(env.msg, Snapshot) and self.nodes[env.dst] is node:
            self._check_truncated(env.dst, node.core)
            needless = self.contracts.snapshot_step_down(env.dst, env.msg.last_slot, (role, promised), node.core.role)
            if needless is not None:
                self._lapse(needless)
        if self.nodes[env.dst] is node and not node.must_crash:  # idle again: maybe a forgery follows
            broken = self.forger.after(env, node.core, node.kv.snapshot)
            if broken is not None:  # an error of the replica; what the forgery did to it must not run on
                self._contract(broken)
                self.crash(env.dst, power=False)

    def _check_accept_handled(self, i: int, m: Accept, first_unchosen: int) -> None:
        """The two duties of a follower at an Accept of the ballot it now holds (not below its promise):
        - P1 of Paxos Made Simple: it accepts every proposal in it that is not for a slot it knows is
          chosen. One that skipped some would still converge, by retransmission, one round trip per
          slot later (it would lose the leader's pipelining);
        - the commit piggyback (replica_image/paxos/replica.py): told that every slot below `m.commit`
          is chosen, it learns, in that same step, each of them it accepted in this ballot, up to
          `learn_scan_max` slots past its first unchosen one. One that learned only by asking for
          catch-up would still converge, a round trip per commit later.
        Neither lapse shows in a history or at the end of a run."""
        core = self.nodes[i]
        assert core is not None
        rep = core.core
        if rep.ballot != m.ballot or rep.role is Role.LEADER:
            return  # not accepted: below its promise (a Nack) or its own ballot
        for e in m.entries:
            if (e.slot >= rep.first_unchosen and rep.chosen_value(e.slot) is None
                    and rep.accepted_value(e.slot) != (m.ballot, e.batch)):
                self._lapse(f"node {i} holds ballot {m.ballot} and did not accept its leader's proposal for slot "
                            f"{e.slot} (an acceptor accepts every proposal of a ballot it holds: P1)")
                return
        stop = min(m.commit, first_unchosen + rep.config.learn_scan_max)
        for s in range(max(first_unchosen, rep.snapshot_last + 1), stop):
            acc = rep.accepted_value(s)
            if acc is not None and acc[0] == m.ballot and rep.chosen_value(s) is None:
                self._lapse(f"node {i} accepted slot {s} in ballot {m.ballot}, was told by its leader that every "
                            f"slot below {m.commit} is chosen, and did not learn it (commit piggyback)")
                return

    def _lapse(self, text: str) -> None:
        if self.lapse is None:
            self.lapse = f"at {self.now / 1000:.1f} ms, {text}"

    def submit(self, node_id: int, cmd: Command, waiter: Waiter) -> bool:
        if node_id in self.paused or not self.net.passes(0, node_id):
            return True  # a frozen process or a cut client link: no answer, the client times out
        extra = self.net.extra_delay(0, node_id)
        if extra:  # latency on the client link: the request arrives later
            self.after(extra, functools.partial(self._submit_late, node_id, cmd, waiter))
            return True
        node = self.nodes[node_id]
        if node is None:
            return False
        self._guard(node_id, functools.partial(node.request, cmd, waiter))
        return True

    def _submit_late(self, node_id: int, cmd: Command, waiter: Waiter) -> None:
        node = self.nodes[node_id]
        if node is not None:
            self._guard(node_id, functools.partial(node.request, cmd, waiter))
        elif node_id not in self.paused:
            self.clients.reply(node_id, waiter, None, None)  # refused: definitely not applied

    def _guard(self, i: int, call: Callable[[], None]) -> None:
        """Run one input of node i. A core that raises anything but InvalidMessage stops its replica
        (the real host loop dies with it): the node is crashed and the error is a finding."""
        try:
            call()
        except InvalidMessage:
            raise
        except ReplicaError as exc:
            if self.error is None:
                self.error = f"at {self.now / 1000:.1f} ms, node {i} stopped: {type(exc).__name__}: {exc}"
            self.crash(i, power=False)
            return
        finally:
            node = self.nodes[i]
            if node is not None:  # its role after every input: the contracts' terms begin here
                self._contract(self.contracts.observe(i, node.core.role, node.core.ballot))
                core = node.core
                early = self.election.observe(i, core.role, core.ballot)  # always: it restarts the timer
                late = None
                if not node.must_crash and core.role is not Role.FOLLOWER:
                    late = self.contracts.load(i, core.queue_length, core.next_slot, core.first_unchosen)
                late = late or (None if node.must_crash else early)
                if late is not None:
                    self._lapse(late)

    def _reply(self, i: int, waiter: Waiter, result: Result | None, leader: int | None) -> None:
        """Node i answers a client: checked as the HTTP layer would encode it, then delivered."""
        self._contract(self.contracts.reply(i, result, leader))
        self.clients.reply(i, waiter, result, leader)

    def _contract(self, broken: str | None) -> None:
        """A reply or message broke a contract of the core (harness.sim.contracts): an error of the replica,
        as a 500 or an oversized message would be in a real one."""
        if broken is not None and self.error is None:
            self.error = f"at {self.now / 1000:.1f} ms, {broken}"

    def _on_commit(self, i: int, slot: int, batch: Batch | None) -> None:
        if batch is None:  # a snapshot through `slot`
            self.expect[i] = slot + 1
            return
        if slot != self.expect[i]:
            self._disagree(f"node {i} applied slot {slot} when slot {self.expect[i]} was next")
        self.expect[i] = slot + 1
        prev = self.chosen.setdefault(slot, batch)
        if prev != batch:
            self._disagree(f"slot {slot}: node {i} applied {_show(batch)}, another replica {_show(prev)}")

    def _on_snapshot_taken(self, i: int, rep: Replica, slot: int) -> None:
        """The host API's promise (`Replica.snapshot_taken`): once the host has a snapshot through `slot`,
        the core forgets every slot it covers. A core that kept them would still be right, and its
        memory would grow with every slot ever chosen: only this sees it. (Called while a restarted node
        is still being built, too: its first rounds may take a snapshot.)"""
        self.contracts.snapshot_taken(i, slot)
        if rep.snapshot_last != slot:
            self._contract(f"node {i} took a snapshot through slot {slot}, but its snapshot_last is {rep.snapshot_last}: "
                           "a snapshot must truncate the log it covers")
        self._check_truncated(i, rep)

    def _check_truncated(self, i: int, rep: Replica) -> None:
        """A snapshot, taken or installed from a peer, truncates the log it covers: node i's core holds no
        slot at or below its snapshot_last. Each slot is looked at once per incarnation."""
        low, high = self.truncated.get(i, -1), rep.snapshot_last
        for s in range(low + 1, high + 1):
            if rep.chosen_value(s) is not None or rep.accepted_value(s) is not None:
                self._contract(f"node {i} holds slot {s} under its snapshot through slot {high}: a snapshot "
                               "must truncate the log it covers")
                break
        self.truncated[i] = max(low, high)

    def _disagree(self, text: str) -> None:
        if self.agreement is None:
            self.agreement = f"at {self.now / 1000:.1f} ms, {text}"

    def leader(self) -> int | None:
        best: tuple[Ballot, int] | None = None
        for i in self.ids:
            node = self.nodes[i]
            if node is not None and node.core.role is Role.LEADER:
                key = (node.core.ballot, i)
                if best is None or key > best:
                    best = key
        return None if best is None else best[1]

    # ------------------------------------------------------------------ the nemesis
    def schedule_faults(self, faults: tuple[Fault, ...]) -> None:
        for k, fault in enumerate(faults):
            self.at(fault.at_us, functools.partial(self._begin, k, fault))

    def _resolve(self, fault: Fault) -> int | None:
        if fault.node is not None:
            return fault.node if fault.node in self.nodes else None
        up = [i for i in self.ids if self.nodes[i] is not None]
        leader = self.leader()
        if fault.target == "leader":
            return leader
        if fault.target == "follower":
            others = [i for i in up if i != leader]
            return self.rng.choice(others) if others else None
        return self.rng.choice(self.ids)

    def _begin(self, k: int, fault: Fault) -> None:
        if self.now >= self.workload_end:
            return
        self.check_status()
        self.check_refusals()
        if self.stale_frozen is not None:
            # the rest must choose past the frozen leader's proposals and snapshot them (its catch-up
            # answer is then a snapshot): with one node of three frozen, any other fault stops that
            self.log(f"{fault.kind}: skipped while the stale leader, node {self.stale_frozen}, is frozen")
            return
        if fault.kind in ("split", "bridge"):
            a, b = fault.groups
            text = f"partition {','.join(map(str, a))} | {','.join(map(str, b))}"
            if fault.kind == "bridge":
                text += " bridged by " + ",".join(str(i) for i in self.ids if i not in a and i not in b)
            self._cut(k, _between(a, b), text, fault.for_us)
            return
        if fault.kind == "stale-leader":
            self._stale_begin(k, fault)
            return
        if fault.kind == "stale-ack":
            self._stale_ack_begin(k, fault)
            return
        target = self._resolve(fault)
        if target is None:
            self.log(f"{fault.kind} on the {fault.target}: no such node now, skipped")
            return
        if fault.kind == "isolate":
            others = tuple(i for i in self.ids if i != target)
            self._cut(k, _between((target,), others), f"isolate node {target} ({fault.target})", fault.for_us)
        elif fault.kind in ("kill", "power"):
            if self.nodes[target] is None:
                return
            self.crash(target, power=fault.kind == "power")
            self.after(fault.for_us, lambda: self.restart(target))
        else:  # crash-point
            if not self.arm(target, fault.record, fault.for_us):
                return
            self.log(f"node {target} ({fault.target}) armed to crash after it next persists a {fault.record} record")

    # the stale leader (harness.sim.nemesis); no draws: every choice comes from the fault's own numbers
    def _stale_begin(self, k: int, fault: Fault) -> None:
        leader = self.leader()
        others = [i for i in self.ids if i != leader and self.nodes[i] is not None]
        if not others:
            self.log("stale leader: no follower up, skipped")
            return
        f = others[fault.at_us % len(others)]
        rest = tuple(i for i in self.ids if i != f)
        self._cut(k, _between((f,), rest), f"stale leader: isolate node {f} to let it fall behind", fault.lag_us)
        self.after(fault.lag_us, lambda: self._stale_watch(k, fault))

    def _stale_watch(self, k: int, fault: Fault) -> None:
        if self.now < self.workload_end:
            self.stale_watch = (k, fault, self.now + fault.watch_us)
            self.log(f"stale leader: waiting up to {fault.watch_us / 1000:.0f} ms for a leader that asks for catch-up")

    def _stale_catchup(self, src: int) -> None:
        """A Catchup is being sent by `src`: if it leads, freeze it now (its peers' answers are lost)."""
        assert self.stale_watch is not None
        k, fault, until = self.stale_watch
        node = self.nodes[src]
        if self.now >= until or self.now >= self.workload_end:
            self.stale_watch = None
            self.log("stale leader: no leader asked for catch-up in time")
            return
        if node is None or node.core.role is not Role.LEADER:
            return
        self.stale_watch = None
        ballot = node.core.ballot
        self.log(f"stale leader: node {src}, leading at {ballot} and catching up, frozen for {fault.for_us / 1000:.0f} ms")
        self.held[src] = (ballot, self.now + fault.for_us + 2_000_000, [])
        self.stale_frozen = src
        self.at(self.now, functools.partial(self.pause, src))
        self.after(fault.for_us, lambda: self._stale_thaw(src, ballot, fault))

    def _stale_thaw(self, i: int, ballot: Ballot, fault: Fault) -> None:
        if i not in self.paused:
            self.held.pop(i, None)
            self.stale_frozen = None
            return
        covered = bool(self.cfg.snapshot_every) and self._snapshot_covers(i, ballot)
        if self.cfg.snapshot_every and self.now < self.workload_end - 500_000 and not covered:
            # with snapshots on, stay frozen (tick by tick, up to 0.5 s before the workload ends) until a
            # peer's snapshot covers a slot it proposed in: its catch-up answer is then that snapshot
            self.after(TICK_US, lambda: self._stale_thaw(i, ballot, fault))
            return
        values = fault.snapshot_first and covered
        self.stale_filter[i] = (ballot, self.now + fault.filter_us, values)
        self.stale_frozen = None
        self.resume(i)
        self.log(f"stale leader: node {i} thawed; messages with a ballot above {ballot}{' and chosen values' * values}"
                 f" to it lost for {fault.filter_us / 1000:.0f} ms")
        self.after(TICK_US, lambda: self._release_held(i))

    def _snapshot_covers(self, i: int, ballot: Ballot) -> bool:
        """Whether another replica holds a snapshot through a slot that node i accepted in `ballot`."""
        mine = [slot for (slot, b), by in self.accepted_at.items() if b == ballot and i in by]
        return bool(mine) and any(last >= min(mine) for j, last in self.snapshot_last.items() if j != i)

    def _filtered(self, env: Envelope) -> bool:
        """True when `env` carries a ballot above the one its stale-leader destination still leads at (or,
        if the filter says so, chosen values: a snapshot then answers its catch-up first)."""
        spec = self.stale_filter.get(env.dst)
        if spec is None:
            return False
        if self.now >= spec[1]:
            del self.stale_filter[env.dst]
            return False
        if spec[2] and isinstance(env.msg, Chosen):
            return True
        ballot = getattr(env.msg, "ballot", None)
        return isinstance(ballot, Ballot) and ballot > spec[0]

    def _release_held(self, i: int) -> None:
        """The acknowledgements held for stale leader i arrive once it leads again at a higher ballot
        (acknowledgements of its previous term, crossing into the new one); dropped at the deadline."""
        held = self.held.get(i)
        if held is None:
            return
        ballot, until, envs = held
        node = self.nodes[i]
        if node is not None and node.core.role is Role.LEADER and node.core.ballot > ballot:
            del self.held[i]
            self.log(f"stale leader: node {i} leads again at {node.core.ballot}: {len(envs)} acknowledgements "
                     f"of {ballot} delivered now")
            for env in envs:
                self._deliver(env)
        elif self.now >= until or self.now >= self.workload_end:
            del self.held[i]
        else:
            self.after(TICK_US, lambda: self._release_held(i))

    # the stale ack (harness.sim.nemesis); no draws either: every choice comes from the fault's numbers
    def _stale_ack_begin(self, k: int, fault: Fault) -> None:
        if self.cfg.n < 5 or self.ack_watch is not None or self.ack_held is not None:
            # with three replicas the leader and one follower are a majority of the old ballot already
            self.log("stale ack: needs five replicas and no other stale ack under way, skipped")
            return
        self.ack_watch = (k, fault, self.now + fault.watch_us)
        self.log(f"stale ack: waiting up to {fault.watch_us / 1000:.0f} ms for a leader that sends new proposals")

    def _stale_ack_send(self, src: int, msg: Accept) -> None:
        """An Accept is being sent by `src`: fire the watching fault if it carries a new proposal of the
        leader (the copies to the other side of the split are then lost), or, if `src` is the leader whose
        old acknowledgements are held and the Accept is of a higher ballot, let them arrive now."""
        hold = self.ack_held
        if hold is not None:
            if src == hold[0] and msg.ballot > hold[2]:
                self._stale_ack_release()
            return
        assert self.ack_watch is not None
        k, fault, until = self.ack_watch
        if self.now >= until or self.now >= self.workload_end:
            self.ack_watch = None
            self.log("stale ack: no leader sent new proposals in time")
            return
        node = self.nodes[src]
        # new: no other acceptor holds it in this ballot yet (a retransmit may have reached the others)
        new = any(set(self.accepted_at.get((e.slot, msg.ballot), {})) <= {src} for e in msg.entries)
        if node is None or node.core.role is not Role.LEADER or node.core.ballot != msg.ballot or not new:
            return
        up = [i for i in self.ids if i != src and self.nodes[i] is not None]
        if not up:
            return
        self.ack_watch = None
        follower = up[fault.at_us % len(up)]
        rest = [i for i in self.ids if i not in (src, follower)]
        # the spokes of the hub to come: quorum-2 of the others (up ones first), frozen (SIGSTOP, a VM
        # stall) until then, so their promises stay where the old leader's term left them: frozen nodes
        # raise no round, while isolated ones would outbid its next ballot every election timeout
        spokes = tuple(sorted(rest, key=lambda i: self.nodes[i] is None)[:self.cfg.n // 2 - 1])
        # two sides, neither a majority once the spokes are frozen: the leader with the follower, the rest
        sides = ((src, follower), tuple(rest))
        self.ack_held = (src, follower, msg.ballot, [])
        self.ack_split = (k, fault, src, follower, spokes, frozenset(e.slot for e in msg.entries))
        self.net.link_delays[(src, follower)] = self.net.link_delays[(follower, src)] = (fault.slow_us, 0, 1.0)
        self.cut(k, _between(*sides), f"stale ack: node {src}, leading at {msg.ballot}, sends new proposals: "
                 f"partition {src},{follower} | {','.join(map(str, rest))}; link {src}-{follower} "
                 f"{fault.slow_us / 1000:.0f} ms slower, node {follower}'s acks of {msg.ballot} held on it")
        for i in spokes:
            self.pause(i)
        self.after(fault.for_us, lambda: self._stale_ack_hub(leader=src))

    def _stale_ack_prepare(self, ballot: Ballot) -> None:
        """The old leader, stepped down in the split, sends a Prepare: if its ballot is above the slow
        follower's promise (the frozen spokes' is below it: they last followed its old term; so is the
        follower's once frozen too), the hub starts now and the Prepare reaches all of them. Each has
        just heard a higher ballot, so none starts a rival election before the slow follower's promise
        is back: it wins."""
        assert self.ack_split is not None
        if self.p1a_floor.get(self.ack_split[3], Ballot.ZERO) < ballot:
            self._stale_ack_hub(leader=self.ack_split[2], ballot=ballot)

    def _stale_ack_hub(self, *, leader: int, ballot: Ballot | None = None) -> None:
        """The split becomes partial, with the old leader as its hub: the spokes thaw, and it reaches them
        and the slow follower, which reach nobody else, so only it can gather a majority. At the instant
        of its Prepare, or `for_us` after the split at the latest (then its election may lose)."""
        split = self.ack_split
        if split is None or split[2] != leader or self.now >= self.workload_end:
            return  # started already (at the instant of a Prepare), or the final heal is on
        self.ack_split = None
        k, fault, _, follower, frozen, _ = split
        spokes = (follower, *frozen)
        reach = {(leader, i) for i in spokes} | {(i, leader) for i in spokes}
        links = frozenset((a, b) for a in self.ids for b in self.ids if a != b and (a, b) not in reach)
        text = f"stale ack: node {leader} the hub, reaching only nodes {','.join(map(str, spokes))}"
        when = f" (at its Prepare of {ballot})" if ballot is not None else " (its election may lose)"
        self.cut(k, links, text + when)
        for i in spokes:
            self.resume(i)  # a no-op for one that is not frozen (or was restarted meanwhile)
        self.after(fault.hub_us, lambda: self._stale_ack_end(k, leader, follower, text))

    def _stale_ack_end(self, k: int, leader: int, follower: int, text: str) -> None:
        self.lift(k, text)
        self.net.link_delays.pop((leader, follower), None)
        self.net.link_delays.pop((follower, leader), None)
        if self.ack_held is not None and self.ack_held[0] == leader:
            self.log(f"stale ack: node {leader} did not lead again; {len(self.ack_held[3])} held acks dropped")
            self.ack_held = None

    def _stale_ack_release(self) -> None:
        """The leader sends proposals of a higher ballot: it leads again. The acknowledgements of its
        previous term arrive now, before any of the new term's can (queued before its Accepts are sent)."""
        assert self.ack_held is not None
        leader, follower, ballot, envs = self.ack_held
        self.ack_held = None
        node = self.nodes[leader]
        now_at = node.core.ballot if node is not None else "?"
        self.log(f"stale ack: node {leader} leads again at {now_at}: {len(envs)} acks of {ballot} from node "
                 f"{follower} arrive now")
        for env in envs:
            self.at(self.now, functools.partial(self._deliver, env))

    def _cut(self, k: int, links: frozenset[tuple[int, int]], text: str, for_us: int) -> None:
        self.cut(k, links, text)
        self.after(for_us, lambda: self.lift(k, text))

    def cut(self, k: int, links: frozenset[tuple[int, int]], text: str) -> None:
        """Cut `links` ((src, dst) pairs; (0, i) is the clients' link to node i) under fault number k."""
        self.partitions[k] = links
        self._apply_partitions()
        self.log(text)

    def lift(self, k: int, text: str) -> None:
        if self.partitions.pop(k, None) is not None:
            self._apply_partitions()
            self.log(f"healed: {text}")

    def _apply_partitions(self) -> None:
        self.net.blocked = set().union(*self.partitions.values())
        self.contracts.partitions(self.net.blocked)

    def heal_all(self) -> None:
        self.partitions.clear()
        self._apply_partitions()
        self.net.link_delays.clear()
        self.armed.clear()
        self.stale_watch = None
        self.stale_filter.clear()
        self.stale_frozen = None
        self.held.clear()
        self.ack_watch = None
        self.ack_held = None
        self.ack_split = None
        for i in self.ids:
            self.restart(i)
        self.log("final heal: every link restored, every replica up, crash points disarmed")

    def check_status(self) -> None:
        """Every running replica's /status document keeps its contract (replica_image.loop.status_problem):
        what a real replica would answer at this moment, or fail to (a 500), is an error of the replica."""
        for i in self.ids:
            node = self.nodes[i]
            problem = None if node is None else status_problem(node.loop.status(), self.ids)
            if problem is not None and self.error is None:
                self.error = f"at {self.now / 1000:.1f} ms, node {i}'s /status breaks its contract: {problem}"

    def check_refusals(self) -> None:
        """Every running core refuses the host API's misuse as documented (harness.sim.misuse): a core
        that took it, or raised another error, is an error of the replica, as a broken /status is."""
        for i in self.ids:
            node = self.nodes[i]
            problem = None if node is None else misuse_problem(node.core)
            if problem is not None:
                self._contract(f"node {i}: {problem}")

    # ------------------------------------------------------------------ after the run
    def liveness(self) -> str | None:
        if self.lapse is not None:
            return self.lapse
        if self.clients.anomalies:
            return self.clients.anomalies[0]
        if self.clients.open_ops():
            return "operations still open at the end of the settle time"
        leader = self.leader()
        if leader is None:
            return "no leader after the final heal"
        nodes = [self.nodes[i] for i in self.ids]
        firsts = {n.core.first_unchosen for n in nodes if n is not None}
        digests = {n.kv.digest() for n in nodes if n is not None}
        if len(firsts) != 1 or len(digests) != 1:
            return f"replicas did not converge: first unchosen slots {sorted(firsts)}, {len(digests)} states"
        finals = [e for e in self.recorder.events if e.process >= self.final_from and e.type != "invoke"]
        bad = [e for e in finals if e.type != "ok"]
        if bad:
            return f"{len(bad)} of the final reads did not succeed ({bad[0].error})"
        return None


def _between(a: tuple[int, ...], b: tuple[int, ...]) -> frozenset[tuple[int, int]]:
    """Both directions of every link from a node of `a` to a node of `b`."""
    return frozenset({(x, y) for x in a for y in b} | {(y, x) for x in a for y in b})


def _show(batch: Batch) -> str:
    return "[" + ", ".join(f"{c.client_id}#{c.request_id} {c.op} {c.key}" for c in batch)[:200] + "]"


World = _World
"""The world a nemesis schedules its faults on (`simulate(..., nemesis=)`): its clock (`at`, `now`),
`leader()`, `crash`, `restart`, `pause`, `resume`, `arm`, `cut`, `lift`, `net` and `log`."""


def simulate(cfg: SimConfig, *, check_history: bool = True,
             nemesis: Callable[[World], None] | None = None) -> SimResult:
    """Run one seeded simulation (see the module docstring) and check it. `nemesis`, when given, is
    called once before the run starts to schedule faults of its own (harness.sim.scenario_run's plan)."""
    cfg = cfg.resolved()
    assert cfg.faults is not None and cfg.concurrency is not None and cfg.keys is not None
    world = _World(cfg)
    spec = cfg.workload or WorkloadSpec(duration_s=cfg.duration_ms / 1000, concurrency=cfg.concurrency,
                                        keys=cfg.keys, mix=DEFAULT_MIX)
    for k in range(cfg.concurrency):
        gen = OpGenerator(spec, rng=random.Random(f"{cfg.seed}/workload/{k}"), tag=f"w{k}")
        world.clients.add_worker(gen=gen, attempts=cfg.attempts)
    world.schedule_faults(cfg.faults)
    if nemesis is not None:
        nemesis(world)
    world.run_until(world.workload_end)
    world.heal_all()
    settle = cfg.settle_ms * 1000
    world.run_until(world.workload_end + settle // 2)
    world.final_from = world.clients.next_process
    for key in OpGenerator(spec, rng=random.Random(0), tag="final").keys:
        world.clients.add_worker(gen=None, script=[Op(f="get", key=key)], attempts=FINAL_READ_ATTEMPTS)
    world.run_until(world.workload_end + settle)
    world.check_status()
    world.check_refusals()
    liveness = world.liveness()
    result: CheckResult | None = None
    if check_history:
        import time  # the budget only: a verdict never depends on the wall clock, only its absence does
        end = time.monotonic() + cfg.check_budget_s
        result = check(model_for("kv"), operations(world.recorder.events), deadline=lambda: time.monotonic() > end)
    return SimResult(config=cfg, events=tuple(world.recorder.events), check=result, agreement=world.agreement,
                     liveness=liveness, error=world.error, fault_log=tuple(world.fault_log), virtual_ms=world.now // 1000)

