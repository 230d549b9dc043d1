"""Pure fault plans: a scenario's fault schedule -> a timeline of concrete `FaultStep`s.

Everything random (which node `random` picks, how `halves` splits, the jitter of a repeated fault, the
pick of a `one-of`) is decided here from `random.Random(f"{seed}/faults/{entry}")`, so one seed and one
scenario give one plan, and editing one `faults:` item does not reshuffle the others. Only the leader is
left open (`nodes is None` / `Partition.grudge is None`): it is a fact about the running cluster, found
from `/status` when the step is applied.

The effectful side (Toxiproxy, Docker) lives in the nemeses; they take `FaultStep`s and must heal each
step at `heal_s`, and heal everything at the end of the run (DESIGN 5).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from faults import partitions
from faults.partitions import Grudge
from faults.schema import (
    CrashPointSpec,
    CrashRecordKind,
    FaultSpec,
    LinkSpec,
    PartitionSpec,
    ProcessActionName,
    ProcessSpec,
    RollingRestartSpec,
    ScheduleEntry,
    TargetSpec,
    ToxicType,
)

__all__ = [
    "CrashPoint", "Fault", "FaultEvent", "FaultPlan", "FaultStep", "LinkToxic", "Partition", "ProcessAction",
    "describe", "make_plan", "resolve_target", "timeline",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """Cut links by a grudge. `grudge` is None when the isolated node is the leader (found at apply
    time; then call `grudge_for`). `mode`: drop = data silently discarded, reject = connections reset."""

    shape: str
    mode: Literal["drop", "reject"]
    one_way: bool
    grudge: Grudge | None

    def grudge_for(self, *, nodes: tuple[int, ...], leader: int | None) -> Grudge:
        """The grudge to apply now. Raises ValueError when the leader is needed and unknown."""
        if self.grudge is not None:
            return self.grudge
        if leader is None:
            raise ValueError("isolate-leader: no leader is known right now")
        return partitions.isolate(nodes, leader, one_way=self.one_way)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkToxic:
    """A Toxiproxy toxic on the links touching `nodes` (None = the leader, found at apply time)."""

    toxic: ToxicType
    attributes: tuple[tuple[str, int], ...]
    toxicity: float
    links: Literal["peers", "clients", "all"]
    nodes: tuple[int, ...] | None

    def proxies(self, *, size: int, leader: int | None) -> list[str]:
        """The proxy names this toxic goes on: `ni-nj` peer links touching a target node (both
        directions), and/or `client-ni` of each target node."""
        targets = _targets_now(self.nodes, leader)
        out: list[str] = []
        if self.links in ("peers", "all"):
            out += [partitions.proxy_name(i, j) for i in range(1, size + 1)
                    for j in range(1, size + 1) if i != j and (i in targets or j in targets)]
        if self.links in ("clients", "all"):
            out += [f"client-n{i}" for i in sorted(targets)]
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessAction:
    """A Docker process fault on `nodes` (None = the leader). kill: SIGKILL, healed by start;
    pause: freeze, healed by unpause; restart: stop (graceful: SIGTERM first) and start, no heal;
    power-loss: every write not fsynced is lost and the node stops, healed by start; corrupt: SIGKILL,
    then the node's files are damaged (`where`, from `salt`), healed by start."""

    action: ProcessActionName
    nodes: tuple[int, ...] | None
    graceful: bool
    where: Literal["tail", "random"] = "tail"
    salt: int = 0  # corrupt: which file and byte, drawn by the plan so a seed replays the same damage

    def nodes_for(self, *, leader: int | None) -> tuple[int, ...]:
        """The nodes to act on now. Raises ValueError when the leader is needed and unknown."""
        return tuple(sorted(_targets_now(self.nodes, leader)))


@dataclass(frozen=True, slots=True, kw_only=True)
class CrashPoint:
    """Simulator only (`faults.schema.CrashPointSpec`): arm `nodes` (None = the leader) to crash right
    after their next Ready that made an `after` record durable, and restart `down_s` later."""

    nodes: tuple[int, ...] | None
    after: CrashRecordKind
    down_s: float

    def nodes_for(self, *, leader: int | None) -> tuple[int, ...]:
        """The nodes to arm now. Raises ValueError when the leader is needed and unknown."""
        return tuple(sorted(_targets_now(self.nodes, leader)))


