"""The scenario runner: cluster up, workload and nemesis together, heal, quiet period, final reads,
check, store, report, cluster down.

The order of a run (Jepsen's shape, DESIGN 5 and 10):

1. plan the faults (pure, from the seed) and create `store/<scenario>/<time>/`;
2. bring the cluster up and wait for an agreed leader;
3. run the workload and the nemesis concurrently for the scenario's duration;
4. heal everything, then the liveness phase: an agreed leader and every replica at the same state
   digest within `checks.recovery_s`;
5. read every key once (so lost writes show up in the history);
6. check linearizability within `checks.timeout_s` (unknown when the budget runs out, never a pass);
7. store history.jsonl, faults.jsonl, results.json, junit.xml, report.html and every container's log;
8. tear the cluster down, whatever happened (errors, Ctrl-C).

Exit codes (DESIGN 10): 0 every check passed, 1 a check failed, 3 a check could not decide.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from faults.docker import DockerProcesses
from faults.log import FaultLog
from faults.plan import FaultPlan, make_plan
from faults.toxiproxy import ToxiproxyAPI, ToxiproxyNemesis
from harness.checker import CheckResult, Verdict, check, model_for, operations
from harness.cluster import Cluster, ClusterSpec, NodeStatus, remove_project
from harness.junit import AGREEMENT, NOT_AVAILABLE, CaseResult, to_junit_xml
from harness.nemesis import Nemesis
from harness.report import ReportInput, render_report
from harness.report.index import refresh_index
from harness.scenario import Scenario, resolve_run
from harness.scenario.worlds import docker_refusal
from harness.store import RunDir, new_run_dir
from targets.contract import NodeState
from targets.errors import InfraError, ScenarioError
from targets.registry import get_target
from workloads.client import RecordingClient
from workloads.history import HistoryRecorder
from workloads.interpreter import WorkloadStats, final_reads, run_workload

__all__ = ["AGREEMENT", "RunOptions", "RunOutcome", "divergence", "run_scenario"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to run: where to store, which ports and project, an optional seed override."""

    store: Path = Path("store")
    project: str = "paxos-chaos-run"
    port_base: int = 8000
    seed: int | None = None  # None: the scenario's own (`harness.scenario.resolve_run`)
    bugs: tuple[str, ...] | None = None  # None: the scenario's own; () clears them
    replica_env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """The result of one scenario run."""

    scenario: str
    run_dir: Path
    cases: tuple[CaseResult, ...]
    verdict: Verdict | None
    ops: int

    @property
    def exit_code(self) -> int:
        outcomes = {c.outcome for c in self.cases}
        return 1 if "fail" in outcomes else 3 if "unknown" in outcomes else 0


async def run_scenario(scenario: Scenario, opts: RunOptions, *, progress: Progress = print,
                       stop: asyncio.Event | None = None) -> RunOutcome:
    """Run one scenario end to end and store everything. The cluster is always torn down.

    Raises:
        InfraError: the cluster could not be started or reached (nothing to check then).
        ScenarioError: the scenario has a simulator-only fault (`docker_refusal`); nothing was started.
    """
    refusal = docker_refusal(scenario)
    if refusal is not None:
        raise ScenarioError(refusal)
    params = resolve_run(scenario, seed=opts.seed, bugs=opts.bugs)
    seed = params.seed
    plan = make_plan(scenario, seed=seed)
    run_dir = new_run_dir(opts.store, scenario.name)
    _save_scenario(scenario, run_dir, seed)
    env = dict(opts.replica_env) | ({"BUGS": ",".join(params.bugs)} if params.bugs else {})
    cluster = Cluster(ClusterSpec(n=scenario.cluster.size, project=opts.project, port_base=opts.port_base, env=env,
                                  target=scenario.cluster.target, options=dict(scenario.cluster.options),
                                  powerfs=scenario.powerfs_model))
    progress(f"[{scenario.name}] seed {seed}, {scenario.cluster.size} {scenario.cluster.target} nodes"
             + "".join(f", {k}: {v}" for k, v in scenario.cluster.options) + f", {len(plan.steps)} fault steps, "
             f"{scenario.workload.duration_s:g}s workload -> {run_dir.path}")
    try:
        # A run killed with SIGKILL (a cancelled CI job) leaves its cluster behind; the next run of the
        # same project would fail on its ports. It is ours and dead: remove it, say so, go on.
        removed = await asyncio.to_thread(remove_project, cluster.client, opts.project)
        if removed:
            progress(f"[{scenario.name}] removed a leftover cluster of project {opts.project} "
                     f"(an earlier run did not finish): {len(removed)} containers, networks and volumes")
        await asyncio.to_thread(cluster.up)
        if cluster.spec.system.leader_probe:
            progress(f"[{scenario.name}] cluster up; leader n{await asyncio.to_thread(cluster.leader, timeout_s=30)}")
        else:
            progress(f"[{scenario.name}] cluster up (target {cluster.spec.target} names no leader)")
        return await _run_up(scenario, cluster, run_dir, seed=seed, plan=plan, progress=progress,
                             stop=stop or asyncio.Event())
    finally:
        _collect_logs(cluster, run_dir)
        await asyncio.to_thread(cluster.down)
        progress(f"[{scenario.name}] cluster removed")
        refresh_index(opts.store)


