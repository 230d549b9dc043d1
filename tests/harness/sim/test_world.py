"""The simulator: one seed gives one history byte for byte; a clean replica passes every check under
faults; each check can fail; the host's bug switches behave as in the real replica."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from harness.checker import Verdict
from harness.sim import Fault, NetFaults, SimConfig, SimResult, simulate
from harness.sim.world import _World
from tests.harness.sim.runs import planted, quiet
from workloads.history import write_jsonl


def _jsonl(r: SimResult) -> str:
    buf = io.StringIO()
    write_jsonl(r.events, buf)
    return buf.getvalue()


def test_the_same_seed_gives_the_same_history_byte_for_byte() -> None:
    a, b = simulate(SimConfig(seed=7)), simulate(SimConfig(seed=7))
    assert _jsonl(a) == _jsonl(b) and a.fault_log == b.fault_log and a.ops > 100
    assert _jsonl(simulate(SimConfig(seed=8))) != _jsonl(a)


def test_a_seed_draws_network_faults_and_crash_settings_but_explicit_ones_are_kept() -> None:
    cfg = SimConfig(seed=3).resolved()
    assert cfg.net is not None and cfg.faults and cfg.restart_ms is not None
    assert cfg == SimConfig(seed=3).resolved()
    fixed = SimConfig(seed=3, net=NetFaults(), faults=(), retry_unknown=True, crash_on_promise=0.0).resolved()
    assert fixed.net == NetFaults() and fixed.faults == () and fixed.retry_unknown and fixed.crash_on_promise == 0.0


def test_an_unknown_bug_name_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match=r"SimConfig.bugs: unknown bug 'local-read'"):
        SimConfig(bugs=frozenset({"local-read"}))


def test_a_correct_replica_passes_every_check_under_faults() -> None:
    crashed = committed = 0
    for seed in range(40):
        r = simulate(SimConfig(seed=seed))
        assert not r.failed, "\n".join([r.summary(), *r.fault_log])
        assert r.check is not None and r.check.verdict is Verdict.VALID
        crashed += any("crash" in line or "killed" in line or "power" in line for line in r.fault_log)
        committed += sum(e.type == "ok" and e.f != "get" for e in r.events) > 20
    assert crashed > 20 and committed > 25  # the seeds did crash replicas and did commit writes


def test_five_and_seven_replicas_pass_too() -> None:
    for size in (5, 7):
        for seed in range(5):
            r = simulate(SimConfig(seed=seed, size=size))
            assert not r.failed, r.summary()


def test_without_faults_every_op_after_the_first_election_is_ok_or_a_failed_precondition() -> None:
    r = simulate(SimConfig(seed=1, size=3, concurrency=5, net=NetFaults(), faults=(), crash_on_promise=0.0,
                           crash_on_accept=0.0))
    first_ok = next(e.index for e in r.events if e.type == "ok")
    outcomes = {(e.type, e.error) for e in r.events[first_ok:] if e.type != "invoke"}
    assert outcomes == {("ok", None), ("fail", "precondition")}, outcomes
    assert r.ops > 500 and not r.failed


def test_an_armed_crash_point_kills_the_node_right_after_it_syncs_a_promise() -> None:
    faults = (Fault(kind="crash-point", at_us=0, for_us=50_000, node=2, record="promise"),)
    r = simulate(SimConfig(seed=2, size=3, net=NetFaults(), faults=faults, crash_on_promise=0.0, crash_on_accept=0.0))
    crashes = [line for line in r.fault_log if "crashes at a crash point" in line]
    assert len(crashes) == 1 and "node 2" in crashes[0] and not r.failed
    # node 2 promised in the first election (every node does), so it died within the first election
    assert float(crashes[0].split("ms")[0]) < 1_000


def test_power_loss_strikes_after_a_ready_that_persisted_without_sync_and_drops_the_unsynced_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A core that writes its promise without asking for a sync (a mistake) is caught in the act: the
    armed crash point fires after that Ready although it did not sync, as a power loss that drops it."""
    from replica_image.paxos import Replica
    from replica_image.paxos.messages import PromiseRecord

    real_record = Replica._record

    def record(self: Replica, rec: object, *, sync: bool) -> None:
        real_record(self, rec, sync=sync and not isinstance(rec, PromiseRecord))  # type: ignore[arg-type]

    monkeypatch.setattr(Replica, "_record", record)
    for seed in range(3):
        faults = (Fault(kind="crash-point", at_us=0, for_us=50_000, node=2, record="promise"),)
        r = simulate(SimConfig(seed=seed, size=3, net=NetFaults(), faults=faults, crash_on_promise=0.0,
                               crash_on_accept=0.0, crash_power=1.0), check_history=False)
        [crash] = [line for line in r.fault_log if "crashes at a crash point" in line]
        assert "node 2 crashes at a crash point (power loss): wrote (not all synced) promise records" in crash
        [power] = [line for line in r.fault_log if "node 2 loses power" in line]
        assert "(1 unsynced records lost)" in power  # the promise: nothing was written back yet


