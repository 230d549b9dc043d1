"""The fault plan: the stale-leader fault comes from a stream of its own and leaves every other draw alone."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from harness.sim import SimConfig, config
from harness.sim.nemesis import plan_stale_leader


def test_the_stale_leader_is_appended_and_the_faults_drawn_before_it_keep_their_draws(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with_it = [SimConfig(seed=seed).resolved() for seed in range(40)]
    monkeypatch.setattr(config, "plan_stale_leader", lambda rng, duration_us: [])  # the plan before the new kind
    without = [SimConfig(seed=seed).resolved() for seed in range(40)]
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