async def _run_up(scenario: Scenario, cluster: Cluster, run_dir: RunDir, *, seed: int, plan: FaultPlan,
                  progress: Progress, stop: asyncio.Event) -> RunOutcome:
    t0 = time.monotonic_ns()

    def clock_ns() -> int:  # one clock for the history and the fault log
        return time.monotonic_ns() - t0

    faults = FaultLog(clock_ns=clock_ns)
    nodes = list(cluster.nodes)
    net = ToxiproxyNemesis(ToxiproxyAPI(port=cluster.spec.api_port), size=cluster.spec.n)
    procs = DockerProcesses(nodes=nodes, lookup=cluster.container)

    async def leader() -> int | None:
        try:
            return await asyncio.to_thread(cluster.leader, timeout_s=3)
        except InfraError:
            return None

    nemesis = Nemesis(net=net, procs=procs, leader=leader, faults=faults, clock_s=lambda: clock_ns() / 1e9,
                      data_dir=cluster.spec.system.data_dir)
    urls = {i: cluster.client_url(i) for i in nodes}
    try:
        return await _drive(scenario, cluster, run_dir, seed=seed, plan=plan, progress=progress, stop=stop,
                            net=net, nemesis=nemesis, urls=urls, clock_ns=clock_ns, faults=faults)
    finally:  # also after Ctrl-C or an error: what was applied and healed is kept
        _write_faults(run_dir, faults)


async def _drive(scenario: Scenario, cluster: Cluster, run_dir: RunDir, *, seed: int, plan: FaultPlan,
                 progress: Progress, stop: asyncio.Event, net: ToxiproxyNemesis, nemesis: Nemesis,
                 urls: dict[int, str], clock_ns: Callable[[], int], faults: FaultLog) -> RunOutcome:
    nodes = list(cluster.nodes)
    adapter = cluster.spec.system.adapter(cluster.spec.options)
    with (run_dir.path / "history.jsonl").open("w", encoding="utf-8") as fp:
        recorder = HistoryRecorder(fp=fp, clock_ns=clock_ns)
        async with aiohttp.ClientSession() as session:
            await net.setup()
            try:
                workload = asyncio.create_task(run_workload(
                    scenario.workload, adapter=adapter, seed=seed, urls=urls, recorder=recorder, session=session, stop=stop,
                    client_prefix=f"{scenario.name}-{seed}"))
                chaos = asyncio.create_task(nemesis.run(plan, stop=stop))
                stats = await _with_progress(workload, scenario, progress, clock_ns)
                stop.set()
                await chaos
            finally:
                stop.set()
                await nemesis.heal_all()
            progress(f"[{scenario.name}] workload done: {stats.ok} ok, {stats.fail} fail, {stats.info} info; healed")
            live = await _liveness(cluster, scenario.checks.recovery_s, refused=frozenset(nemesis.refused))
            client = RecordingClient(adapter=adapter, session=session, urls=urls, recorder=recorder,
                                     timeout_s=scenario.workload.timeout_s, attempts=scenario.workload.attempts,
                                     client_prefix=f"{scenario.name}-{seed}-final")
            reads = await final_reads(scenario.workload.keys, client=client, first_process=stats.processes + 1,
                                      nodes=nodes)
    duration_s = clock_ns() / 1e9
    progress(f"[{scenario.name}] checking {len(recorder.events)} events")
    result = await asyncio.to_thread(_check, recorder, scenario) if scenario.checks.linearizable else None
    statuses = await asyncio.to_thread(cluster.status)
    diverged = divergence([*live.seen, *_observe(await asyncio.to_thread(cluster.common_states))])
    cases = _cases(result, live, diverged, reads, scenario.workload.keys, state_probe=cluster.spec.system.state_probe)
    outcome = RunOutcome(scenario=scenario.name, run_dir=run_dir.path, cases=tuple(cases),
                         verdict=result.verdict if result else None, ops=stats.ops)
    _write_results(run_dir, scenario, seed, outcome, result, statuses, duration_s, faults, recorder)
    return outcome


