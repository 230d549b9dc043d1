"""Which world a scenario can run in: Docker (`paxos-chaos run`) or the simulator (`paxos-chaos sim FILE`).

One file runs in both, except simulator-only faults (`faults.schema.SIM_ONLY_FAULTS`: a crash point
aims at an instant no wall-clock nemesis can hit), which the Docker runner refuses with the file:line
of the item and the fix. The simulator's own list of what it skips (byte-level toxics) is in
`harness.sim.scenario_run`, next to the mapping it qualifies.
"""

from __future__ import annotations

from faults.schema import (
    SIM_ONLY_FAULTS,
    TOXIC_FAULTS,
    CrashPointSpec,
    FaultSpec,
    LinkSpec,
    PartitionSpec,
    ProcessSpec,
    RollingRestartSpec,
)
from harness.scenario.model import Scenario

__all__ = ["docker_refusal", "fault_kind"]


def fault_kind(spec: FaultSpec) -> str:
    """The YAML name of a validated fault spec (`crash-point`, `kill`, `latency`, ...)."""
    if isinstance(spec, CrashPointSpec):
        return "crash-point"
    if isinstance(spec, PartitionSpec):
        return "partition"
    if isinstance(spec, LinkSpec):
        return next(name for name, toxic in TOXIC_FAULTS.items() if toxic == spec.toxic)
    if isinstance(spec, RollingRestartSpec):
        return "rolling-restart"
    assert isinstance(spec, ProcessSpec)
    return spec.action


def docker_refusal(scenario: Scenario) -> str | None:
    """Why the Docker runner cannot run `scenario` (its first simulator-only fault, as `file:line
    faults[i]: ..., how to fix it`), or None when it can."""
    for entry in scenario.faults:
        kinds = sorted({fault_kind(c) for c in entry.choices} & set(SIM_ONLY_FAULTS))
        if kinds:
            where = "a choice of this one-of" if len(entry.choices) > 1 else "this item"
            return (f"{scenario.source}:{entry.line} faults[{entry.index}]: {kinds[0]} is a simulator-only fault "
                    "(it crashes a replica right after a sync, an instant no wall-clock nemesis can aim at); "
                    f"run the file with `paxos-chaos sim {scenario.source}`, or remove {where} to run it in Docker")
    return None
