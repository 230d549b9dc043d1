"""Randomized safety: many seeded schedules of loss, duplication, reordering, partitions, crash-restart
(keeping only synced records) and snapshots; every commit is cross-checked as it happens."""

from __future__ import annotations

import pytest

from replica_image.errors import InternalError, ProtocolViolation
from replica_image.paxos import replica as replica_module
from tests.replica.chaos import random_run
from tests.replica.cluster import SafetyViolation

SEEDS = range(120)


@pytest.mark.parametrize("n", [3, 5])
def test_no_two_replicas_ever_commit_different_batches_for_a_slot(n: int) -> None:
    for seed in SEEDS:
        c = random_run(seed, n=n, snapshot_every=0)
        c.check_prefixes()


def test_safety_holds_with_snapshots_and_truncated_logs() -> None:
    for seed in SEEDS:
        random_run(1000 + seed, n=3, snapshot_every=3).check_prefixes()


def test_after_healing_every_replica_converges_to_the_same_state() -> None:
    converged = 0
    for seed in range(40):
        c = random_run(seed, n=3)
        c.run(200)
        firsts = {c.nodes[i].replica.first_unchosen for i in c.ids}
        digests = {c.nodes[i].kv.digest() for i in c.ids}
        assert len(firsts) == 1 and len(digests) == 1, f"seed {seed}: {firsts} {digests}"
        converged += max(firsts) > 0
    assert converged > 30  # the schedules do commit things


def test_the_harness_catches_a_leader_that_ignores_phase1_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The randomized test can fail: break P2c on purpose and it must notice."""
    real = replica_module.Replica._phase1_values

    def forgetful(self: replica_module.Replica) -> tuple[int, dict[int, tuple[object, ...]]]:
        base, _values = real(self)
        return base, {}

    monkeypatch.setattr(replica_module.Replica, "_phase1_values", forgetful)
    caught = 0
    for seed in range(60):
        try:
            random_run(seed, n=3)
        except (SafetyViolation, InternalError, ProtocolViolation):
            caught += 1
    assert caught > 0
