"""The fault schema: what a scenario's `faults:` section means, as frozen dataclasses.

`harness.scenario` reads YAML into these (with file:line errors); `faults.plan` turns them into concrete,
seeded steps; the nemeses apply the steps. They live here, below the harness, so that the fault code
needs nothing of `harness` (DESIGN 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CORRUPT_WHERE", "CRASH_RECORDS", "DISK_FAULTS", "LINKS", "MODES", "POWERFS_MODELS", "SHAPES", "SIM_ONLY_FAULTS",
    "TARGET_WORDS", "TOXIC_ATTRS", "TOXIC_FAULTS", "CrashPointSpec", "FaultSpec", "LinkSpec", "PartitionSpec",
    "PowerfsModel", "ProcessActionName", "ProcessSpec", "RollingRestartSpec", "ScheduleEntry", "TargetKind", "TargetSpec",
    "ToxicType",
]

SHAPES = ("halves", "isolate", "isolate-leader", "majorities-ring", "bridge", "groups")
MODES = ("drop", "reject")
LINKS = ("peers", "clients", "all")
TARGET_WORDS = ("leader", "random", "minority", "majority", "all")
# Disk faults: they need the node's data directory, so they are process faults that also touch its files.
DISK_FAULTS = ("power-loss", "corrupt")
# corrupt's `where`: `tail` = a torn final write (garbage after the last byte of the newest file, as a
# write cut short by a crash leaves), `random` = one flipped byte anywhere in the node's files.
CORRUPT_WHERE = ("tail", "random")
# power-loss's `model`: which directory entries survive (docs/powerfs.md). strict = only those of
# directories fsynced since (POSIX's promise); ext4 = every entry made before any fsync (its journal).
POWERFS_MODELS = ("strict", "ext4")
PowerfsModel = Literal["strict", "ext4"]
ProcessActionName = Literal["kill", "pause", "restart", "power-loss", "corrupt"]
# Faults only the simulator can inject (harness/sim/scenario_run.py): the Docker runner refuses them.
SIM_ONLY_FAULTS = ("crash-point",)
CRASH_RECORDS = ("promise", "accept", "any")
CrashRecordKind = Literal["promise", "accept", "any"]
TargetKind = Literal["leader", "random", "minority", "majority", "all", "nodes"]
ToxicType = Literal["latency", "bandwidth", "reset_peer", "slicer", "slow_close", "limit_data"]
# YAML fault name -> Toxiproxy toxic type
TOXIC_FAULTS: dict[str, ToxicType] = {
    "latency": "latency", "bandwidth": "bandwidth", "reset": "reset_peer", "slicer": "slicer",
    "slow-close": "slow_close", "limit-data": "limit_data",
}
# toxic -> its YAML keys: (key, Toxiproxy attribute, unit, required, default, low, high). Units: ms/us
# are durations converted to milliseconds/microseconds (low 1 = must be > 0, high in seconds); int is
# a plain integer in [low, high].
TOXIC_ATTRS: dict[str, tuple[tuple[str, str, str, bool, int, int, int], ...]] = {
    "latency": (("latency", "latency", "ms", True, 0, 1, 600), ("jitter", "jitter", "ms", False, 0, 0, 600)),
    "bandwidth": (("kb-per-s", "rate", "int", True, 0, 1, 10_000_000),),
    "reset_peer": (("after", "timeout", "ms", False, 0, 0, 3600),),
    "slicer": (("average-size", "average_size", "int", False, 64, 1, 1_000_000),
               ("size-variation", "size_variation", "int", False, 0, 0, 1_000_000),
               ("delay", "delay", "us", False, 0, 0, 60)),
    "slow_close": (("delay", "delay", "ms", True, 0, 1, 3600),),
    "limit_data": (("bytes", "bytes", "int", True, 0, 0, 1 << 40),),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSpec:
    """Which replicas a fault hits. `nodes` lists the ids when `kind == "nodes"`; `leader` is resolved
    when the fault is applied (from `/status`), the random kinds when the plan is made (seeded)."""

    kind: TargetKind
    nodes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionSpec:
    """A network partition. `target` is the isolated node for `isolate`; `groups` for `groups`."""

    shape: str
    mode: Literal["drop", "reject"] = "drop"
    one_way: bool = False
    target: TargetSpec | None = None
    groups: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """A Toxiproxy toxic on links: `toxic` is the Toxiproxy type, `attributes` its integer attributes."""

    toxic: ToxicType
    attributes: tuple[tuple[str, int], ...]
    links: Literal["peers", "clients", "all"] = "peers"
    target: TargetSpec = field(default_factory=lambda: TargetSpec(kind="all"))
    toxicity: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """A process fault: `kill` (-9, healed by a start), `pause` (healed by unpause), `restart`, or a disk
    fault: `power-loss` (every write not fsynced is lost, then the node is down until healed by a start)
    and `corrupt` (the node is killed and its files damaged as `where` says, then healed by a start)."""

    action: ProcessActionName
    target: TargetSpec
    graceful: bool = True
    where: Literal["tail", "random"] = "tail"
    model: PowerfsModel = "strict"


@dataclass(frozen=True, slots=True, kw_only=True)
class RollingRestartSpec:
    """Restart every replica one after another, `gap_s` apart."""

    gap_s: float
    graceful: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CrashPointSpec:
    """Simulator only: the targeted replica dies right after its next Ready that made an `after` record
    durable (a promise, an accept, or any) and sent its replies, and restarts `down_s` later. Armed at the
    entry's `at`; an entry with `for` disarms it then if it has not fired. No wall-clock nemesis can aim at
    that instant, so the Docker runner refuses it (SIM_ONLY_FAULTS)."""

    target: TargetSpec
    after: CrashRecordKind = "any"
    down_s: float = 0.1


FaultSpec = PartitionSpec | LinkSpec | ProcessSpec | RollingRestartSpec | CrashPointSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleEntry:
    """One item of `faults:`. `choices` has one fault, or several for `one-of` (one picked per
    occurrence). Without `every` the fault happens once at `at_s`; with it, at `at_s + k*every_s +
    U(0, jitter_s)` while that is before `until_s`. `for_s` None means: until the final heal."""

    index: int
    line: int
    choices: tuple[FaultSpec, ...]
    at_s: float
    for_s: float | None
    every_s: float | None
    jitter_s: float
    until_s: float
