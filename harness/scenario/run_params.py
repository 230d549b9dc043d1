"""What one run of a scenario uses: its seed and its bugs, with the command line's overrides applied.

The rule lives here and nowhere else, so the Docker runner (`harness.runner`) and the simulator
(`harness.sim.scenario_run`) cannot drift apart: `--seed S` replaces the file's `seed`, `--bugs a,b`
replaces the file's `cluster.bugs`. An option left out (None) keeps the file's value; an option given
is an override even when it is falsy: `--seed 0` runs seed 0, and `--bugs ''` runs with no bug at all
(it clears the file's bugs, it does not keep them).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.scenario.model import Scenario

__all__ = ["RunParams", "resolve_run"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunParams:
    """The seed and the bugs one run of a scenario uses, overrides applied (`resolve_run`)."""

    seed: int  # the root seed: the fault plan, the workload and the simulator all derive from it
    bugs: tuple[str, ...]  # the replica's deliberate bugs, in the order given


def resolve_run(scenario: Scenario, *, seed: int | None, bugs: tuple[str, ...] | None) -> RunParams:
    """The run's parameters: `seed` and `bugs` (the CLI's `--seed` and `--bugs`, None when not given)
    override the scenario's `seed` and `cluster.bugs`. Pure; the only place this rule is written."""
    return RunParams(seed=scenario.seed if seed is None else seed,
                     bugs=scenario.cluster.bugs if bugs is None else bugs)
