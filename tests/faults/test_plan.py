"""The pure fault plan: determinism from the seed, timing, target resolution and expansion."""

from __future__ import annotations

import random

import pytest

from faults.plan import FaultPlan, LinkToxic, Partition, ProcessAction, make_plan, resolve_target, timeline
from harness.scenario import Scenario, TargetSpec, parse_scenario


def scenario(faults: str, *, size: int = 3, duration: str = "60s", seed: int = 1):  # type: ignore[no-untyped-def]
    return parse_scenario(f"description: t\nseed: {seed}\ncluster: {{size: {size}}}\n"
                          f"workload: {{duration: {duration}}}\nfaults:\n{faults}")


def file_plan(s: Scenario) -> FaultPlan:
    """The plan at the file's own seed (no --seed given)."""
    return make_plan(s, seed=s.seed)


FLAPPING = ("  - one-of:\n      - partition: {shape: halves}\n      - kill: {target: random}\n"
            "      - pause: {target: minority}\n    every: 5s\n    for: 2s\n    jitter: 1s\n")


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    s = scenario(FLAPPING)
    assert file_plan(s) == file_plan(s)
    assert make_plan(s, seed=2) != file_plan(s)
    assert make_plan(s, seed=2).seed == 2


def test_editing_one_entry_does_not_reshuffle_another() -> None:
    one = file_plan(scenario(FLAPPING))
    two = file_plan(scenario(FLAPPING + "  - kill: {target: random}\n    at: 30s\n    for: 1s\n"))
    def key(plan: FaultPlan) -> list[tuple[float, float | None, object]]:
        return [(s.start_s, s.heal_s, s.fault) for s in plan.steps if s.entry == 0]

    assert key(two) == key(one)


def test_repeats_stay_in_their_slot_and_inside_the_workload() -> None:
    plan = file_plan(scenario(FLAPPING, duration="32s"))
    starts = [s.start_s for s in plan.steps]
    assert len(starts) == 7  # at 0, 5, ..., 30
    for k, step in enumerate(plan.steps):
        assert 5 * k <= step.start_s <= 5 * k + 1
        assert step.heal_s is not None and step.heal_s == min(step.start_s + 2, 32)
        assert step.heal_s <= 32


def test_once_and_until_final_heal() -> None:
    plan = file_plan(scenario("  - kill: {target: n2}\n    at: 7s\n"))
    (step,) = plan.steps
    assert (step.start_s, step.heal_s) == (7.0, None)
    assert step.fault == ProcessAction(action="kill", nodes=(2,), graceful=True)
    assert timeline(plan)[0].action == "apply" and len(timeline(plan)) == 1


def test_timeline_heals_before_applies_at_the_same_time() -> None:
    plan = file_plan(scenario("  - partition: {shape: halves}\n    at: 0s\n    every: 5s\n    for: 5s\n",
                              duration="10s"))
    events = [(e.at_s, e.action, e.step.step) for e in timeline(plan)]
    assert events == [(0.0, "apply", 0), (5.0, "heal", 0), (5.0, "apply", 1), (10.0, "heal", 1)]


def test_rolling_restart_restarts_every_node_once_gap_apart() -> None:
    plan = file_plan(scenario("  - rolling-restart: {gap: 3s, graceful: false}\n    at: 10s\n", size=5))
    assert [s.start_s for s in plan.steps] == [10.0, 13.0, 16.0, 19.0, 22.0]
    nodes = [s.fault.nodes for s in plan.steps]  # type: ignore[union-attr]
    assert sorted(n[0] for n in nodes) == [1, 2, 3, 4, 5]  # type: ignore[index]
    assert all(isinstance(s.fault, ProcessAction) and s.fault.action == "restart" and not s.needs_heal
               for s in plan.steps)
    assert not [e for e in timeline(plan) if e.action == "heal"]


