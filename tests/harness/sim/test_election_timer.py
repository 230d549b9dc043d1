"""The election timer's contract (`harness.sim.election_timer`): a follower with no leader starts an
election after [timeout, 2 x timeout) of its own ticks, counted from the last leader it heard."""

from __future__ import annotations

import pytest

from harness.sim import SimConfig
from harness.sim.election_timer import ElectionTimer
from targets.paxos.core import Accept, Ballot, CoreConfig, Prepare, Replica, Role
from tests.harness.sim.runs import planted

CFG = CoreConfig(election_timeout_ticks=10, heartbeat_ticks=2, retransmit_ticks=3)
B1, B2 = Ballot(round=1, node=2), Ballot(round=2, node=1)


class _Clocked(ElectionTimer):
    """The timer with node clocks the test advances (in a run, `Contracts.ticks` keeps them)."""

    def __init__(self) -> None:
        self.clock: dict[int, int] = {}
        super().__init__(CFG, lambda i: self.clock.get(i, 0))

    def ticked(self, i: int) -> None:
        self.clock[i] = self.clock.get(i, 0) + 1


def _ticks(timer: _Clocked, i: int, n: int, role: Role = Role.FOLLOWER) -> str | None:
    late = None
    for _ in range(n):
        timer.ticked(i)
        late = late or timer.after_tick(i, role)
    return late


def test_an_election_within_the_window_keeps_the_contract() -> None:
    timer = _Clocked()
    timer.started(1, Role.FOLLOWER, Ballot.ZERO)
    assert _ticks(timer, 1, 15) is None
    assert timer.observe(1, Role.CANDIDATE, B2) is None
    assert _ticks(timer, 1, 19, Role.CANDIDATE) is None  # a candidacy restarts the timer


def test_an_early_or_a_late_election_is_named() -> None:
    timer = _Clocked()
    timer.started(1, Role.FOLLOWER, Ballot.ZERO)
    _ticks(timer, 1, 9)
    assert timer.observe(1, Role.CANDIDATE, B2) == ("node 1 started an election at 2.1 after 9 ticks without a "
                                                    "leader, below election_timeout_ticks (10)")
    timer.started(2, Role.FOLLOWER, Ballot.ZERO)
    assert _ticks(timer, 2, 19) is None
    assert _ticks(timer, 2, 1) == ("node 2, follower, heard no leader for 20 ticks before its election: at most "
                                   "2 x election_timeout_ticks - 1 (19)")


def test_a_live_leaders_accept_or_a_granted_prepare_restarts_the_timer() -> None:
    timer = _Clocked()
    timer.started(1, Role.FOLLOWER, B1)
    _ticks(timer, 1, 8)
    timer.took(1, Accept(ballot=B1, commit=0, entries=()), B1, B1)  # a heartbeat of the leader it promised
    _ticks(timer, 1, 8)
    assert "after 8 ticks" in (timer.observe(1, Role.CANDIDATE, B2) or "")  # 8, not 16: the heartbeat restarted it
    timer.started(2, Role.FOLLOWER, B1)
    _ticks(timer, 2, 8)
    timer.took(2, Accept(ballot=Ballot(round=1, node=1), commit=0, entries=()), B1, B1)  # below its promise
    timer.took(2, Prepare(ballot=B1, first_slot=0), B1, B1)                               # not a new promise
    _ticks(timer, 2, 4)
    assert timer.observe(2, Role.CANDIDATE, Ballot(round=2, node=2)) is None  # 12 ticks: neither restarted it


def test_a_core_whose_timer_runs_one_tick_fast_fails_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def fast(self: Replica) -> int:
        t = self.config.election_timeout_ticks
        return int(self._rng.randrange(t, 2 * t)) - 1  # the mistake: one tick below the documented window

    r = planted(SimConfig(seed=0), monkeypatch, Replica, "_random_timeout", fast)
    assert r.liveness is not None and "below election_timeout_ticks (30)" in r.liveness