Fault = Partition | LinkToxic | ProcessAction | CrashPoint


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultStep:
    """One fault to apply at `start_s` (seconds from the start of the workload) and heal at `heal_s`.

    `heal_s` None means the step is healed by the final heal (or, for a restart, needs no heal).
    `step` numbers steps in start order; `entry` is the index in the scenario's `faults:` list.
    """

    step: int
    entry: int
    start_s: float
    heal_s: float | None
    fault: Fault

    @property
    def needs_heal(self) -> bool:
        return not (isinstance(self.fault, ProcessAction) and self.fault.action == "restart")

    def describe(self) -> str:
        """One human line, used in fault logs and reports."""
        return describe(self.fault)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultEvent:
    """An apply or heal of a step at `at_s`, as the nemesis should execute it."""

    at_s: float
    action: Literal["apply", "heal"]
    step: FaultStep


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultPlan:
    """All steps of a run, in start order; `size` is the cluster size they were planned for."""

    seed: int
    size: int
    duration_s: float
    steps: tuple[FaultStep, ...]


class _Sized(Protocol):
    @property
    def size(self) -> int: ...


class _Timed(Protocol):
    @property
    def duration_s(self) -> float: ...


class PlanSource(Protocol):
    """What a plan is made from: a validated `harness.scenario.Scenario` is one (named structurally so
    that this module needs nothing of the harness)."""

    @property
    def cluster(self) -> _Sized: ...
    @property
    def workload(self) -> _Timed: ...
    @property
    def faults(self) -> Sequence[ScheduleEntry]: ...


def make_plan(scenario: PlanSource, *, seed: int) -> FaultPlan:
    """Turn the scenario's schedule into steps. Pure and deterministic in (scenario, seed).

    Args:
        scenario: a validated scenario.
        seed: the run's root seed: the file's `seed` or the CLI's `--seed`, resolved by the caller
            (`harness.scenario.resolve_run`, the one place that rule is written).
    """
    size, duration = scenario.cluster.size, scenario.workload.duration_s
    raw: list[tuple[float, int, float | None, Fault]] = []
    for entry in scenario.faults:
        rng = random.Random(f"{seed}/faults/{entry.index}")
        for start in _occurrences(entry, rng, duration):
            spec = entry.choices[0] if len(entry.choices) == 1 else rng.choice(entry.choices)
            for offset, heal, fault in _expand(spec, rng, size=size, for_s=entry.for_s):
                at = start + offset
                if at >= duration:
                    continue
                raw.append((at, entry.index, None if heal is None else min(at + heal, duration), fault))
    raw.sort(key=lambda r: (r[0], r[1]))
    steps = tuple(FaultStep(step=i, entry=e, start_s=at, heal_s=h, fault=f)
                  for i, (at, e, h, f) in enumerate(raw))
    return FaultPlan(seed=seed, size=size, duration_s=duration, steps=steps)


def timeline(plan: FaultPlan) -> list[FaultEvent]:
    """Applies and heals in time order; at equal times heals come first so back-to-back faults never
    overlap. Steps healed only by the final heal have no event here."""
    events = [FaultEvent(at_s=s.start_s, action="apply", step=s) for s in plan.steps]
    events += [FaultEvent(at_s=s.heal_s, action="heal", step=s)
               for s in plan.steps if s.heal_s is not None and s.needs_heal]
    return sorted(events, key=lambda e: (e.at_s, e.action != "heal", e.step.step))