def test_a_crash_point_after_a_synced_ready_loses_nothing_even_as_a_power_loss() -> None:
    faults = (Fault(kind="crash-point", at_us=0, for_us=50_000, node=2, record="promise"),)
    r = simulate(SimConfig(seed=2, size=3, net=NetFaults(), faults=faults, crash_on_promise=0.0,
                           crash_on_accept=0.0, crash_power=1.0))
    [crash] = [line for line in r.fault_log if "crashes at a crash point" in line]
    assert "synced promise records" in crash and "(power loss)" not in crash and not r.failed


def _kill_all_at(ms: int) -> tuple[Fault, ...]:
    return tuple(Fault(kind="kill", at_us=ms * 1000, for_us=200_000, node=n) for n in (1, 2, 3))


def test_a_kill_keeps_what_was_written_so_a_whole_cluster_restart_loses_nothing() -> None:
    cfg = SimConfig(seed=4, size=3, net=NetFaults(), faults=_kill_all_at(2_000), crash_on_promise=0.0,
                    crash_on_accept=0.0)
    r = simulate(cfg)
    assert not r.failed, r.summary()


def test_no_fsync_loses_the_write_behind_buffer_on_a_kill_and_the_checks_see_it() -> None:
    caught = 0
    for seed in range(10):
        cfg = SimConfig(seed=seed, size=3, net=NetFaults(), faults=_kill_all_at(2_000), crash_on_promise=0.0,
                        crash_on_accept=0.0, bugs=frozenset({"no-fsync"}))
        caught += simulate(cfg).safety_violation is not None
        assert not simulate(replace(cfg, bugs=frozenset())).failed
    assert caught >= 5


def test_local_reads_are_answered_from_the_local_state_and_caught() -> None:
    bug = frozenset({"local-reads"})
    r = next(r for s in range(30) if (r := simulate(SimConfig(seed=s, bugs=bug))).failed)
    assert r.safety_violation == "history is not linearizable" and r.agreement is None  # the logs agree


def test_a_core_that_raises_an_internal_error_stops_its_replica_and_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from replica_image.errors import InternalError
    from replica_image.paxos import Replica

    real_tick = Replica.tick
    calls = {"n": 0}

    def tick(self: Replica) -> None:
        calls["n"] += self.node_id == 2
        if self.node_id == 2 and calls["n"] == 100:  # node 2's 100th tick: 1 s into the run
            raise InternalError("invariant broken on purpose")
        real_tick(self)

    monkeypatch.setattr(Replica, "tick", tick)
    r = simulate(SimConfig(seed=5, size=3, net=NetFaults(), faults=(), crash_on_promise=0.0, crash_on_accept=0.0))
    assert r.failed and r.error is not None and "node 2 stopped: InternalError: invariant broken" in r.error
    assert r.safety_violation is None and any("node 2 killed" in line for line in r.fault_log)


