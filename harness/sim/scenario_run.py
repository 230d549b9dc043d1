"""A scenario file in the simulator: the cluster, workload and fault plan of a YAML scenario, in virtual time.

The fault schedule is the one the Docker runner executes: `faults.plan.make_plan(scenario, seed)`, the same
pure plan, then `faults.plan.timeline`; only the applier differs (`PlanNemesis` below instead of Toxiproxy
and Docker). How each planned fault is carried out here:

- partition (every shape, one-way, the leader found when the step starts): the grudge's links are cut, in
  both modes; `reject` and `drop` differ only in how fast a sender's HTTP request fails, and the
  simulator's peer messages are fire-and-forget, so both lose the message;
- kill: `kill -9` (written records survive, the page cache is the kernel's), started again at the heal;
  power-loss: every record not synced is lost (as under powerfs, the Docker runner's), then the replica
  is down until the heal; corrupt `where: tail`: a kill, and the newest record is torn, so the replica
  cuts it (synced or not, as Docker's cut of the newest file's last 1..512 bytes does) when it starts
  at the heal;
  restart (graceful or not) and rolling-restart: the same crash, started again 0.5-2 s later (a
  container's restart time); pause: the replica is frozen (no ticks, what is sent to it is lost) and
  thawed at the heal;
- latency: each message on a targeted link (peers: both directions of every link touching a target
  node; clients: the requests to it) is delivered `latency +- jitter` later, with the toxic's toxicity
  as the probability; reset: the targeted links are cut (a reset connection carries nothing);
- crash-point (simulator only): the world's crash point, armed at the step and disarmed at its heal.

Faults with no meaning in the simulator (`SKIPPED`: byte-level toxics) are named in a warning
(`warnings`), logged as `skip` in the fault log, and never silently ignored. Everything else the
scenario does not say (the network's base delay, the snapshot interval) is the simulator's own: a LAN
(0.1-2 ms one way, no loss or duplication, as TCP gives), snapshots drawn from the seed.

Pure: no I/O, no clock (the run directory is written by `harness.sim.scenario_store`).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from faults.log import FaultLog, FaultRecord
from faults.plan import (
    CrashPoint,
    FaultEvent,
    FaultPlan,
    FaultStep,
    LinkToxic,
    Partition,
    ProcessAction,
    make_plan,
    timeline,
)
from faults.schema import LinkSpec, ProcessSpec
from harness.checker import Verdict
from harness.junit import AGREEMENT, FINAL_READS, LINEARIZABLE, LIVENESS, CaseResult
from harness.scenario import RunParams, Scenario, resolve_run
from harness.scenario.worlds import fault_kind
from harness.sim.config import SimConfig, SimResult, replica_core_config
from harness.sim.network import NetFaults
from harness.sim.world import World, simulate
from targets.errors import ScenarioError

__all__ = ["SKIPPED", "PlanNemesis", "ScenarioRun", "applies", "cases", "explain", "run_in_sim", "sim_config",
           "warnings"]

# Faults the simulator cannot mean (toxics act on bytes and connections, which its messages do not have).
SKIPPED: dict[str, str] = {
    "corrupt-random": "a flipped byte in the data files; the simulator's disk holds records, not bytes",
    "bandwidth": "a byte-rate limit; the simulator's messages have no size",
    "slicer": "slices a stream into chunks; the simulator's messages are not byte streams",
    "slow_close": "delays closing a connection; the simulator has no connections",
    "limit_data": "closes a connection after N bytes; the simulator's messages have no size",
}
RESTART_DOWN_US = (500_000, 2_000_000)  # a container's restart, drawn per restart
RESTART_DOWN_MS = (RESTART_DOWN_US[0] // 1000, RESTART_DOWN_US[1] // 1000)
LAN = NetFaults(delay_us=(100, 2_000))
CLIENTS = 0  # the clients' end of a link: (0, i) is the clients' link to node i


def applies(scenario: Scenario) -> str | None:
    """Why `scenario` cannot run in the simulator (another target), or None."""
    if scenario.cluster.target != "paxos":
        return (f"{scenario.source}: target {scenario.cluster.target} runs only in Docker (the simulator runs "
                "our replica's Paxos core); run it with `paxos-chaos run`, or set cluster.target: paxos")
    return None


def warnings(scenario: Scenario) -> tuple[str, ...]:
    """One line per fault of the file the simulator skips: `file:line faults[i]: kind ... skipped`."""
    out: list[str] = []
    for entry in scenario.faults:
        for spec in entry.choices:
            kind = fault_kind(spec)
            why = _skip_reason(spec)
            if why is not None:
                where = " (one choice of a one-of)" if len(entry.choices) > 1 else ""
                shown = "corrupt (where: random)" if kind == "corrupt" else kind
                out.append(f"{scenario.source}:{entry.line} faults[{entry.index}]: {shown}{where} has no meaning in "
                           f"the simulator ({why}); skipped there, applied in Docker")
    return tuple(dict.fromkeys(out))


def _skip_reason(fault: object) -> str | None:
    """Why a fault is skipped in the simulator, or None: one rule for the file's specs and the plan's
    steps (both name the toxic, and the action and `where`, the same way)."""
    if isinstance(fault, (LinkSpec, LinkToxic)):
        return SKIPPED.get(fault.toxic)
    if isinstance(fault, (ProcessSpec, ProcessAction)) and fault.action == "corrupt" and fault.where == "random":
        return SKIPPED["corrupt-random"]
    return None


def sim_config(scenario: Scenario, run: RunParams) -> SimConfig:
    """The simulator's config for one run of `scenario`: its size, workload and checks, the run's seed and
    bugs (`harness.scenario.resolve_run`: the CLI's overrides applied).

    A `rate` becomes the clients' think time: each of `concurrency` clients waits U(0, 2c/rate) between
    ops, so together they offer about `rate` ops per second, as the Docker workload's paced workers do.

    Raises:
        ScenarioError: the scenario is for another target (`applies`).
    """
    why = applies(scenario)
    if why is not None:
        raise ScenarioError(why)
    w = scenario.workload
    think_ms = round(2000 * w.concurrency / w.rate_per_s) if w.rate_per_s else 0
    return SimConfig(
        seed=run.seed, size=scenario.cluster.size, bugs=frozenset(run.bugs),
        duration_ms=round(w.duration_s * 1000), concurrency=w.concurrency, keys=w.keys, think_ms=think_ms,
        timeout_ms=round(w.timeout_s * 1000), attempts=w.attempts, retry_unknown=w.retry_unknown, net=LAN,
        faults=(), crash_on_promise=0.0, crash_on_accept=0.0, crash_power=0.0, restart_ms=RESTART_DOWN_MS,
        core=replica_core_config(frozenset(run.bugs)),
        settle_ms=max(4_000, round(scenario.checks.recovery_s * 1000)),
        check_budget_s=scenario.checks.timeout_s, workload=w,
        forge=0.0)  # the file's faults only, as in Docker, where nobody forges peer messages



@dataclass
class PlanNemesis:
    """Applies a `FaultPlan`'s timeline in a simulated world (see the module docstring) and records a
    fault log like the Docker nemesis's (`faults.log.FaultLog`, times in ns of virtual time)."""

    plan: FaultPlan
    rng: random.Random
    records: list[FaultRecord] = field(default_factory=list)
    _world: World | None = None
    _acted_on: dict[int, tuple[int, ...]] = field(default_factory=dict)
    _delays: dict[int, dict[tuple[int, int], tuple[int, int, float]]] = field(default_factory=dict)
    _log: FaultLog | None = None

    def __call__(self, world: World) -> None:
        """Schedule every apply and heal of the plan, and the final heal's record, on `world`'s clock."""
        self._world = world
        self._log = FaultLog(clock_ns=lambda: world.now * 1000, records=self.records)
        for event in timeline(self.plan):
            world.at(round(event.at_s * 1_000_000), functools.partial(self._event, event))
        end = round(self.plan.duration_s * 1_000_000)
        world.at(end, lambda: self._add(None, "heal-all", "heal everything"))

    def _add(self, step: int | None, action: str, fault: str, nodes: tuple[int, ...] = (),
             error: str | None = None) -> None:
        assert self._log is not None
        self._log.add(step=step, action=action, fault=fault, nodes=nodes, error=error)

    def _event(self, event: FaultEvent) -> None:
        step = event.step
        fault = step.fault
        skip = _skip_reason(fault)
        if skip is not None:
            if event.action == "apply":
                self._add(step.step, "skip", step.describe(), error=f"no meaning in the simulator: {skip}")
            return
        try:
            if event.action == "apply":
                self._apply(step)
            else:
                self._heal(step)
        except ValueError as exc:  # the leader is needed and none is known: as in Docker, logged, run goes on
            self._add(step.step, "error", step.describe(), error=str(exc))

    def _apply(self, step: FaultStep) -> None:
        world, fault = self._world, step.fault
        assert world is not None
        ids = tuple(world.ids)
        if isinstance(fault, Partition):
            grudge = fault.grudge_for(nodes=ids, leader=world.leader())
            links = frozenset((src, dst) for dst, srcs in grudge.items() for src in srcs)
            text = _partition_text(fault, grudge)
            world.cut(_key(step), links, text)
            self._add(step.step, "apply", text)
            return
        nodes = _nodes(fault.nodes, world.leader())
        self._acted_on[step.step] = nodes
        if isinstance(fault, LinkToxic):
            self._toxic(step, fault, nodes, ids)
        elif isinstance(fault, CrashPoint):
            armed = tuple(n for n in nodes if world.arm(n, fault.after, round(fault.down_s * 1_000_000)))
            self._acted_on[step.step] = armed
            world.log(f"{step.describe()}: armed {','.join(f'n{n}' for n in armed) or 'none (down or armed)'}")
        else:
            self._process(fault, nodes)
        self._add(step.step, "apply", step.describe(), nodes=nodes)

    def _toxic(self, step: FaultStep, fault: LinkToxic, nodes: tuple[int, ...], ids: tuple[int, ...]) -> None:
        world = self._world
        assert world is not None
        links = set()
        if fault.links in ("peers", "all"):
            links |= {(i, j) for i in ids for j in ids if i != j and (i in nodes or j in nodes)}
        if fault.links in ("clients", "all"):
            links |= {(CLIENTS, n) for n in nodes}
        if fault.toxic == "reset_peer":
            world.cut(_key(step), frozenset(links), f"{step.describe()}: links reset")
            return
        attrs = dict(fault.attributes)  # latency: ms
        spec = (attrs.get("latency", 0) * 1000, attrs.get("jitter", 0) * 1000, fault.toxicity)
        self._delays[step.step] = {link: spec for link in sorted(links)}
        self._set_delays()
        world.log(step.describe())

    def _set_delays(self) -> None:
        """Toxics stack as in Toxiproxy: the latencies and jitters of every active step on a link add up."""
        world = self._world
        assert world is not None
        merged: dict[tuple[int, int], tuple[int, int, float]] = {}
        for k in sorted(self._delays):
            for link, (lat, jit, p) in self._delays[k].items():
                old = merged.get(link, (0, 0, 0.0))
                merged[link] = (old[0] + lat, old[1] + jit, max(old[2], p))
        world.net.link_delays.clear()
        world.net.link_delays.update(merged)

    def _process(self, fault: ProcessAction, nodes: tuple[int, ...]) -> None:
        world = self._world
        assert world is not None
        for n in nodes:
            if fault.action == "pause":
                world.pause(n)
                continue
            if fault.action == "power-loss":
                world.crash(n, power=True, torn=False)
                continue
            world.crash(n, power=False)
            if fault.action == "corrupt":  # where: tail (random is skipped): the torn record is cut at the start
                lost = world.disks[n].cut_tail()
                world.log(f"node {n}: torn final write, {lost} record cut when it starts again")
            if fault.action == "restart":
                world.after(self.rng.randint(*RESTART_DOWN_US), functools.partial(world.restart, n))

    def _heal(self, step: FaultStep) -> None:
        world, fault = self._world, step.fault
        assert world is not None
        if isinstance(fault, Partition) or (isinstance(fault, LinkToxic) and fault.toxic == "reset_peer"):
            world.lift(_key(step), step.describe())
        elif isinstance(fault, LinkToxic):
            self._delays.pop(step.step, None)
            self._set_delays()
            world.log(f"healed: {step.describe()}")
        elif isinstance(fault, CrashPoint):
            for n in self._acted_on.pop(step.step, ()):
                world.armed.pop(n, None)
        else:
            for n in self._acted_on.pop(step.step, ()):
                world.restart(n)  # a kill is started again, a pause thawed (restart resumes a paused node)
        self._add(step.step, "heal", step.describe())


def _nodes(nodes: tuple[int, ...] | None, leader: int | None) -> tuple[int, ...]:
    """A step's target nodes now (None: the leader). Raises ValueError when no leader is known."""
    if nodes is not None:
        return tuple(sorted(nodes))
    if leader is None:
        raise ValueError("the target is the leader, and no leader is known right now")
    return (leader,)


def _key(step: FaultStep) -> int:
    return -1 - step.step  # the world's own faults number from 0 up


def _partition_text(fault: Partition, grudge: Mapping[int, frozenset[int]]) -> str:
    from faults.plan import describe

    return describe(Partition(shape=fault.shape, mode=fault.mode, one_way=fault.one_way, grudge=dict(grudge)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioRun:
    """One run of a scenario in the simulator: the result, the plan's fault log and what was skipped."""

    scenario: Scenario
    seed: int
    result: SimResult
    faults: tuple[FaultRecord, ...]
    warnings: tuple[str, ...]

    @property
    def failed(self) -> bool:
        return self.result.failed

    def reproduce(self) -> str:
        bugs = self.result.config.bugs
        # Only a difference from the file's bugs needs saying; `--bugs ''` when the run cleared them.
        extra = "" if bugs == frozenset(self.scenario.cluster.bugs) else f" --bugs {','.join(sorted(bugs)) or chr(39) * 2}"
        return f"paxos-chaos sim {self.scenario.source} --seed {self.seed}{extra}"


def run_in_sim(scenario: Scenario, *, seed: int | None = None, bugs: tuple[str, ...] | None = None,
               check_history: bool = True) -> ScenarioRun:
    """Run `scenario` once in the simulator; `seed` and `bugs` (None: the file's) override the file's as
    `harness.scenario.resolve_run` says. Deterministic in (scenario, seed, bugs).

    Raises:
        ScenarioError: the scenario is for another target.
    """
    run = resolve_run(scenario, seed=seed, bugs=bugs)
    root = run.seed
    cfg = sim_config(scenario, run)
    nemesis = PlanNemesis(plan=make_plan(scenario, seed=root), rng=random.Random(f"{root}/scenario-nemesis"))
    result = simulate(cfg, check_history=check_history and scenario.checks.linearizable, nemesis=nemesis)
    return ScenarioRun(scenario=scenario, seed=root, result=result, faults=tuple(nemesis.records),
                       warnings=warnings(scenario))


def cases(result: SimResult) -> list[CaseResult]:
    """The run's checks under the names a Docker run's have (harness.runner), so both read the same way
    and `detect.safety_failure` reads both."""
    out: list[CaseResult] = []
    if result.check is not None:
        c = result.check
        outcome = {Verdict.VALID: "pass", Verdict.INVALID: "fail", Verdict.UNKNOWN: "unknown"}[c.verdict]
        bad = [p for p in c.partitions if p.verdict != Verdict.VALID]
        msg = "; ".join(f"key {p.key!r}: {p.verdict.name.lower()}" + (f" ({p.reason})" if p.reason else "")
                        for p in bad[:5])
        out.append(CaseResult(name=LINEARIZABLE, outcome=outcome, message=msg or f"{c.ops} ops"))
    out.append(CaseResult(name=AGREEMENT, outcome="fail" if result.agreement else "pass",
                          message=result.agreement or "every replica applied the same value in every slot"))
    live = result.liveness or result.error
    out.append(CaseResult(name=LIVENESS, outcome="fail" if live else "pass",
                          message=live or "one leader; every replica at the same slot and state"))
    reads = "final reads did not succeed" in (result.liveness or "")
    out.append(CaseResult(name=FINAL_READS, outcome="fail" if reads else "pass",
                          message=result.liveness or "" if reads else "every key read after the heal"))
    return out


def explain(run: ScenarioRun) -> Iterator[str]:
    """The lines a person reads about one run (printed, and summary.txt in the run directory)."""
    r = run.result
    yield f"{run.scenario.name} seed {run.seed} (simulator, {run.scenario.cluster.size} replicas, " \
          f"{r.virtual_ms / 1000:g}s virtual): {r.summary()}"
    for c in cases(r):
        yield f"  {c.outcome.upper():7} {c.name}: {c.message}"
    for w in run.warnings:
        yield f"warning: {w}"
    yield f"reproduce: {run.reproduce()}"
    yield "faults (virtual time):"
    yield from (f"  {line}" for line in r.fault_log)
