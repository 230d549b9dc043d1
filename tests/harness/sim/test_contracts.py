"""The contracts of the core no history shows (harness.sim.contracts): each one passes on the correct
core and catches a planted mistake, both alone (fed by hand) and in a simulated run."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from harness.sim import Fault, NetFaults, SimConfig, SimResult, simulate
from harness.sim.contracts import Contracts, checkquorum_ticks_max, yield_problem
from targets.paxos.core import (
    Accept, Accepted, AcceptRecord, Ballot, Catchup, Chosen, ChosenRecord, Command, CoreConfig, Envelope, Nack, Prepare, Promise,
    Replica, Result, Role, SnapshotRecord,
)
from replica_image.paxos import PromiseEntry, Proposal, Snapshot
from tests.harness.sim.runs import planted, quiet

CFG = CoreConfig(election_timeout_ticks=30, heartbeat_ticks=5, retransmit_ticks=10, entries_per_message_max=4)
B = Ballot(round=2, node=1)


def _contracts() -> Contracts:
    c = Contracts([1, 2, 3], CFG)
    for i in (1, 2, 3):
        c.started(i)
        c.observe(i, Role.FOLLOWER, Ballot.ZERO)
    return c


def _entries(n: int) -> tuple[Proposal, ...]:
    cmd = Command(client_id="c", request_id=1, op="get", key="k")
    return tuple(Proposal(slot=s, batch=(cmd,)) for s in range(n))


def _accept(n: int, *, dst: int = 2) -> Envelope:
    return Envelope(src=1, dst=dst, msg=Accept(ballot=B, commit=0, entries=_entries(n)))


def _ticks(c: Contracts, i: int, n: int, *, each: Callable[[], object] = lambda: None) -> list[str]:
    out = []
    for _ in range(n):
        c.ticked(i)
        each()
        broken = c.after_tick(i)
        if broken:
            out.append(broken)
    return out


# ---------------------------------------------------------------------- alone, by hand
def test_a_reply_carries_a_result_or_none_and_a_hint_that_is_none_or_a_node_of_the_cluster() -> None:
    c = _contracts()
    assert c.reply(1, Result(status="ok", value="v"), None) is None
    assert c.reply(1, None, 3) is None and c.reply(1, None, None) is None
    assert "bad leader hint (int): leader 4 is neither null nor a node id of [1, 2, 3]" in (c.reply(1, None, 4) or "")
    assert "bad leader hint (bool): leader True" in (c.reply(1, None, True) or "")  # a bool is an int to Python, not to JSON readers
    hint = Replica(1, [1, 2, 3], CFG, random.Random(0)).chosen_value  # a bound method: what a lost @property hands out
    assert "bad leader hint (method): leader <bound method" in (c.reply(1, None, hint) or "")
    assert "not a Result or None" in (c.reply(1, "ok", None) or "")


def test_no_accept_or_chosen_carries_more_slots_than_entries_per_message_max() -> None:
    c = _contracts()
    assert c.sent(_accept(4)) is None
    assert "Accept entries for 5 slots, above entries_per_message_max 4" in (c.sent(_accept(5)) or "")
    chosen = Envelope(src=1, dst=2, msg=Chosen(entries=_entries(5)))
    assert "Chosen entries for 5 slots" in (c.sent(chosen) or "")


def _beat(c: Contracts) -> None:
    for p in (2, 3):
        assert c.sent(_accept(0, dst=p)) is None


def test_a_leader_that_sends_a_peer_nothing_for_heartbeat_ticks_is_late() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    for _ in range(4):  # a heartbeat sent in the tick its timer reaches heartbeat_ticks: on time, always
        assert _ticks(c, 1, 4) == []
        assert _ticks(c, 1, 1, each=lambda: _beat(c)) == []
    late = _ticks(c, 1, 5)  # the same, one tick late
    assert late and "leader at 2.1, sent node 2 no Accept for 5 ticks (every heartbeat_ticks: 5)" in late[0]


def test_a_candidate_resends_its_prepare_only_to_peers_that_have_not_promised() -> None:
    c = _contracts()
    c.ticked(1)
    c.observe(1, Role.CANDIDATE, B)
    for p in (2, 3):
        c.sent(Envelope(src=1, dst=p, msg=Prepare(ballot=B, first_slot=0)))
    c.delivered(Envelope(src=2, dst=1, msg=Promise(ballot=B, first_slot=0, chosen_through=0, entries=())))
    assert _ticks(c, 1, 9) == []
    late = _ticks(c, 1, 1)
    assert late == ["node 1, candidate at 2.1, sent node 3 no Prepare for 10 ticks (every retransmit_ticks: 10)"]


def test_a_leader_cut_off_from_a_majority_must_step_down_within_two_election_timeouts() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    c.partitions({(1, 2), (2, 1), (1, 3)})  # 3 cannot hear it, but what 3 sends still arrives: not cut off
    assert _ticks(c, 1, 100, each=lambda: _beat(c)) == []
    c.partitions({(1, 2), (2, 1), (3, 1)})  # nothing of 3's arrives any more: cut off
    bound = checkquorum_ticks_max(CFG)
    assert bound == 60 and _ticks(c, 1, bound - 1, each=lambda: _beat(c)) == []
    c.partitions({(1, 2), (2, 1)})  # healed towards 3 for a moment: 3 may have been heard in that tick
    c.partitions({(1, 2), (2, 1), (1, 3), (3, 1)})
    assert _ticks(c, 1, bound, each=lambda: _beat(c)) == []  # that tick is still in the last 60
    late = _ticks(c, 1, 1, each=lambda: _beat(c))
    assert late and "node 1 still leads at 2.1 after 60 ticks in which the network let it hear no peer" in late[0]
    c.observe(1, Role.FOLLOWER, Ballot(round=3, node=2))  # stepped down: nothing more to say
    assert _ticks(c, 1, 5) == []


CMD = Command(client_id="c", request_id=1, op="get", key="k")
OTHER = Command(client_id="d", request_id=1, op="get", key="k")


def _propose(c: Contracts, slot: int, batch: tuple[Command, ...] = (CMD,), *, ballot: Ballot = B) -> str | None:
    """Node 1 proposes `batch` in `slot`, sent to both peers in the same Ready (as the core does)."""
    for p in (2, 3):
        env = Envelope(src=1, dst=p, msg=Accept(ballot=ballot, commit=0, entries=(Proposal(slot=slot, batch=batch),)))
        c.sent(env), c.resent(env)
    return c.persisted(1, [AcceptRecord(slot=slot, ballot=ballot, batch=batch)])


def test_a_leader_steps_down_once_its_commit_could_cover_a_value_not_its_own() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    assert c.load(1, 0, 0, 0) is None and _propose(c, 0) is None and _propose(c, 1) is None
    assert c.observe(1, Role.LEADER, B) is None
    c.persisted(1, [ChosenRecord(slot=0, batch=(CMD,))])  # its own value: it leads on
    assert c.observe(1, Role.LEADER, B) is None
    c.persisted(1, [ChosenRecord(slot=1, batch=(OTHER,))])  # another value where it proposed
    assert "node 1 still leads at 2.1 after it learned slot 1 chosen with another value" in (c.observe(1, Role.LEADER, B) or "")
    c.persisted(1, [ChosenRecord(slot=2, batch=(OTHER,))])  # beyond every slot it proposed in
    assert "learned slot 2 chosen, above every slot it proposed in or skipped as chosen (up to 1)" in (
        c.observe(1, Role.LEADER, B) or "")
    c.persisted(1, [ChosenRecord(slot=3, batch=(OTHER,))])
    assert c.observe(1, Role.FOLLOWER, Ballot(round=3, node=2)) is None  # it stepped down: right


def test_a_leader_that_installs_a_peers_snapshot_over_its_proposals_steps_down() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    _propose(c, 0), _propose(c, 1)
    c.persisted(1, [ChosenRecord(slot=0, batch=(CMD,))])
    c.snapshot_taken(1, 0)  # its own host's snapshot covers only what it learned: nothing to fear
    c.persisted(1, [SnapshotRecord(last_slot=0, data="{}")])
    assert c.observe(1, Role.LEADER, B) is None
    c.persisted(1, [SnapshotRecord(last_slot=1, data="{}")])  # a peer's, over slot 1 it never saw chosen
    assert "installed a peer's snapshot through slot 1, over slot 1 it proposed in" in (c.observe(1, Role.LEADER, B) or "")


def test_a_leader_that_proposed_nothing_steps_down_when_a_slot_from_its_next_one_is_chosen() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    assert c.load(1, 0, 5, 5) is None  # elected with nothing to re-propose: its first slot is 5
    c.persisted(1, [ChosenRecord(slot=4, batch=(OTHER,))])  # below its base: learned by catch-up
    assert c.observe(1, Role.LEADER, B) is None
    c.persisted(1, [ChosenRecord(slot=5, batch=(OTHER,))])
    assert "learned slot 5 chosen, above every slot it proposed in or skipped as chosen (up to 4)" in (
        c.observe(1, Role.LEADER, B) or "")


def test_a_new_proposal_goes_to_every_peer_in_the_ready_that_accepts_it() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    assert _propose(c, 0) is None
    c.sent(Envelope(src=1, dst=2, msg=Accept(ballot=B, commit=0, entries=(Proposal(slot=1, batch=(CMD,)),))))
    broken = c.persisted(1, [AcceptRecord(slot=1, ballot=B, batch=(CMD,))])
    assert "node 1 proposed slot 1 in ballot 2.1 and did not send it to node 3 in that same Ready" in (broken or "")


def test_a_leader_keeps_its_queue_bounded_and_its_window_full() -> None:
    cfg = replace(CFG, window=4, queue_max=8)
    c = Contracts([1, 2, 3], cfg)
    c.started(1)
    c.observe(1, Role.LEADER, B)
    assert c.load(1, 8, 4, 0) is None and c.load(1, 0, 1, 0) is None
    assert "holds 9 queued commands, above queue_max 8" in (c.load(1, 9, 4, 0) or "")
    assert "left 2 commands queued with only 3 slots in flight, below its window of 4" in (c.load(1, 2, 3, 0) or "")
    for s in range(5):
        _propose(c, s)
    assert "proposed queued commands up to 5 slots in flight, beyond its window of 4" in (c.load(1, 0, 5, 0) or "")
    c.observe(1, Role.FOLLOWER, Ballot(round=3, node=2))
    assert c.load(1, 0, 5, 0) is None  # a new leader re-proposes what phase 1 found, however many


def test_a_new_leader_proposes_no_ops_only_below_the_top_slot_its_phase_1_reported() -> None:
    c = _contracts()
    c.observe(1, Role.CANDIDATE, B)
    entry = PromiseEntry(slot=3, ballot=Ballot(round=1, node=2), batch=(CMD,))
    c.delivered(Envelope(src=2, dst=1, msg=Promise(ballot=B, first_slot=0, chosen_through=0, entries=(entry,))))
    assert _propose(c, 2, ()) is None and _propose(c, 3) is None  # a gap below slot 3: a no-op fills it
    assert "began leading at 2.1 with a no-op in slot 4, above every slot its phase 1 reported (at most 3)" in (
        _propose(c, 4, ()) or "")
    c.observe(1, Role.LEADER, B)
    assert "leader at 2.1, proposed a no-op in slot 5 after its phase 1" in (_propose(c, 5, ()) or "")


def test_a_timer_never_fires_early() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    hb = Envelope(src=1, dst=2, msg=Accept(ballot=B, commit=0, entries=()))
    _ticks(c, 1, 4)
    assert "node 1 sent node 2 a heartbeat of ballot 2.1 4 ticks after the last, sooner than its heartbeat_ticks of 5" in (
        c.resent(hb) or "")  # 4 ticks after it began leading
    _ticks(c, 1, 5)
    assert c.resent(hb) is None
    _propose(c, 0)  # a broadcast of a new proposal restarts the timer
    _ticks(c, 1, 4)
    assert "heartbeat of ballot 2.1 4 ticks after the last" in (c.resent(hb) or "")
    c.observe(1, Role.CANDIDATE, Ballot(round=3, node=1))
    prepare = Envelope(src=1, dst=2, msg=Prepare(ballot=Ballot(round=3, node=1), first_slot=0))
    assert c.resent(prepare) is None  # the first of its candidacy
    _ticks(c, 1, 10)
    assert c.resent(prepare) is None
    _ticks(c, 1, 9)
    assert "a Prepare of ballot 3.1 9 ticks after the last, sooner than its retransmit_ticks of 10" in (c.resent(prepare) or "")


def test_a_leader_resends_no_sooner_than_retransmit_ticks_after_it_began_leading() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    _propose(c, 0)
    _ticks(c, 1, 9)
    resend = Envelope(src=1, dst=2, msg=Accept(ballot=B, commit=0, entries=(Proposal(slot=0, batch=(CMD,)),)))
    assert "resent ballot 2.1's proposals to node 2 9 ticks after it began leading or last resent" in (c.resent(resend) or "")
    _ticks(c, 1, 10)
    assert c.resent(resend) is None  # its timer's next round


def test_a_resend_carries_the_lowest_slots_the_peer_has_not_acknowledged_up_to_the_message_limit() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    for slot in range(7):
        _propose(c, slot)
    c.delivered(Envelope(src=2, dst=1, msg=Accepted(ballot=B, slots=(0, 2), first_unchosen=0)))
    c.delivered(Envelope(src=2, dst=1, msg=Accepted(ballot=Ballot(round=1, node=3), slots=(1,), first_unchosen=0)))
    c.persisted(1, [ChosenRecord(slot=3, batch=(CMD,))])  # learned chosen: nothing left to resend there
    _ticks(c, 1, 10)

    def resend(*slots: int) -> str | None:
        entries = tuple(Proposal(slot=s, batch=(CMD,)) for s in slots)
        return c.resent(Envelope(src=1, dst=2, msg=Accept(ballot=B, commit=0, entries=entries)))

    # unacknowledged by node 2: 1 (an ack of another ballot is none), 4, 5, 6; four fit in one message
    assert resend(1, 4, 5, 6) is None
    _ticks(c, 1, 10)
    assert ("node 1 resent node 2 slots [1] of ballot 2.1, where the lowest it had not seen acknowledged there, "
            "up to entries_per_message_max (4), were [1, 4, 5, 6] (retransmit content)") == resend(1)
    _ticks(c, 1, 10)
    assert "resent node 2 slots [0, 1, 4, 5] of ballot 2.1" in (resend(0, 1, 4, 5) or "")  # 0 was acknowledged
    _ticks(c, 1, 10)
    assert "resent node 2 slots [4, 5, 6, 1] of ballot 2.1" in (resend(4, 5, 6, 1) or "")  # not lowest first
    # a peer's snapshot over slots 0..4 ends them; its own host's would not
    c.persisted(1, [SnapshotRecord(last_slot=4, data="{}")])
    _ticks(c, 1, 10)
    assert resend(5, 6) is None
    c.snapshot_taken(1, 6)
    c.persisted(1, [SnapshotRecord(last_slot=6, data="{}")])
    _ticks(c, 1, 10)
    assert resend(5, 6) is None
    _ticks(c, 1, 10)
    assert "resent node 2 slots [6] of ballot 2.1" in (resend(6) or "")  # 5 is still in flight


def test_a_peer_that_has_not_acknowledged_a_slot_in_flight_gets_a_resend_every_retransmit_ticks() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    _propose(c, 0)  # sent to both peers at tick 0
    c.delivered(Envelope(src=2, dst=1, msg=Accepted(ballot=B, slots=(0,), first_unchosen=0)))
    assert _ticks(c, 1, 9, each=lambda: _beat(c)) == []  # heartbeats carry no entries: they are no resend
    assert _ticks(c, 1, 1, each=lambda: _beat(c)) == [
        "node 1, leader at 2.1, resent node 3 none of slots [0], which it has not seen acknowledged there, "
        "for 10 ticks (every retransmit_ticks: 10)"]
    c.sent(Envelope(src=1, dst=3, msg=Accept(ballot=B, commit=0, entries=(Proposal(slot=0, batch=(CMD,)),))))
    assert _ticks(c, 1, 9, each=lambda: _beat(c)) == []  # the resend restarts the count; node 2 owes nothing
    c.persisted(1, [ChosenRecord(slot=0, batch=(CMD,))])  # learned chosen: nothing is owed any more
    assert _ticks(c, 1, 20, each=lambda: _beat(c)) == []


def test_a_leader_steps_down_on_a_peer_snapshot_only_if_it_covers_a_slot_it_has_in_flight() -> None:
    c = _contracts()
    c.observe(1, Role.LEADER, B)
    _propose(c, 5)
    leading = (Role.LEADER, B)
    for last, after, needless in [(4, Role.FOLLOWER, True), (5, Role.FOLLOWER, False), (4, Role.LEADER, False)]:
        c.delivered(Envelope(src=2, dst=1, msg=Snapshot(last_slot=last, data="{}")))
        found = c.snapshot_step_down(1, last, leading, after)
        assert (found == "node 1, leader at 2.1, stepped down on a peer's snapshot through slot 4, which covers "
                         "none of the slots it had in flight ([5]): a needless step-down") if needless else found is None
    c.delivered(Envelope(src=2, dst=1, msg=Snapshot(last_slot=9, data="{}")))
    assert c.snapshot_step_down(1, 9, (Role.FOLLOWER, B), Role.FOLLOWER) is None  # no leader, no step-down


def test_a_node_asks_for_catch_up_only_from_below_a_chosen_point_a_peer_told_it_of() -> None:
    c = _contracts()
    assert "asked node 2 to catch it up from slot 0, and no peer ever told it" in (
        c.resent(Envelope(src=1, dst=2, msg=Catchup(from_slot=0))) or "")
    c.delivered(Envelope(src=2, dst=1, msg=Accepted(ballot=B, slots=(), first_unchosen=5)))
    assert c.resent(Envelope(src=1, dst=2, msg=Catchup(from_slot=4))) is None
    assert "(the highest it heard of: below 5): a needless catch-up" in (
        c.resent(Envelope(src=1, dst=2, msg=Catchup(from_slot=5))) or "")
    _ticks(c, 1, 9)
    assert "asked again to catch up from slot 4 9 ticks after the last time, within its retransmit_ticks of 10" in (
        c.resent(Envelope(src=1, dst=3, msg=Catchup(from_slot=4))) or "")
    assert c.resent(Envelope(src=1, dst=3, msg=Catchup(from_slot=3))) is None  # another request, not a repeat


def test_a_candidate_with_a_majority_of_promises_leads_at_once() -> None:
    c = _contracts()
    c.observe(1, Role.CANDIDATE, B)
    assert c.load(1, 0, 0, 0) is None
    c.delivered(Envelope(src=2, dst=1, msg=Promise(ballot=B, first_slot=0, chosen_through=0, entries=())))
    c.observe(1, Role.LEADER, B)
    assert c.load(1, 0, 0, 0) is None
    c.observe(3, Role.CANDIDATE, Ballot(round=3, node=3))
    c.delivered(Envelope(src=2, dst=3, msg=Promise(ballot=Ballot(round=3, node=3), first_slot=0, chosen_through=0,
                                                    entries=())))
    c.observe(3, Role.CANDIDATE, Ballot(round=3, node=3))
    assert "node 3 is still a candidate at 3.3 with the promises of nodes 2 and its own, a majority" in (
        c.load(3, 0, 0, 0) or "")


def _candidate() -> Contracts:
    """Node 1, candidate at B, told of slot 0 by two Promises: OTHER in ballot 1.3, CMD in 1.2 (lower)."""
    c = _contracts()
    c.observe(1, Role.CANDIDATE, B)
    for src, ballot, cmd in ((3, Ballot(round=1, node=3), OTHER), (2, Ballot(round=1, node=2), CMD)):
        entry = PromiseEntry(slot=0, ballot=ballot, batch=(cmd,))
        c.delivered(Envelope(src=src, dst=1, msg=Promise(ballot=B, first_slot=0, chosen_through=0, entries=(entry,))))
    return c


def test_a_new_leader_adopts_the_highest_ballot_value_its_phase_1_reported() -> None:
    assert _candidate().adopted(1, [AcceptRecord(slot=0, ballot=B, batch=(OTHER,))]) is None
    assert ("node 1 began leading at 2.1 proposing 1 command(s) from c#1 in slot 0, where its phase 1 reported "
            "1 command(s) from d#1 accepted in ballot 1.3, the highest reported (P2c)") in (
        _candidate().adopted(1, [AcceptRecord(slot=0, ballot=B, batch=(CMD,))]) or "")
    c = _candidate()
    c.adopted(1, [AcceptRecord(slot=0, ballot=Ballot(round=1, node=4), batch=(CMD,))])  # its own accept outranks them
    assert c.adopted(1, [AcceptRecord(slot=0, ballot=B, batch=(CMD,))]) is None


# ---------------------------------------------------------------------- in a run, planted in the core
def _quiet(**kw: object) -> SimConfig:
    """Seed 3 of `tests.harness.sim.runs.quiet`: what each test plants shows alone."""
    return quiet(3, **kw)


def test_a_correct_core_keeps_every_contract_under_faults() -> None:
    for seed in range(12):
        r = simulate(SimConfig(seed=seed), check_history=False)
        assert r.error is None and r.liveness is None, r.summary()


def test_a_leader_hint_that_is_not_a_node_id_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    prop: property = vars(Replica)["leader_id"]
    monkeypatch.setattr(Replica, "leader_id", prop.fget)  # @property lost: the hint is a bound method
    r = simulate(_quiet(), check_history=False)
    assert r.failed and "answered a client with a bad leader hint (method)" in (r.error or "")


def test_a_leader_that_never_checks_its_quorum_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._tick_leader

    def tick_leader(self: Replica) -> None:
        self._heard = set(self.peers)  # as if every peer had answered: it never steps down
        real(self)

    monkeypatch.setattr(Replica, "_tick_leader", tick_leader)
    r = simulate(_quiet(faults=(Fault(kind="isolate", target="leader", at_us=1_000_000, for_us=1_500_000),)),
                 check_history=False)
    assert r.failed and "let it hear no peer, no majority" in (r.liveness or "") and r.safety_violation is None
    monkeypatch.setattr(Replica, "_tick_leader", real)
    r = simulate(_quiet(faults=(Fault(kind="isolate", target="leader", at_us=1_000_000, for_us=1_500_000),)),
                 check_history=False)
    assert not r.failed, r.summary()


def test_a_heartbeat_one_tick_late_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._tick_leader

    def tick_leader(self: Replica) -> None:
        if self._heartbeat_elapsed == 0:
            self._heartbeat_elapsed = -1  # the timer starts one tick late after every send
        real(self)

    monkeypatch.setattr(Replica, "_tick_leader", tick_leader)
    r: SimResult = simulate(_quiet(), check_history=False)
    assert r.failed and "no Accept for 5 ticks (every heartbeat_ticks: 5)" in (r.liveness or "")


def test_an_accept_above_the_message_bound_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._retransmit_accepts

    def retransmit(self: Replica) -> None:
        config = self.config  # one slot more per retransmit than the config allows
        self.config = replace(config, entries_per_message_max=config.entries_per_message_max + 1)
        try:
            real(self)
        finally:
            self.config = config

    monkeypatch.setattr(Replica, "_retransmit_accepts", retransmit)
    core = CoreConfig(election_timeout_ticks=30, heartbeat_ticks=5, retransmit_ticks=10, window=8,
                      entries_per_message_max=2, batch_max=1)
    # busy clients on a lossy network: slots left unacknowledged, more of them than one message holds
    cfg = _quiet(core=core, concurrency=8, think_ms=0, net=NetFaults(loss=0.1))
    r = simulate(cfg, check_history=False)
    assert r.failed and "Accept entries for 3 slots, above entries_per_message_max 2" in (r.error or "")
    monkeypatch.setattr(Replica, "_retransmit_accepts", real)
    assert simulate(cfg, check_history=False).error is None


def test_a_resend_of_one_slot_where_more_are_owed_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def retransmit(self: Replica) -> None:
        for p in self.peers:  # the survivor of replica.py:650: the loop stops after the first missing slot
            missing = [Proposal(slot=s, batch=self._proposals[s]) for s in sorted(self._proposals)
                       if p not in self._acks[s]][:1]
            if missing:
                self._send(p, Accept(ballot=self._ballot, commit=self._log.first_unchosen, entries=tuple(missing)))

    r = planted(SimConfig(seed=0), monkeypatch, Replica, "_retransmit_accepts", retransmit)
    assert r.failed and "node 1 resent node 3 slots [102] of ballot 1.1, where the lowest it had not seen" in (
        r.liveness or "")


def test_a_first_resend_a_tick_late_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._become_leader

    def become_leader(self: Replica) -> None:
        real(self)
        self._retransmit_elapsed = -1  # the survivor of replica.py:572: the term's timer starts a tick behind

    r = planted(SimConfig(seed=3), monkeypatch, Replica, "_become_leader", become_leader)
    assert r.failed and ("node 4, leader at 2.4, resent node 1 none of slots [37], which it has not seen "
                         "acknowledged there, for 10 ticks") in (r.liveness or "")


def test_a_leader_that_steps_down_on_any_peer_snapshot_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._on_snapshot

    def on_snapshot(self: Replica, m: Snapshot) -> None:
        was_leader = self.role is Role.LEADER
        real(self, m)
        if was_leader:
            self._become_follower()  # whether or not the snapshot covers a slot it proposed in

    r = planted(SimConfig(seed=0), monkeypatch, Replica, "_on_snapshot", on_snapshot)
    assert r.failed and "stepped down on a peer's snapshot through slot 399, which covers none of the slots it had" in (
        r.liveness or "")


def test_a_leader_that_learns_a_foreign_value_and_leads_on_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def learn(self: Replica, slot: int, batch: tuple[Command, ...]) -> None:
        if self._log.choose(slot, batch):  # learned, and never a step-down: its commit covers whatever is chosen
            self._record(ChosenRecord(slot=slot, batch=batch), sync=False)
            self._proposals.pop(slot, None)
            self._acks.pop(slot, None)

    r = planted(SimConfig(seed=4), monkeypatch, Replica, "_learn", learn)  # the stale-leader fault's node 3
    assert r.failed and "still leads at 2.3 after it learned slot 4 chosen, above every slot" in (r.error or "")


def test_a_leader_that_installs_a_snapshot_over_its_proposals_and_leads_on_fails_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._on_snapshot

    def on_snapshot(self: Replica, m: Snapshot) -> None:
        self._become_follower = lambda: None  # type: ignore[method-assign]  # no step-down first
        try:
            real(self, m)
        finally:
            del self._become_follower

    r = planted(SimConfig(seed=6), monkeypatch, Replica, "_on_snapshot", on_snapshot)  # the stale leader, node 6
    assert r.failed and ("node 6 still leads at 2.6 after it installed a peer's snapshot through slot 21, over slot 5 "
                         "it proposed in") in (r.error or "")


def test_a_proposal_held_back_from_a_peer_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def broadcast(self: Replica, entries: Sequence[Proposal]) -> None:
        if not entries:
            return
        for p in self.peers[:-1]:  # every peer but the last: it gets them by retransmission
            self._send(p, Accept(ballot=self._ballot, commit=self._log.first_unchosen, entries=tuple(entries)))
        self._heartbeat_elapsed = 0

    r = planted(_quiet(), monkeypatch, Replica, "_broadcast_accepts", broadcast)
    assert r.failed and "and did not send it to node 3 in that same Ready (a new proposal leaves at once" in (
        r.liveness or "")


def test_a_window_one_slot_too_wide_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def window_open(self: Replica) -> bool:
        return self.next_slot - self.first_unchosen <= self.config.window

    r = planted(SimConfig(seed=14), monkeypatch, Replica, "_window_open", window_open)  # window 4, busy clients
    assert r.failed and "proposed queued commands up to 5 slots in flight, beyond its window of 4" in (r.liveness or "")


def test_a_new_leader_that_proposes_a_no_op_past_its_phase_1_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._phase1_values

    def phase1_values(self: Replica) -> tuple[int, dict[int, tuple[Command, ...]]]:
        base, values = real(self)
        return base, values or {base: ()}  # nothing reported: one no-op anyway

    r = planted(_quiet(), monkeypatch, Replica, "_phase1_values", phase1_values)
    assert r.failed and "with a no-op in slot 0, above every slot its phase 1 reported (at most -1)" in (r.liveness or "")


def test_a_prepare_resent_a_tick_early_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._broadcast_prepare

    def broadcast_prepare(self: Replica, *, skip: set[int]) -> None:
        real(self, skip=skip)
        self._retransmit_elapsed = 1  # its timer starts one tick ahead

    r = planted(SimConfig(seed=0), monkeypatch, Replica, "_broadcast_prepare", broadcast_prepare)
    assert r.failed and "ticks after the last, sooner than its retransmit_ticks" in (r.liveness or "")


def test_a_catch_up_asked_after_a_snapshot_caught_it_up_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica._on_snapshot

    def on_snapshot(self: Replica, m: Snapshot) -> None:
        catchup_from = self._catchup_from
        real(self, m)
        if self._catchup_from is None:
            self._catchup_from = catchup_from  # the core before its fix: the request stays armed

    r = planted(SimConfig(seed=9), monkeypatch, Replica, "_on_snapshot", on_snapshot)
    assert r.failed and "asked node 1 to catch it up from slot 186, and no peer ever told it" in (r.liveness or "")


def test_a_catch_up_asked_of_a_peer_no_further_along_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def note_progress(self: Replica, src: int, their_first_unchosen: int) -> None:
        if their_first_unchosen >= self.first_unchosen:  # ">=": a peer just as far along counts as ahead
            self._known_commit = max(self._known_commit, their_first_unchosen)
            if self._catchup_from is None:
                self._catchup_from = src
                self._catchup_elapsed = self.config.retransmit_ticks

    r = planted(_quiet(), monkeypatch, Replica, "_note_progress", note_progress)
    assert r.failed and "to catch it up from slot 0, and no peer ever told it" in (r.liveness or "")


def test_a_candidate_that_waits_for_one_promise_too_many_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def on_promise(self: Replica, src: int, m: Promise) -> None:
        if self.role is Role.CANDIDATE and m.ballot == self._ballot:
            self._promises[src] = m
            if len(self._promises) >= self.quorum:  # its own promise not counted
                self._become_leader()

    r = planted(_quiet(), monkeypatch, Replica, "_on_promise", on_promise)
    assert r.failed and "still a candidate at 1.1 with the promises of nodes 3 and its own, a majority" in (
        r.liveness or "")


def test_a_new_leader_that_adopts_a_lower_ballots_value_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def phase1_values(self: Replica) -> tuple[int, dict[int, tuple[Command, ...]]]:
        base = max([self.first_unchosen] + [p.chosen_through for p in self._promises.values()])
        best: dict[int, PromiseEntry] = {}
        for entries in [self._log.promise_entries(base)] + [p.entries for p in self._promises.values()]:
            for e in entries:
                cur = best.get(e.slot)
                if e.slot >= base and (cur is None or not cur.chosen):  # the last report wins, not the highest
                    best[e.slot] = e
        return base, {s: e.batch for s, e in best.items()}

    r = planted(SimConfig(seed=32), monkeypatch, Replica, "_phase1_values", phase1_values)
    assert r.failed and "where its phase 1 reported 1 command(s) from sim-p8#1 accepted in ballot 3.2" in (
        r.agreement or "")


def test_a_catch_up_repeated_at_every_tick_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica.tick

    def tick(self: Replica) -> None:
        if self._catchup_from is not None:
            self._catchup_elapsed = self.config.retransmit_ticks  # its timer always due
        real(self)

    r = planted(SimConfig(seed=1), monkeypatch, Replica, "tick", tick)
    assert r.failed and "asked again to catch up from slot" in (r.liveness or "")


# ---------------------------------------------------------------------------- yield to a higher ballot
def test_a_proposer_told_of_a_higher_ballot_must_be_a_follower_after_that_input() -> None:
    own, higher = Ballot(round=1, node=1), Ballot(round=2, node=3)
    nack = Nack(ballot=higher, rejected=own)
    assert yield_problem(1, nack, (Role.LEADER, own), (Role.FOLLOWER, own)) is None
    assert yield_problem(1, nack, (Role.LEADER, own), (Role.LEADER, own)) == (
        "node 1, leader at 1.1, is still leader after a Nack naming 2.3: it must yield to a higher ballot")
    stale = Nack(ballot=higher, rejected=Ballot(round=0, node=1))  # answers an older ballot of ours
    assert yield_problem(1, stale, (Role.CANDIDATE, own), (Role.CANDIDATE, own)) is None
    prepare = Prepare(ballot=higher, first_slot=0)
    assert "a Prepare of 2.3 it took" in (yield_problem(1, prepare, (Role.CANDIDATE, own), (Role.CANDIDATE, higher)) or "")
    assert yield_problem(1, prepare, (Role.CANDIDATE, own), (Role.CANDIDATE, own)) is None  # ignored: not taken


def test_a_leader_that_ignores_a_nack_fails_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def on_nack(self: Replica, src: int, m: Nack) -> None:  # the mistake: it only notes the round
        self._max_round_seen = max(self._max_round_seen, m.ballot.round)

    r = planted(SimConfig(seed=0), monkeypatch, Replica, "_on_nack", on_nack)
    assert r.liveness is not None and "it must yield to a higher ballot" in r.liveness