def test_a_kv_that_answers_stale_to_a_new_request_fails_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients send id n+1 only after n completed, so 'stale' to a current attempt is the kv's mistake:
    a kv that refused every fifth request of each client was invisible to every check before."""
    from replica_image.kv import KV, STALE, Result

    real_apply = KV.apply

    def apply(self: KV, cmd: object) -> Result:  # refused, not applied
        return Result(status=STALE) if getattr(cmd, "request_id", 0) % 5 == 0 else real_apply(self, cmd)  # type: ignore[arg-type]

    monkeypatch.setattr(KV, "apply", apply)
    r = simulate(SimConfig(seed=1, size=3, net=NetFaults(), faults=()))
    assert r.liveness is not None and "answered 'stale' to sim-p" in r.liveness and "its newest request" in r.liveness
    assert r.safety_violation is None  # a refused request was not applied: the history is still linearizable


def test_an_acceptor_that_accepts_below_a_ballot_it_holds_durably_breaks_p1a_and_fails_the_seed() -> None:
    """The simulator reads every acceptor's records: accepting below a durable promise (here the
    forgotten promise of forget-promise-on-restart) is a finding before any history shows it."""
    bug = frozenset({"forget-promise-on-restart"})
    # seed 118 since the swarm's odd sizes (83 since the stale-ack fault, 17 before it)
    r = next(r for s in range(110, 200) if "accepted ballot" in ((r := simulate(SimConfig(seed=s, bugs=bug),
                                                                         check_history=False)).agreement or ""))
    assert r.agreement is not None and "accepted ballot" in r.agreement and "(P1a)" in r.agreement
    assert r.safety_violation is not None and r.safety_violation.startswith("replicas disagree")


def test_a_replica_that_learns_a_value_no_majority_accepted_in_one_ballot_breaks_p2_and_fails_the_seed() -> None:
    """The simulator sees every acceptor's accepts: a value learned chosen without a majority of
    accepts in one ballot (here small-quorum's N//2 acknowledgements) is a finding at once."""
    r = simulate(SimConfig(seed=0, bugs=frozenset({"small-quorum"})), check_history=False)
    assert r.agreement is not None and "no majority accepted that value in any one ballot (P2)" in r.agreement
    assert r.failed


def test_a_follower_that_learns_only_by_catch_up_misses_the_commit_piggyback_and_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Learning from the leader's commit is what spares a follower a round trip per commit; a core
    that skipped it still converged (through catch-up), so no other check could tell."""
    from replica_image.paxos import Replica

    def learn_commit(self: Replica, src: int, ballot: object, commit: int) -> None:
        self._note_progress(src, commit)  # the catch-up half only

    r = planted(quiet(2), monkeypatch, Replica, "_learn_commit", learn_commit)
    assert r.liveness is not None and "did not learn it (commit piggyback)" in r.liveness
    assert r.safety_violation is None and r.failed


def test_a_follower_that_accepts_only_its_next_slot_breaks_p1_and_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A follower that drops every proposal but the one for its first unchosen slot loses the leader's
    pipelining (one slot per round trip), and converged all the same: only P1 at each Accept sees it."""
    from replica_image.paxos import Accept, Replica

    real_on_accept = Replica._on_accept

    def on_accept(self: Replica, src: int, m: Accept) -> None:
        first = self.first_unchosen
        real_on_accept(self, src, Accept(ballot=m.ballot, commit=m.commit,
                                         entries=tuple(e for e in m.entries if e.slot <= first)))

    r = planted(quiet(2), monkeypatch, Replica, "_on_accept", on_accept)
    assert r.liveness is not None and "accepts every proposal of a ballot it holds: P1" in r.liveness
    assert r.safety_violation is None


def test_a_leader_that_resends_faster_than_its_retransmit_interval_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A retransmit timer that fires every tick floods a lagging peer; every other check passed it."""
    from replica_image.paxos import Replica

    real_tick_leader = Replica._tick_leader

    def tick_leader(self: Replica) -> None:
        self._retransmit_elapsed = self.config.retransmit_ticks  # due at every tick
        real_tick_leader(self)

    r = planted(quiet(2, net=NetFaults(delay_us=(20_000, 40_000))), monkeypatch, Replica, "_tick_leader", tick_leader)
    assert r.liveness is not None and "(retransmit pacing)" in r.liveness and r.safety_violation is None


def test_a_leader_that_steps_down_while_a_majority_acknowledges_it_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A check-quorum that counts one peer too few makes a 3-replica leader with one peer down resign at
    every election timeout: an election for nothing each time, and every check at the end passed."""
    from replica_image.paxos import Replica

    real_tick_leader = Replica._tick_leader

    def tick_leader(self: Replica) -> None:
        if self._elapsed + 1 >= self.config.election_timeout_ticks and len(self._heard) < len(self.peers):
            self._heard = set()  # heard one peer of two: counted as none
        real_tick_leader(self)

    kill = Fault(kind="kill", at_us=1_000_000, for_us=2_000_000, target="follower")
    r = planted(quiet(2, faults=(kill,)), monkeypatch, Replica, "_tick_leader", tick_leader)
    assert r.liveness is not None and "stepped down as leader on its own" in r.liveness and r.safety_violation is None


def test_a_core_that_keeps_the_slots_its_snapshot_covers_breaks_the_host_api_and_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot that truncated nothing leaves every answer right and the memory growing without end."""
    from replica_image.paxos.log import PaxosLog

    r = planted(quiet(2, snapshot_every=20), monkeypatch, PaxosLog, "truncate", lambda self, last_slot, data: None)
    assert r.error is not None and "a snapshot must truncate the log it covers" in r.error


def test_a_snapshot_installed_from_a_peer_must_truncate_every_slot_it_covers_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same promise for a peer's snapshot (PaxosLog.install_snapshot), over every slot it covers:
    here the mistake keeps all but the last of the chosen slots below it."""
    from replica_image.paxos.log import PaxosLog

    real = PaxosLog.install_snapshot

    def install(self: PaxosLog, last_slot: int, data: str) -> None:
        kept = {s: b for s, b in self.chosen.items() if s < last_slot}
        real(self, last_slot, data)
        self.chosen.update(kept)

    r = planted(SimConfig(seed=0), monkeypatch, PaxosLog, "install_snapshot", install)
    assert r.error is not None and "under its snapshot through slot" in r.error


def test_a_status_document_that_is_not_plain_json_is_an_error_of_the_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost @property hands /status a bound method: a 500 in the aiohttp replica, an error here."""
    from replica_image.paxos import Replica

    # log_length, which only /status reads: a bad leader_id is caught earlier, in the first reply that
    # carries it as a hint (harness.sim.contracts), and this test is about /status
    monkeypatch.setattr(Replica, "log_length", property(lambda self: self.tick))
    r = simulate(SimConfig(seed=2, size=3, net=NetFaults(), faults=(), crash_on_promise=0.0, crash_on_accept=0.0),
                 check_history=False)
    assert r.error is not None and "/status breaks its contract: /status is not plain JSON" in r.error


def _stale_world(**kw: object) -> _World:
    from harness.sim.world import _World

    return _World(SimConfig(seed=1, size=3, net=NetFaults(), faults=(), crash_on_promise=0.0, crash_on_accept=0.0,
                            **kw).resolved())  # type: ignore[arg-type]


def test_a_thawed_stale_leader_loses_only_the_messages_that_carry_a_higher_ballot() -> None:
    from targets.paxos.core import Ballot, Catchup, Envelope
    from replica_image.paxos.messages import Chosen, Nack, Prepare, Snapshot

    w = _stale_world()
    old, new = Ballot(round=2, node=1), Ballot(round=3, node=2)
    w.stale_filter[1] = (old, w.now + 1_000, False)
    assert w._filtered(Envelope(src=2, dst=1, msg=Nack(ballot=new, rejected=old)))
    assert w._filtered(Envelope(src=2, dst=1, msg=Prepare(ballot=new, first_slot=0)))
    assert not w._filtered(Envelope(src=2, dst=1, msg=Prepare(ballot=old, first_slot=0)))
    assert not w._filtered(Envelope(src=2, dst=1, msg=Chosen(entries=())))  # catch-up answers pass
    assert not w._filtered(Envelope(src=2, dst=3, msg=Nack(ballot=new, rejected=old)))  # only to node 1
    assert not w._filtered(Envelope(src=3, dst=2, msg=Catchup(from_slot=0)))
    w.now += 1_000
    assert not w._filtered(Envelope(src=2, dst=1, msg=Nack(ballot=new, rejected=old))) and 1 not in w.stale_filter
    # snapshot first: a peer's snapshot covers its slots, so the chosen values sent after it are lost too
    w.stale_filter[1] = (old, w.now + 1_000, True)
    assert w._filtered(Envelope(src=2, dst=1, msg=Chosen(entries=())))
    assert not w._filtered(Envelope(src=2, dst=1, msg=Snapshot(last_slot=3, data="{}")))
    assert not w._filtered(Envelope(src=2, dst=3, msg=Chosen(entries=())))


def test_no_other_fault_begins_while_the_stale_leader_is_frozen() -> None:
    kills = (Fault(kind="kill", node=2, at_us=100_000, for_us=50_000), Fault(kind="kill", node=2, at_us=300_000, for_us=50_000))
    w = _stale_world()
    w.schedule_faults(kills)
    w.run_until(50_000)
    w.stale_frozen = 1
    w.run_until(200_000)
    assert "kill: skipped while the stale leader, node 1, is frozen" in w.fault_log[-1]
    assert all(node is not None for node in w.nodes.values())
    w.stale_frozen = None
    w.run_until(320_000)
    assert "node 2 killed (kill -9)" in w.fault_log[-1]


def test_acknowledgements_held_for_a_frozen_leader_arrive_only_once_it_leads_at_a_higher_ballot() -> None:
    from targets.paxos.core import Accepted, Ballot, Envelope

    w = _stale_world()
    w.run_until(1_000_000)
    leader = w.leader()
    assert leader is not None
    node = w.nodes[leader]
    assert node is not None
    ballot = node.core.ballot
    w.held[leader] = (ballot, w.now + 5_000_000, [])
    w.pause(leader)
    follower = next(i for i in w.ids if i != leader)
    ack = Envelope(src=follower, dst=leader, msg=Accepted(ballot=ballot, slots=(), first_unchosen=0))
    w._deliver(ack)
    assert w.held[leader][2] == [ack]  # held, not lost
    w.resume(leader)
    w._release_held(leader)  # still at the same ballot: kept back
    assert w.held[leader][2] == [ack]
    w.run_until(w.now + 1_000_000)  # no fault: it keeps leading at the same ballot, and the ack stays held
    again = w.nodes[leader]
    assert again is not None and again.core.ballot == ballot and w.held[leader][2] == [ack]
    w.held[leader] = (ballot, w.now, [ack])  # the deadline: dropped, never delivered at the old ballot
    w.run_until(w.now + 20_000)
    assert leader not in w.held


@pytest.mark.parametrize(("seed", "node", "ballot", "path"), [
    (4, 3, "2.3", "_learn"),        # values: a slot beyond its proposals chosen (snapshots off in this seed)
    (6, 6, "2.6", "_on_snapshot"),  # a peer's snapshot over the slots it proposed in (values lost meanwhile)
])
def test_the_stale_leader_fault_freezes_a_leader_that_catches_up_and_it_then_steps_down_on_a_catch_up_answer(
        monkeypatch: pytest.MonkeyPatch, seed: int, node: int, ballot: str, path: str) -> None:
    """The paths docs/simulator.md lists (issue 17): a leader learns from a catch-up answer (values, or
    a snapshot) that a higher ballot chose in or over its slots, and steps down before it has seen that
    ballot."""
    import sys

    from replica_image.paxos import Replica, Role

    stepped: list[tuple[int, str]] = []
    real = Replica._become_follower

    def become_follower(self: Replica) -> None:
        if self.role is Role.LEADER:
            stepped.append((self.node_id, sys._getframe(1).f_code.co_name))
        real(self)

    monkeypatch.setattr(Replica, "_become_follower", become_follower)
    r = simulate(SimConfig(seed=seed))
    assert not r.failed, r.summary()
    frozen = f"stale leader: node {node}, leading at {ballot} and catching up, frozen"
    assert any(frozen in line for line in r.fault_log)
    assert any(f"stale leader: node {node} thawed" in line for line in r.fault_log)
    assert (node, path) in stepped


# The stale-ack fault (harness.sim.nemesis): a hand-written schedule of one, five replicas, a clean network.
_STALE_ACK = Fault(kind="stale-ack", at_us=300_000, for_us=1_500_000, watch_us=500_000, hub_us=800_000, slow_us=90_000)


def _stale_ack_run(seed: int) -> SimResult:
    return simulate(SimConfig(seed=seed, size=5, net=NetFaults(), faults=(_STALE_ACK,), crash_on_promise=0.0,
                              crash_on_accept=0.0))


def _count_old_ballot_acks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutant of replica.py `_on_accepted` that cosmic-ray leaves alive under the other faults
    (`m.ballot > self._ballot` for `!=`): a leader takes an Accepted of its own older ballot for one of
    its current ballot."""
    from replica_image.paxos import Replica, Role

    real = Replica._on_accepted

    def on_accepted(self: Replica, src: int, m: object) -> None:
        from replica_image.paxos import Accepted

        assert isinstance(m, Accepted)
        if self.role is Role.LEADER and m.ballot < self.ballot:
            m = replace(m, ballot=self.ballot)
        real(self, src, m)

    monkeypatch.setattr(Replica, "_on_accepted", on_accepted)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_stale_ack_shape_passes_a_correct_core_and_a_leader_counting_old_ballot_acks_breaks_p2(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape: the leader's new proposal reaches only one follower, whose acknowledgement is held;
    nobody can choose (no majority side); the old leader, the hub, leads again at a higher ballot and
    re-proposes the slot; the held acknowledgement arrives first. A correct core ignores it."""
    r = _stale_ack_run(seed)
    assert not r.failed, r.summary()
    log = "\n".join(r.fault_log)
    assert "sends new proposals: partition" in log and "(at its Prepare of" in log and "leads again at" in log
    _count_old_ballot_acks(monkeypatch)
    bad = _stale_ack_run(seed)
    assert bad.agreement is not None and "no majority accepted that value in any one ballot (P2)" in bad.agreement


def test_acks_held_by_the_stale_ack_fault_are_only_the_followers_of_the_old_ballot_and_arrive_at_the_next_term(
        ) -> None:
    from targets.paxos.core import Accept, Accepted, Ballot, Envelope

    w = _stale_world()
    old, new = Ballot(round=2, node=1), Ballot(round=3, node=1)
    w.ack_held = (1, 2, old, [])
    stale = Envelope(src=2, dst=1, msg=Accepted(ballot=old, slots=(0,), first_unchosen=0))
    w._deliver(stale)
    w._deliver(Envelope(src=3, dst=1, msg=Accepted(ballot=old, slots=(0,), first_unchosen=0)))  # another follower
    w._deliver(Envelope(src=2, dst=1, msg=Accepted(ballot=new, slots=(0,), first_unchosen=0)))  # the new term
    assert _held(w) == [stale]
    w._stale_ack_send(1, Accept(ballot=old, commit=0, entries=()))  # still the old term: kept back
    w._stale_ack_send(3, Accept(ballot=Ballot(round=4, node=3), commit=0, entries=()))  # another leader
    assert _held(w) == [stale]
    w._stale_ack_send(1, Accept(ballot=new, commit=0, entries=()))
    assert _held(w) is None and any("acks of 2.1 from node 2 arrive now" in line for line in w.fault_log)
    w.ack_held = (1, 2, old, [stale])
    w._stale_ack_end(0, 1, 2, "hub")  # the hub healed and it never led again: dropped
    assert _held(w) is None
    # while the split lasts, the follower is frozen once it has acknowledged a slot the split cut off
    w.ack_held, w.ack_split = (1, 2, old, []), (0, _STALE_ACK, 1, 2, (3,), frozenset({5}))
    w._deliver(stale)
    assert 2 not in w.paused
    w._deliver(Envelope(src=2, dst=1, msg=Accepted(ballot=old, slots=(4, 5), first_unchosen=0)))
    assert 2 in w.paused and _held(w) is not None


def _held(w: _World) -> list[object] | None:
    """The acknowledgements the stale-ack fault holds (a function: mypy would keep a narrowed attribute)."""
    return None if w.ack_held is None else list(w.ack_held[3])


def test_the_stale_ack_fault_is_skipped_with_three_replicas() -> None:
    r = simulate(SimConfig(seed=1, size=3, net=NetFaults(), faults=(_STALE_ACK,)), check_history=False)
    assert any("stale ack: needs five replicas" in line for line in r.fault_log)