async def _with_progress(task: asyncio.Task[WorkloadStats], scenario: Scenario, progress: Progress,
                         clock_ns: Callable[[], int]) -> WorkloadStats:
    """Await the workload, printing a line every 10 s so long runs show they are alive."""
    while True:
        done, _ = await asyncio.wait({task}, timeout=10.0)
        if done:
            return task.result()
        progress(f"[{scenario.name}] {clock_ns() / 1e9:.0f}s of {scenario.workload.duration_s:g}s")


@dataclass(frozen=True, slots=True)
class _Liveness:
    leader: int | None
    converged: bool
    detail: str
    seen: tuple[Observation, ...] = ()  # every (node, applied index, digest) read while waiting


Observation = tuple[int, object, object]
"""(node, index, state digest) as the target's state probe gave them (one node, one instant)."""


def _observe(states: list[NodeState]) -> list[Observation]:
    return [(s.node, s.index, s.digest) for s in states]


async def _liveness(cluster: Cluster, recovery_s: float, *, refused: frozenset[int] = frozenset()) -> _Liveness:
    """After the heal: an agreed leader, then every replica at the same applied index and digest.

    `refused` are nodes that refused to start on corrupted files (the fault's expected effect): they are
    left out of convergence, and the detail says so."""
    deadline = time.monotonic() + recovery_s
    system = cluster.spec.system
    if not system.leader_probe and not system.state_probe:
        return _Liveness(None, False, f"not available: target {cluster.spec.target} has neither a leader nor a "
                                      "state probe (the final reads show whether it serves after the heal)")
    try:
        leader = await asyncio.to_thread(cluster.leader, timeout_s=recovery_s) if system.leader_probe else None
    except InfraError as exc:
        return _Liveness(None, False, f"no agreed leader {recovery_s:g}s after the heal: {exc}")
    if not cluster.spec.system.state_probe:
        return _Liveness(leader, False, f"leader n{leader}; convergence not available: target "
                                        f"{cluster.spec.target} has no state probe")
    states: list[NodeState] = []
    seen: list[Observation] = []
    while time.monotonic() < deadline:
        states = await asyncio.to_thread(cluster.common_states)
        seen += _observe(states)
        states = [s for s in states if s.node not in refused]
        points = {(s.head if s.head is not None else s.index, s.digest) for s in states}
        if len(points) == 1 and None not in {s.digest for s in states}:
            out = "" if not refused else (f" ({', '.join(f'n{n}' for n in sorted(refused))} left out: refused to "
                                          "start on corrupted files)")
            return _Liveness(leader, True, f"leader n{leader}; all nodes at digest {states[0].digest}{out}",
                             tuple(seen))
        await asyncio.sleep(0.5)
    last = {s.node: (s.head if s.head is not None else s.index, s.digest, s.error) for s in states}
    return _Liveness(leader, False, f"nodes did not converge within {recovery_s:g}s: {last}", tuple(seen))


def divergence(seen: Iterable[Observation]) -> str | None:
    """Replicas that applied the same slots must hold the same state (the kv is deterministic): the
    first applied index at which two replicas reported different state digests, or None.

    This is a safety check, not a liveness one: two such replicas executed different commands in
    some slot, whatever the history shows (DESIGN 9; the simulator's agreement check, from outside).
    """
    by_index: dict[int, dict[str, int]] = {}
    for node, index, digest in seen:
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0 and isinstance(digest, str):
            by_index.setdefault(index, {}).setdefault(digest, node)
    for index in sorted(by_index):
        if len(by_index[index]) > 1:
            states = ", ".join(f"n{n} {d}" for d, n in sorted(by_index[index].items(), key=lambda kv: kv[1]))
            return f"replicas that applied slots 0..{index} hold different states: {states}"
    return None


def _check(recorder: HistoryRecorder, scenario: Scenario) -> CheckResult:
    end = time.monotonic() + scenario.checks.timeout_s
    return check(model_for("kv"), operations(recorder.events), deadline=lambda: time.monotonic() > end)


