"""The forged-message fault: a correct core refuses every forgery and is the same run as without them;
a core (or host gate) that lets one through, or is changed by one, fails the seed."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from harness.sim import SimConfig, simulate
from harness.sim.forge import FORGERY_KINDS, Forger, Forgery, refused
from replica_image.paxos import Replica
from targets.paxos.core import (
    Accept,
    Ballot,
    Command,
    CoreConfig,
    Envelope,
    InvalidMessage,
    Proposal,
    ProtocolViolation,
)
from tests.harness.sim.runs import planted, quiet


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The forgeries every world of this test makes, by kind."""
    made: Counter[str] = Counter()
    real = Forger.after

    def after(self: Forger, env: Envelope, core: Replica, state: Callable[[], str]) -> str | None:
        before = dict(self.counts)
        out = real(self, env, core, state)
        made.update({k: v - before.get(k, 0) for k, v in self.counts.items() if v != before.get(k, 0)})
        return out

    monkeypatch.setattr(Forger, "after", after)
    return made


def test_a_correct_core_refuses_every_kind_of_forgery_and_runs_as_it_would_without_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = _counting(monkeypatch)
    for seed in (1, 2, 3):  # snapshots, five and seven replicas, a lossy network among them
        forged = simulate(SimConfig(seed=seed, forge=0.2), check_history=False)
        assert not forged.failed, forged.summary()
        plain = simulate(SimConfig(seed=seed, forge=0.0), check_history=False)
        assert forged.events == plain.events and forged.fault_log == plain.fault_log  # refused: no trace
    assert set(made) == set(FORGERY_KINDS), made


def test_the_forge_rate_is_drawn_from_a_stream_of_its_own() -> None:
    a, b = SimConfig(seed=4).resolved(), SimConfig(seed=4, forge=0.0).resolved()
    assert a.forge in (0.005, 0.02, 0.05) and b.forge == 0.0
    assert a.faults == b.faults and a.net == b.net and a.core == b.core and a.size == b.size
    with pytest.raises(ValueError, match="SimConfig.forge"):
        SimConfig(forge=1.5)


def test_an_acceptor_that_takes_two_values_in_one_ballot_fails_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    r = planted(quiet(1, forge=0.2), monkeypatch, Replica, "_check_one_value_per_ballot", lambda self, src, m: None)
    assert r.error is not None and "forged" in r.error and "not the ProtocolViolation" in r.error, r.summary()


def test_a_replica_that_takes_a_prepare_or_accept_from_another_node_than_its_ballots_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    r = planted(quiet(1, forge=0.2), monkeypatch, Replica, "_check_ballot_owner", lambda self, src, b, kind: None)
    assert r.error is not None and "forged ballot-owner" in r.error and "answered no error" in r.error, r.summary()


def test_a_host_that_lets_a_snapshot_its_kv_cannot_restore_reach_the_core_fails_the_seed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import replica_image.loop

    r = planted(quiet(1, forge=0.2), monkeypatch, replica_image.loop, "validate_snapshot", lambda data: None)
    assert r.error is not None and "forged bad-snapshot" in r.error, r.summary()


def _acceptor() -> tuple[Replica, Envelope]:
    """Node 2 of three, holding ballot 1.1 with slot 0 accepted: an Accept of it from node 1, delivered."""
    core = Replica(2, [1, 2, 3], CoreConfig(), random.Random(0))
    cmd = Command(client_id="c", request_id=1, op="put", key="k", value="v")
    env = Envelope(src=1, dst=2, msg=Accept(ballot=Ballot(round=1, node=1), commit=0,
                                            entries=(Proposal(slot=0, batch=(cmd,)),)))
    core.step(env)
    while core.has_ready():
        core.advance(core.ready())
    return core, env


def test_a_refusal_that_changes_the_replica_breaks_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    core, env = _acceptor()
    assert isinstance(env.msg, Accept)
    other = Accept(ballot=env.msg.ballot, commit=0, entries=(Proposal(slot=0, batch=()),))
    f = Forgery(kind="reaccept", env=Envelope(src=1, dst=2, msg=other), to=2, slots=(0,), expect=ProtocolViolation)
    assert refused(f, core, (1, 2, 3)) is None  # the correct core: refused, unchanged

    def half(self: Replica, src: int, m: Accept) -> None:  # refuses, but only after it took the leader's word
        self._leader_id = None
        raise ProtocolViolation("two values")

    monkeypatch.setattr(Replica, "_check_one_value_per_ballot", half)
    broken = refused(f, core, (1, 2, 3))
    assert broken is not None and "changed leader_id" in broken
    stranger = Forgery(kind="stranger", env=Envelope(src=4, dst=2, msg=other), to=2, slots=(), expect=InvalidMessage)
    assert refused(stranger, core, (1, 2, 3)) is None  # refused at the envelope, before the broken check
