"""The simulator's detection power: with each deliberate bug the sweep finds a safety violation within
its seed budget, and with BUGS empty the same kind of sweep finds none. Deterministic: the sweep always
stops at the same seed, so these tests take the same time on every run (about a minute in all)."""

from __future__ import annotations

import pytest

from harness.detect import simulate_bug
from harness.sim import SimConfig
from harness.sim.sweep import sweep
from replica_image.bugs import KNOWN_BUGS

# Bugs the simulator cannot meet: they live outside what it models. None today; keep the list honest.
OUT_OF_REACH: frozenset[str] = frozenset()


@pytest.mark.parametrize("bug", sorted(KNOWN_BUGS - OUT_OF_REACH))
def test_each_bug_is_caught_by_a_safety_check_within_the_detect_budget(bug: str) -> None:
    found = simulate_bug(bug, seeds=3000)
    assert found.caught and found.check in ("agreement", "linearizability"), found


def test_a_correct_replica_passes_a_sweep_of_300_seeds() -> None:
    done = sweep(SimConfig(), first=10_000, count=300)
    assert done.failure is None, done.failure.summary() if done.failure else ""
    assert done.seeds == 300 and done.ops > 300 * 100