def resolve_target(target: TargetSpec, *, size: int, rng: random.Random) -> tuple[int, ...] | None:
    """Concrete nodes for a target; None for `leader`. minority = (n-1)//2 random nodes, majority =
    n//2+1 random nodes, random = one random node."""
    nodes = list(range(1, size + 1))
    match target.kind:
        case "leader":
            return None
        case "all":
            return tuple(nodes)
        case "nodes":
            return target.nodes
        case "random":
            return (rng.choice(nodes),)
        case "minority":
            return tuple(sorted(rng.sample(nodes, (size - 1) // 2)))
        case "majority":
            return tuple(sorted(rng.sample(nodes, partitions.majority(size))))
    raise AssertionError(target.kind)  # pragma: no cover  # exhaustive over TargetKind


def _occurrences(entry: ScheduleEntry, rng: random.Random, duration_s: float) -> list[float]:
    if entry.every_s is None:
        return [entry.at_s]
    until = min(entry.until_s, duration_s)
    out: list[float] = []
    k = 0
    while entry.at_s + k * entry.every_s < until:
        jitter = rng.uniform(0, entry.jitter_s) if entry.jitter_s else 0.0
        out.append(entry.at_s + k * entry.every_s + jitter)
        k += 1
    return out


def _expand(spec: FaultSpec, rng: random.Random, *, size: int,
            for_s: float | None) -> list[tuple[float, float | None, Fault]]:
    """(offset from the occurrence, duration or None, fault) for one occurrence of `spec`."""
    nodes = tuple(range(1, size + 1))
    if isinstance(spec, RollingRestartSpec):
        order = list(nodes)
        rng.shuffle(order)
        return [(k * spec.gap_s, None, ProcessAction(action="restart", nodes=(n,), graceful=spec.graceful))
                for k, n in enumerate(order)]
    if isinstance(spec, ProcessSpec):
        target = resolve_target(spec.target, size=size, rng=rng)
        heal = None if spec.action == "restart" else for_s
        salt = rng.getrandbits(32) if spec.action == "corrupt" else 0
        return [(0.0, heal, ProcessAction(action=spec.action, nodes=target, graceful=spec.graceful,
                                          where=spec.where, salt=salt))]
    if isinstance(spec, CrashPointSpec):
        target = resolve_target(spec.target, size=size, rng=rng)
        return [(0.0, for_s, CrashPoint(nodes=target, after=spec.after, down_s=spec.down_s))]
    if isinstance(spec, LinkSpec):
        target = resolve_target(spec.target, size=size, rng=rng)
        return [(0.0, for_s, LinkToxic(toxic=spec.toxic, attributes=spec.attributes,
                                       toxicity=spec.toxicity, links=spec.links, nodes=target))]
    return [(0.0, for_s, _partition(spec, rng, nodes))]


def _partition(spec: PartitionSpec, rng: random.Random, nodes: tuple[int, ...]) -> Partition:
    grudge: Grudge | None
    match spec.shape:
        case "halves":
            grudge = partitions.halves(nodes, rng, one_way=spec.one_way)
        case "bridge":
            grudge = partitions.bridge(nodes, rng, one_way=spec.one_way)
        case "majorities-ring":
            grudge = partitions.majorities_ring(nodes, rng)
        case "groups":
            grudge = partitions.complete_grudge(spec.groups, one_way=spec.one_way)
        case "isolate":
            assert spec.target is not None  # the validator fills in `random`
            loner = resolve_target(spec.target, size=len(nodes), rng=rng)
            grudge = None if loner is None else partitions.isolate(nodes, loner[0], one_way=spec.one_way)
        case _:
            raise AssertionError(spec.shape)  # pragma: no cover  # the validator allows only SHAPES
    shape = "isolate-leader" if spec.shape == "isolate" and grudge is None else spec.shape
    return Partition(shape=shape, mode=spec.mode, one_way=spec.one_way, grudge=grudge)


def _targets_now(nodes: tuple[int, ...] | None, leader: int | None) -> set[int]:
    if nodes is not None:
        return set(nodes)
    if leader is None:
        raise ValueError("the target is the leader, and no leader is known right now")
    return {leader}


def describe(fault: Fault) -> str:
    """A one-line human description of a fault (for fault logs and reports)."""
    if isinstance(fault, Partition):
        way = " one-way" if fault.one_way else ""
        if fault.grudge is None:
            return f"partition isolate-leader{way} ({fault.mode})"
        cuts = "; ".join(f"n{d} cannot hear {','.join(f'n{s}' for s in sorted(srcs))}"
                         for d, srcs in sorted(fault.grudge.items()))
        return f"partition {fault.shape}{way} ({fault.mode}): {cuts}"
    who = "leader" if fault.nodes is None else ",".join(f"n{n}" for n in fault.nodes)
    if isinstance(fault, CrashPoint):
        return f"crash-point {who} after its next synced {fault.after} record, down {fault.down_s * 1000:g}ms"
    if isinstance(fault, LinkToxic):
        attrs = " ".join(f"{k}={v}" for k, v in fault.attributes)
        return f"{fault.toxic} {attrs} on {fault.links} links of {who} (toxicity {fault.toxicity:g})"
    kind: str = fault.action if fault.action != "restart" or fault.graceful else "restart (kill -9)"
    if fault.action == "corrupt":
        kind = f"corrupt ({'torn tail' if fault.where == 'tail' else 'flipped byte'})"
    return f"{kind} {who}"
