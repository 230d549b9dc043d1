"""The fault plan: the stale-leader and stale-ack faults come from streams of their own and leave every
other draw alone."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from harness.sim import SimConfig, config
from harness.sim.nemesis import plan_stale_ack, plan_stale_leader


def test_the_stale_leader_is_appended_and_the_faults_drawn_before_it_keep_their_draws(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with_it = [SimConfig(seed=seed).resolved() for seed in range(40)]
    monkeypatch.setattr(config, "plan_stale_ack", lambda rng, size, duration_us: [])  # appended after it
    only_stale = [SimConfig(seed=seed).resolved() for seed in range(40)]
    monkeypatch.setattr(config, "plan_stale_leader", lambda rng, duration_us: [])  # the plan before the new kind
    without = [SimConfig(seed=seed).resolved() for seed in range(40)]
    for a, b in zip(with_it, only_stale):  # the stale ack comes last, and changes nothing before it
        assert a.faults is not None and b.faults is not None
        assert a.faults[:len(b.faults)] == b.faults and all(f.kind == "stale-ack" for f in a.faults[len(b.faults):])
    with_it = only_stale
    seen = 0
    for seed, (a, b) in enumerate(zip(with_it, without)):
        assert a.faults is not None and b.faults is not None
        # every other fault as before, in the same order (so with the same fault number), and every other draw
        assert a.faults[:len(b.faults)] == b.faults and replace(a, faults=b.faults) == b
        stale = a.faults[len(b.faults):]
        assert list(stale) == plan_stale_leader(random.Random(f"{seed}/stale-leader"), duration_us=4_000_000)
        seen += len(stale)
    assert 10 <= seen <= 30  # about half of the seeds


def test_a_stale_leader_fault_fits_in_the_workload_and_is_seeded() -> None:
    for s in range(50):
        for f in plan_stale_leader(random.Random(s), duration_us=4_000_000, chance=1.0):
            assert f.kind == "stale-leader" and 0 < f.at_us <= 1_000_000
            assert f.at_us + f.lag_us + f.watch_us + f.for_us <= 5_000_000
            assert 1_000_000 <= f.for_us <= 2_500_000 and 150_000 <= f.filter_us <= 300_000
            assert "stale leader" in f.describe()
    assert plan_stale_leader(random.Random(1), duration_us=4_000_000, chance=1.0) == \
        plan_stale_leader(random.Random(1), duration_us=4_000_000, chance=1.0)
    assert plan_stale_leader(random.Random(1), duration_us=4_000_000, chance=0.0) == []
    assert plan_stale_leader(random.Random(1), duration_us=1_000_000, chance=1.0) == []  # too short a run


def test_a_stale_ack_fault_is_appended_last_from_its_own_stream_only_with_five_replicas_or_more() -> None:
    seen = 0
    for seed in range(60):
        cfg = SimConfig(seed=seed).resolved()
        assert cfg.faults is not None
        acks = [f for f in cfg.faults if f.kind == "stale-ack"]
        assert acks == plan_stale_ack(random.Random(f"{seed}/stale-ack"), size=cfg.n, duration_us=4_000_000)
        assert cfg.faults[len(cfg.faults) - len(acks):] == tuple(acks)  # last: the other fault numbers stay
        assert not acks or cfg.n >= 5
        seen += len(acks)
    assert 10 <= seen <= 30  # about half of the 3/5 of the seeds with five or seven replicas


def test_a_stale_ack_fault_fits_in_the_workload_and_is_seeded() -> None:
    for s in range(50):
        for f in plan_stale_ack(random.Random(s), size=5, duration_us=4_000_000, chance=1.0):
            assert f.kind == "stale-ack" and 0 < f.at_us <= 500_000
            assert f.at_us + f.watch_us + f.for_us + f.hub_us <= 4_000_000
            # the split waits out the leader's step-down (two election timeouts at most, 600 ms) and its
            # next election timeout; the slow link's round trip fits in a candidate's 300 ms
            assert 1_200_000 <= f.for_us <= 1_800_000 and 60_000 <= f.slow_us <= 120_000
            assert 600_000 <= f.hub_us <= 1_000_000
            assert "stale ack" in f.describe()
    assert plan_stale_ack(random.Random(1), size=7, duration_us=4_000_000, chance=1.0) == \
        plan_stale_ack(random.Random(1), size=7, duration_us=4_000_000, chance=1.0)
    assert plan_stale_ack(random.Random(1), size=5, duration_us=4_000_000, chance=0.0) == []
    assert plan_stale_ack(random.Random(1), size=3, duration_us=4_000_000, chance=1.0) == []  # no shape with 3
    assert plan_stale_ack(random.Random(1), size=5, duration_us=1_000_000, chance=1.0) == []  # too short a run
