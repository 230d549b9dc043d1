"""The scenario as data: the frozen dataclasses a scenario file becomes (STYLE R9), the bounds of every
number and the keys of every mapping.

The validator (`harness.scenario.validation` and its sections) reads these tables, and so does
`harness.scenario_schema`, which turns them into the JSON Schema editors use: one definition, never a
hand-kept copy. Nothing here reads YAML or files.
"""

from __future__ import annotations

from dataclasses import dataclass

from faults.schema import PowerfsModel, ProcessSpec, RollingRestartSpec, ScheduleEntry
from targets.registry import DEFAULT_TARGET, TARGETS
from workloads.spec import WorkloadSpec

__all__ = ["CLUSTER_SIZES", "ChecksSpec", "ClusterSpec", "Scenario"]

CLUSTER_SIZES = (3, 5, 7)
# Bounds: "put a limit on everything" (STYLE R15); generous for users, small enough to stay sane.
MAX_DURATION_S = 24 * 3600.0
MAX_CONCURRENCY = 256
MAX_KEYS = 100_000
MAX_RATE = 100_000.0
MAX_OCCURRENCES = 10_000
MAX_FILE_BYTES = 1 << 20
MAX_SEED = 2**63 - 1
SEED_RULE = "a seed is an integer from 0 to 2^63-1"
MAX_NAME = 100  # the name is a directory of the store: keep it well under a file name's 255 bytes
# The YAML itself: a scenario is a few hundred values nested a few levels deep. Deeper nesting would
# overflow Python's stack in the composer; aliases expanding to more values ("billion laughs") would
# make the validator walk millions of nodes. Problems beyond MAX_PROBLEMS are counted, not listed.
MAX_YAML_DEPTH = 50
MAX_YAML_VALUES = 100_000
MAX_PROBLEMS = 50


_UNIT_SCALE = {"ms": 1000.0, "us": 1_000_000.0}

# and so does harness.scenario_schema, which turns them into the JSON Schema editors use.
_TOP_KEYS = ("name", "description", "seed", "cluster", "workload", "faults", "checks")
_TOP_REQUIRED = ("description", "workload")
_OPTION_KEYS = tuple(sorted({o.name for t in TARGETS.values() for o in t.options}))
_CLUSTER_KEYS = ("size", "bugs", "target", *_OPTION_KEYS)
_WORKLOAD_KEYS = ("duration", "concurrency", "rate", "keys", "distribution", "skew", "mix",
                  "timeout", "attempts", "retry_unknown")
_WORKLOAD_REQUIRED = ("duration",)
_DISTRIBUTIONS = ("uniform", "skewed")
MAX_SKEW = 10.0
MAX_ATTEMPTS = 20
MAX_WEIGHT = 1e6
MAX_OP_TIMEOUT_S = 600.0
_CHECKS_KEYS = ("linearizable", "timeout", "recovery")
_PARTITION_KEYS = ("shape", "mode", "one-way", "target", "groups")
_PARTITION_REQUIRED = ("shape",)
_LINK_KEYS = ("links", "target", "toxicity")  # besides the toxic's own (TOXIC_ATTRS)
_PROCESS_KEYS: dict[str, tuple[str, ...]] = {"kill": ("target",), "pause": ("target",),
                                             "restart": ("target", "graceful"), "power-loss": ("target", "model"),
                                             "corrupt": ("target", "where")}
_ROLLING_KEYS = ("gap", "graceful")
_TIMING_KEYS = ("at", "for", "every", "jitter", "until")
_CRASH_POINT_KEYS = ("target", "after", "down")
_FAULT_KEYS = ("partition", "latency", "bandwidth", "reset", "slicer", "slow-close", "limit-data", "kill",
               "pause", "restart", "rolling-restart", "power-loss", "corrupt", "crash-point",
               "one-of")  # one-of last (one_of reads [:-1])
MAX_CRASH_DOWN_S = 60.0
_INSTANT = (RollingRestartSpec,)

_NO_ENTRIES: tuple[ScheduleEntry, ...] = ()
_NO_BUGS: tuple[str, ...] = ()
_NO_GROUPS: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """The nodes: `size` in 3/5/7 of `target` (targets/, default paxos) with its `options` (every option
    of the target, defaults filled in); `bugs` are paxos's deliberate bugs, passed as BUGS (DESIGN 9)."""

    size: int = 3
    bugs: tuple[str, ...] = ()
    target: str = DEFAULT_TARGET
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChecksSpec:
    """What is checked: linearizability within `timeout_s` (else UNKNOWN), and liveness: after the
    final heal every replica answers and the cluster serves writes within `recovery_s`."""

    linearizable: bool = True
    timeout_s: float = 60.0
    recovery_s: float = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario. `source` is the file it came from (or `<string>`)."""

    name: str
    description: str
    seed: int
    cluster: ClusterSpec
    workload: WorkloadSpec
    faults: tuple[ScheduleEntry, ...]
    checks: ChecksSpec
    source: str

    @property
    def powerfs_model(self) -> PowerfsModel | None:
        """The powerfs model the nodes' data runs under, or None when no fault needs powerfs (only
        power-loss does: it keeps only what was fsynced). The validator allows one model per scenario."""
        models = [c.model for entry in self.faults for c in entry.choices
                  if isinstance(c, ProcessSpec) and c.action == "power-loss"]
        return models[0] if models else None