def test_leader_targets_stay_open_until_applied() -> None:
    plan = file_plan(scenario("  - partition: {shape: isolate-leader}\n    for: 1s\n"
                              "  - pause: {target: leader}\n    at: 5s\n    for: 1s\n"
                              "  - latency: {latency: 10ms, target: leader, links: clients}\n"
                              "    at: 9s\n    for: 1s\n"))
    part, pause, lat = (s.fault for s in plan.steps)
    assert isinstance(part, Partition) and part.grudge is None
    assert part.grudge_for(nodes=(1, 2, 3), leader=3) == {3: {1, 2}, 1: {3}, 2: {3}}
    with pytest.raises(ValueError, match="no leader"):
        part.grudge_for(nodes=(1, 2, 3), leader=None)
    assert isinstance(pause, ProcessAction) and pause.nodes is None and pause.nodes_for(leader=2) == (2,)
    assert isinstance(lat, LinkToxic) and lat.proxies(size=3, leader=1) == ["client-n1"]


def test_link_toxic_proxies_touch_the_target_in_both_directions() -> None:
    lat = LinkToxic(toxic="latency", attributes=(("latency", 5), ("jitter", 0)), toxicity=1.0,
                    links="all", nodes=(2,))
    assert lat.proxies(size=3, leader=None) == ["n1-n2", "n2-n1", "n2-n3", "n3-n2", "client-n2"]


@pytest.mark.parametrize("n", [3, 5, 7])
def test_resolve_target_sizes(n: int) -> None:
    rng = random.Random(0)
    assert resolve_target(TargetSpec(kind="all"), size=n, rng=rng) == tuple(range(1, n + 1))
    assert resolve_target(TargetSpec(kind="leader"), size=n, rng=rng) is None
    assert len(resolve_target(TargetSpec(kind="random"), size=n, rng=rng) or ()) == 1
    assert len(resolve_target(TargetSpec(kind="minority"), size=n, rng=rng) or ()) == (n - 1) // 2
    assert len(resolve_target(TargetSpec(kind="majority"), size=n, rng=rng) or ()) == n // 2 + 1
    assert resolve_target(TargetSpec(kind="nodes", nodes=(2,)), size=n, rng=rng) == (2,)


def test_describe_names_the_cut() -> None:
    plan = file_plan(scenario("  - partition: {shape: groups, groups: [[n1], [n2, n3]], mode: reject}\n"
                              "    for: 1s\n"))
    assert plan.steps[0].describe() == "partition groups (reject): n1 cannot hear n2,n3; n2 cannot hear n1; " \
                                       "n3 cannot hear n1"


def test_the_plan_does_not_depend_on_the_interpreter_hash_seed() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("from harness.scenario import load_scenario; from faults.plan import make_plan; "
            "import hashlib; s = load_scenario('scenarios/flapping-partitions.yaml'); p = make_plan(s, seed=s.seed); "
            "print(hashlib.sha256(repr(p).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}, timeout=60).stdout
               for seed in ("0", "1", "12345")}
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64


def test_disk_faults_are_planned_like_kills_and_corrupt_draws_its_damage_from_the_seed() -> None:
    faults = ("  - power-loss: {target: majority}\n    at: 2s\n    for: 3s\n"
              "  - corrupt: {target: n2, where: random}\n    at: 6s\n    for: 2s\n")
    plan = file_plan(scenario(faults, seed=9))
    power, damage = (s.fault for s in plan.steps)
    assert isinstance(power, ProcessAction) and power.action == "power-loss" and len(power.nodes or ()) == 2
    assert isinstance(damage, ProcessAction) and damage.action == "corrupt" and damage.nodes == (2,)
    assert damage.where == "random" and damage.salt == _salt(faults, 9)
    assert damage.salt != _salt(faults, 10)
    assert [e.action for e in timeline(plan)] == ["apply", "heal", "apply", "heal"]
    assert plan.steps[1].describe() == "corrupt (flipped byte) n2"


def _salt(faults: str, seed: int) -> int:
    fault = file_plan(scenario(faults, seed=seed)).steps[1].fault
    assert isinstance(fault, ProcessAction)
    return fault.salt