def _cases(result: CheckResult | None, live: _Liveness, diverged: str | None, reads: dict[str, str | None],
           keys: int, *, state_probe: bool = True) -> list[CaseResult]:
    cases = []
    if result is not None:
        bad = [p for p in result.partitions if p.verdict != Verdict.VALID]
        outcome = {Verdict.VALID: "pass", Verdict.INVALID: "fail", Verdict.UNKNOWN: "unknown"}[result.verdict]
        msg = "; ".join(f"key {p.key!r}: {p.verdict.name.lower()}" + (f" ({p.reason})" if p.reason else "")
                        for p in bad[:5])
        cases.append(CaseResult(name="linearizable", outcome=outcome, message=msg or f"{result.ops} ops"))
    if not state_probe:  # a check the target cannot support is "not available", never a pass (DESIGN 13)
        cases.append(CaseResult(name=AGREEMENT, outcome=NOT_AVAILABLE, message="the target has no state probe"))
    else:
        cases.append(CaseResult(name=AGREEMENT, outcome="fail" if diverged else "pass",
                                message=diverged or f"{len({(i, d) for _, i, d in live.seen})} (index, state) "
                                                    "pairs read after the heal, one state per index"))
    if live.converged:
        liveness = "pass"
    elif live.detail.startswith("not available") or (not state_probe and live.leader is not None):
        liveness = NOT_AVAILABLE
    else:
        liveness = "fail"
    cases.append(CaseResult(name="liveness: leader and convergence after heal", outcome=liveness,
                            message=live.detail))
    missing = keys - len(reads)
    cases.append(CaseResult(name="final reads", outcome="pass" if missing == 0 else "fail",
                            message=f"{len(reads)}/{keys} keys read after the heal"))
    return cases


def _save_scenario(scenario: Scenario, run_dir: RunDir, seed: int) -> None:
    try:
        text = Path(scenario.source).read_text(encoding="utf-8")
    except OSError:
        text = f"# scenario {scenario.name} (source {scenario.source} not readable)\n"
    run_dir.write_text("scenario.yaml", f"# run with seed {seed}\n{text}")


def _write_faults(run_dir: RunDir, faults: FaultLog) -> None:
    run_dir.write_text("faults.jsonl", "".join(json.dumps(r.to_dict()) + "\n" for r in faults.records))


def _write_results(run_dir: RunDir, scenario: Scenario, seed: int, outcome: RunOutcome, result: CheckResult | None,
                   statuses: list[NodeStatus], duration_s: float, faults: FaultLog,
                   recorder: HistoryRecorder) -> None:
    paths = {o.name for o in get_target(scenario.cluster.target).options if o.kind == "path"}
    reproduce = f"paxos-chaos run {scenario.source} --seed {seed}" + (
        f" --target {scenario.cluster.target}" if scenario.cluster.target != "paxos" else "") + "".join(
        f" --{key} {value}" for key, value in scenario.cluster.options if key in paths)  # e.g. --node, as run
    run_dir.write_json("results.json", {
        "scenario": scenario.name, "target": scenario.cluster.target, "options": dict(scenario.cluster.options),
        "seed": seed, "exit_code": outcome.exit_code, "ops": outcome.ops,
        "duration_s": round(duration_s, 3), "reproduce": reproduce,
        "cases": [{"name": c.name, "outcome": c.outcome, "message": c.message} for c in outcome.cases],
        "check": result.to_dict() if result else None,
        "nodes": [{"node": s.node, "state": s.state, "health": s.health, "status": s.status, "error": s.error}
                  for s in statuses]})
    run_dir.write_text("junit.xml", to_junit_xml(suite=scenario.name, cases=outcome.cases, time_s=duration_s))
    node_rows = [{"node": s.node, "container": s.state, **{k: v for k, v in (s.status or {}).items()
                                                           if isinstance(v, (str, int, float, bool))}}
                 for s in statuses]
    run_dir.write_text("report.html", render_report(ReportInput(
        scenario=scenario.name, description=scenario.description, seed=seed, nodes=scenario.cluster.size,
        duration_s=duration_s, events=recorder.events, faults=faults.intervals(end_s=duration_s),
        cases=outcome.cases, check=result, node_status=node_rows, reproduce=reproduce,
        target=scenario.cluster.target + "".join(f" ({k}: {v})" for k, v in scenario.cluster.options),
        files=("history.jsonl", "faults.jsonl", "results.json", "junit.xml", "scenario.yaml",
               *(f"logs/{service}.log" for service in _services(scenario.cluster.size))))))


def _services(size: int) -> list[str]:
    return ["toxiproxy", *[f"n{i}" for i in range(1, size + 1)]]


def _collect_logs(cluster: Cluster, run_dir: RunDir) -> None:
    """Every container's log into logs/; best effort (the run's verdict does not depend on it)."""
    for service in _services(cluster.spec.n):
        try:
            raw: bytes = cluster.container(service).logs(timestamps=True)
            run_dir.write_text(f"logs/{service}.log", raw.decode("utf-8", "replace"))
        except Exception as exc:  # noqa: BLE001 - any Docker failure here only loses a log
            log.warning("could not collect the log of %s: %s", service, exc)
