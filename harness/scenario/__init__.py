"""Scenario files: the YAML schema, the loader and the validator.

A scenario names the cluster, the workload, the fault schedule, the seed and the checks (the user's
reference is docs/scenarios.md). Loading turns YAML into frozen dataclasses and nothing else: it
starts no container and reads no clock. Every problem is reported with file, line and field path,
e.g. `scenarios/x.yaml:12 faults[2].for: '10 sec' is not a duration, use e.g. 10s, ...`, and all
problems of a file are collected before one `ScenarioError` is raised, so a user fixes them in one go.

The package, by concern:
- `model`: the dataclasses, the bounds and the key tables (also read by `harness.scenario_schema`);
- `loading`: files and YAML (bounded), `parse_scenario`/`load_scenario`, which scenarios apply to a target;
- `reader`: the validator's primitives (numbers, durations, choices...), `nodes` the YAML node helpers;
- `validation`: the whole file and `cluster:`; `workload_section`: `workload:` and `checks:`;
  `fault_section`: `faults:`;
- `commands`: the `validate` and `list` subcommands;
- `run_params`: one run's seed and bugs, the CLI's `--seed`/`--bugs` overrides applied (`resolve_run`).

What does not belong here: turning the schedule into concrete fault steps (that is `faults.plan`,
pure and seeded) and applying faults (the nemeses in `faults`).
"""

from faults.schema import (
    SHAPES,
    TOXIC_FAULTS,
    FaultSpec,
    LinkSpec,
    PartitionSpec,
    ProcessSpec,
    RollingRestartSpec,
    ScheduleEntry,
    TargetSpec,
    ToxicType,
)
from harness.scenario.commands import (
    add_node_argument,
    option_overrides,
    register_list,
    register_validate,
    shard_of,
)
from harness.scenario.loading import (
    for_target,
    load_scenario,
    parse_scenario,
    scenario_files,
    seed_argument,
    under_target,
)
from harness.scenario.model import (
    CLUSTER_SIZES,
    MAX_DURATION_S,
    MAX_FILE_BYTES,
    MAX_PROBLEMS,
    MAX_SEED,
    ChecksSpec,
    ClusterSpec,
    Scenario,
)
from harness.scenario.run_params import RunParams, resolve_run
from workloads.spec import OPS, WorkloadSpec

__all__ = [
    "CLUSTER_SIZES", "MAX_DURATION_S", "MAX_FILE_BYTES", "MAX_PROBLEMS", "MAX_SEED", "OPS", "SHAPES",
    "TOXIC_FAULTS", "ChecksSpec", "ClusterSpec", "FaultSpec", "LinkSpec", "PartitionSpec", "ProcessSpec",
    "RollingRestartSpec", "RunParams", "Scenario", "ScheduleEntry", "TargetSpec", "ToxicType", "WorkloadSpec",
    "add_node_argument", "for_target", "load_scenario", "option_overrides", "parse_scenario",
    "register_list", "register_validate", "resolve_run", "scenario_files", "seed_argument", "shard_of", "under_target",
]
