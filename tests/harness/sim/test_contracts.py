"""The contracts of the core no history shows (harness.sim.contracts): each one passes on the correct
core and catches a planted mistake, both alone (fed by hand) and in a simulated run."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from harness.sim import Fault, NetFaults, SimConfig, SimResult, simulate
from harness.sim.contracts import Contracts, checkquorum_ticks_max
from targets.paxos.core import (
    Accept, Ballot, Chosen, Command, CoreConfig, Envelope, Prepare, Promise, Replica, Result, Role,
)
from replica_image.paxos import Proposal
from tests.harness.sim.runs import quiet

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
