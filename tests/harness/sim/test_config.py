"""What one seed is (`SimConfig.resolved`): swarm testing draws the cluster size and the run's other
parameters from the seed, the same ones every time, a pinned field changes nothing else, and the
replay command printed for a run gives back that run."""

from __future__ import annotations

import argparse
import shlex
from collections import Counter
from dataclasses import replace

import pytest

from harness.sim import NetFaults, SimConfig
from harness.sim.nemesis import FAULT_KINDS
from harness.sim.sweep import config_from_args, register_sim, replay_command


def test_the_same_seed_draws_the_same_parameters() -> None:
    for seed in range(20):
        assert SimConfig(seed=seed).resolved() == SimConfig(seed=seed).resolved()


def test_a_sweep_varies_the_cluster_size_clients_keys_and_fault_kinds_per_seed() -> None:
    cfgs = [SimConfig(seed=seed).resolved() for seed in range(200)]
    sizes = Counter(c.size for c in cfgs)
    assert set(sizes) == {1, 2, 3, 4, 5, 6, 7}, sizes  # even sizes and one replica too, a quarter of the seeds
    assert min(sizes[n] for n in (3, 5, 7)) >= 20 and 25 <= sum(sizes[n] for n in (1, 2, 4, 6)) <= 75, sizes
    assert len({c.concurrency for c in cfgs}) >= 4 and len({c.keys for c in cfgs}) >= 4
    assert len({c.think_ms for c in cfgs}) >= 3
    kinds = [frozenset(f.kind for f in c.faults or ()) for c in cfgs]
    assert len(set(kinds)) >= 10  # seeds leave different fault kinds out (swarm), not one fixed mix
    assert any(len(k) == len(FAULT_KINDS) for k in kinds)
    for c in cfgs:  # a fault plan names only nodes of its own cluster
        assert all(n <= (c.size or 0) for f in c.faults or () for g in f.groups for n in g)


def test_a_third_of_the_seeds_run_the_core_with_tight_limits_and_the_same_timing() -> None:
    from harness.sim.config import replica_core_config

    cores = [SimConfig(seed=seed, bugs=frozenset({"no-dedup"})).resolved().core for seed in range(150)]
    default = replica_core_config(frozenset({"no-dedup"}))
    tight = [c for c in cores if c != default]
    assert 30 <= len(tight) <= 70 and all(c is not None and c.window <= 8 and c.bugs == default.bugs for c in tight)
    assert all(c is not None and c.election_timeout_ticks == default.election_timeout_ticks for c in tight)


def test_half_of_the_seeds_send_every_message_through_the_codec() -> None:
    wire = Counter(SimConfig(seed=seed).resolved().wire for seed in range(200))
    assert set(wire) == {True, False} and wire[True] >= 70 and wire[False] >= 70, wire
    assert SimConfig(seed=3, wire=True).resolved().wire is True


def test_a_one_replica_cluster_runs_every_fault_kind_it_can() -> None:
    """A split of one node has no sides: the plan cuts it off from nobody instead of failing to draw."""
    from harness.sim import simulate

    for seed in range(6):
        result = simulate(SimConfig(seed=seed, size=1, duration_ms=1_000, settle_ms=1_000))
        assert not result.failed, result.summary()
        assert {f.kind for f in result.config.faults or ()} <= set(FAULT_KINDS)


def test_pinning_the_size_keeps_every_other_draw_of_the_seed() -> None:
    for seed in range(30):
        drawn = SimConfig(seed=seed).resolved()
        assert SimConfig(seed=seed, size=drawn.size).resolved() == drawn
        five = SimConfig(seed=seed, size=5).resolved()
        assert five.size == 5 and (five.net, five.concurrency, five.keys, five.think_ms, five.restart_ms) == \
            (drawn.net, drawn.concurrency, drawn.keys, drawn.think_ms, drawn.restart_ms)
        assert SimConfig(seed=seed, concurrency=1, net=NetFaults()).resolved().concurrency == 1


def test_bad_pinned_values_are_refused() -> None:
    with pytest.raises(ValueError, match="SimConfig.size must be at least 1"):
        SimConfig(size=0)
    with pytest.raises(ValueError, match="resolve the config first"):
        SimConfig().n  # noqa: B018 - the property raises


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register_sim(parser.add_subparsers())
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv", [["sim"], ["sim", "--bugs", "no-dedup", "--duration", "2s"], ["sim", "--size", "5"]])
def test_the_replay_command_of_a_swept_seed_resolves_to_the_same_run(argv: list[str]) -> None:
    base, _ = config_from_args(_parse(argv))
    for seed in (0, 1, 7, 12):
        swept = replace(base, seed=seed).resolved()
        command = replay_command(swept)
        assert command.startswith(f"paxos-chaos sim --seed {seed} --size {swept.size} ")
        replayed, _ = config_from_args(_parse(shlex.split(command)[1:]))
        assert replayed.resolved() == swept
