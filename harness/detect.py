"""`paxos-chaos detect`: run the simulator and the suite against each deliberate replica bug and say
what caught it.

A harness that never fails proves nothing (DESIGN section 9: "the default suite plus the simulator
must catch every one"). For every bug named (default: all of `replica_image.bugs`):

1. the simulator (`harness.sim`) sweeps seeds 0, 1, ... with the bug on until one fails a safety
   check (history not linearizable, or replicas applied different values in a slot), within
   `--sim-seeds` seeds; `--sim-seeds 0` skips it;
2. the suite's scenarios run in the simulator (`paxos-chaos sim FILE`: their cluster, workload and fault
   plan in virtual time), the bug's hinted scenarios first, each over `--scenario-seeds` seeds from its
   own seed, until one fails a safety check; `--scenario-seeds 0` skips it;
3. unless `--no-docker`, the scenarios of the suite run one after another with `BUGS=<that bug>`, the
scenarios that give the bug its chance first (`HINTS`), until one reports a safety violation
(caught) or the budget of scenario runs is spent (not caught). A later round (`--runs`) repeats the
suite with the next seed of every scenario. A run that fails only its liveness check counts as a
failure but not as a catch: detection means a safety violation, in the history (linearizability) or
in the replicas' states (agreement: two replicas at the same applied index with different states).

The table it prints and stores (`<store>/detect/<time>/detect.md` and `detect.json`): bug, caught or
not (by either), the scenario and seed that caught it, the wall time until then (cluster start-ups
included) and how many scenario runs it took; the simulator's catching seed and check, how many seeds
and how long it took.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.junit import CaseResult
from harness.report.index import refresh_index
from harness.runner import AGREEMENT, RunOptions, run_scenario
from harness.scenario import Scenario, load_scenario, scenario_files
from harness.scenario.worlds import docker_refusal
from harness.sim import SimConfig
from harness.sim.scenario_cli import sweep_scenario
from harness.sim.scenario_run import applies
from harness.sim.scenario_store import write_run
from harness.sim.sweep import parse_bugs, sweep
from targets.errors import UsageError
from targets.registry import DEFAULT_TARGET, get_target

__all__ = ["HINTS", "Detection", "ScenarioSimDetection", "SimDetection", "register_detect", "render", "safety_failure",
           "simulate_bug", "simulate_bug_scenarios"]

# Scenarios that give each bug its chance, tried first (the rest of the suite follows, by name).
HINTS: dict[str, tuple[str, ...]] = {
    "accept-below-promise": ("pause-leader", "leader-isolation", "flapping-partitions"),
    "ignore-phase1-values": ("leader-isolation", "pause-leader", "flapping-partitions"),
    "no-fsync": ("kill-all", "kill-majority", "rolling-restart"),
    # A kill keeps the page cache, so only a power loss (powerfs) shows records written and never fsynced.
    "skip-fsync": ("power-loss-all", "power-loss-majority", "power-loss-leader"),
    "early-reply": ("leader-isolation", "halves"),
    "local-reads": ("leader-isolation", "halves"),
    "small-quorum": ("halves", "leader-isolation"),
    "no-dedup": ("client-retries",),
    "reused-ballot": ("flapping-partitions", "leader-isolation", "majorities-ring"),
    # crash-points is simulator only (the Docker half of detect leaves it out)
    "forget-promise-on-restart": ("crash-points", "kill-majority", "rolling-restart", "kill-random", "pause-leader"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SimDetection:
    """How the simulator fared against one bug."""

    caught: bool
    seed: int | None  # the first seed with a safety violation
    check: str | None  # which check found it
    seeds: int  # seeds run (until caught, or all)
    seconds: float
    liveness: tuple[int, ...]  # seeds before the catch that failed another check (liveness, replica error)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSimDetection:
    """How the suite's scenarios, run in the simulator, fared against one bug."""

    caught: bool
    scenario: str | None  # the scenario that caught it
    seed: int | None
    check: str | None  # "linearizability" or "agreement"
    seeds: int  # scenario seeds run until caught (or all), over every scenario tried
    seconds: float
    tried: tuple[str, ...]  # the scenarios run, in order
    report: str | None  # report.html of the catching run


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """How the suite fared against one bug (runs 0: the suite was not run)."""

    bug: str
    caught: bool  # by the suite
    scenario: str | None  # the scenario that caught it
    seed: int | None
    runs: int  # scenario runs until caught (or all that were made)
    seconds: float  # wall time of those runs
    failures: tuple[str, ...]  # scenarios that failed without a safety violation (liveness only)
    report: str | None  # report.html of the catching run
    sim: SimDetection | None = None
    check: str | None = None  # the suite's check that caught it: "linearizability" or "agreement"
    scen: ScenarioSimDetection | None = None  # the suite's scenarios in the simulator


def register_detect(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "detect", help="run the suite against each deliberate replica bug (detection power)",
        description="For each bug, run the suite's scenarios with BUGS=<bug> (the likeliest first) until "
                    "one finds a linearizability violation. Exit 0 if every bug was caught, 1 otherwise.")
    p.add_argument("--bugs", default=None, help="comma-separated bugs (default: every known bug)")
    p.add_argument("--suite", default="scenarios", metavar="DIR", help="scenario directory (default scenarios/)")
    p.add_argument("--runs", type=int, default=1, help="rounds over the suite, each with the next seeds (default 1)")
    p.add_argument("--seed-offset", type=int, default=0, metavar="K",
                   help="add K to every scenario seed and start the simulator at seed K*1000000 (another "
                        "independent trial; default 0)")
    p.add_argument("--max-scenario-runs", type=int, default=None, metavar="N",
                   help="give up on a bug after N scenario runs (default: every scenario of every round)")
    p.add_argument("--store", default="store", help="where results go (default ./store)")
    p.add_argument("--project", default="paxos-chaos-detect", help="compose project name")
    p.add_argument("--port-base", type=int, default=8000, help="Toxiproxy API on PORT_BASE+474 (default 8000)")
    p.add_argument("--sim-seeds", type=int, default=3000, metavar="N",
                   help="simulator seeds per bug before giving up (default 3000; 0: skip the simulator)")
    p.add_argument("--scenario-seeds", type=int, default=10, metavar="N",
                   help="seeds per scenario when the suite's scenarios run in the simulator (default 10; 0: skip)")
    p.add_argument("--no-docker", action="store_true",
                   help="run only the simulator (its own schedules and the suite's scenarios), not the Docker suite")
    p.add_argument("--target", default=DEFAULT_TARGET, metavar="NAME",
                   help="the target whose deliberate bugs are planted (default paxos, the only one with any)")
    p.set_defaults(func=_run)


def _bugs(text: str | None) -> list[str]:
    known = get_target(DEFAULT_TARGET).known_bugs  # the detection suite plants paxos's bugs

    if text is None:
        return sorted(known)
    names = list(parse_bugs(text))
    if not names:
        raise UsageError(f"--bugs {text!r}: no bug named; known: {','.join(sorted(known))}")
    return names


def order(suite: list[Scenario], bug: str) -> list[Scenario]:
    """The suite with the bug's hinted scenarios first, in hint order, then the rest by name."""
    hints = HINTS.get(bug, ())
    rank = {name: i for i, name in enumerate(hints)}
    return sorted(suite, key=lambda s: (rank.get(s.name, len(hints)), s.name))


def _run(args: argparse.Namespace) -> int:
    if not get_target(args.target).known_bugs:
        raise UsageError(f"--target {args.target}: detect plants a target's deliberate bugs and {args.target} has "
                         "none; to test it, use `paxos-chaos run --suite scenarios --target "
                         f"{args.target}` (for etcd, `reads: serializable` is its known-unsafe mode)")
    bugs = _bugs(args.bugs)
    if args.runs < 1 or (args.max_scenario_runs is not None and args.max_scenario_runs < 1):
        raise UsageError("--runs and --max-scenario-runs must be at least 1")
    if args.sim_seeds < 0 or args.scenario_seeds < 0 or (args.no_docker and args.sim_seeds == 0
                                                          and args.scenario_seeds == 0):
        raise UsageError("--sim-seeds and --scenario-seeds must be >= 0, and one above 0 with --no-docker "
                         "(else nothing runs)")
    if args.seed_offset < 0:
        raise UsageError("--seed-offset must be >= 0")
    suite = [load_scenario(p) for p in scenario_files(args.suite)]
    if not suite:
        raise UsageError(f"--suite {args.suite}: no *.yaml scenarios there")
    if not args.no_docker:
        from harness.cluster import connect

        connect()  # Docker not running: one line and exit 2, before anything is created
    jobs = os.cpu_count() or 1
    sims = ({bug: simulate_bug(bug, seeds=args.sim_seeds, first=args.seed_offset * 1_000_000, jobs=jobs)
             for bug in bugs} if args.sim_seeds else {})
    scens = ({bug: simulate_bug_scenarios(bug, suite, seeds=args.scenario_seeds, offset=args.seed_offset, jobs=jobs,
                                          store=Path(args.store))
              for bug in bugs} if args.scenario_seeds else {})
    docker_suite = [s for s in suite if docker_refusal(s) is None]  # crash points: simulator only
    if args.no_docker:
        results = [Detection(bug=b, caught=False, scenario=None, seed=None, runs=0, seconds=0.0, failures=(),
                             report=None) for b in bugs]
    else:
        opts = RunOptions(store=Path(args.store), project=args.project, port_base=args.port_base)
        results = asyncio.run(_detect_all(bugs, docker_suite, opts, rounds=args.runs, budget=args.max_scenario_runs,
                                          offset=args.seed_offset))
    results = [dataclasses.replace(r, sim=sims.get(r.bug), scen=scens.get(r.bug)) for r in results]
    table = render(results)
    print("\n" + table)
    out = Path(args.store) / "detect" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    (out / "detect.md").write_text(table + "\n", encoding="utf-8")
    (out / "detect.json").write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1) + "\n",
                                     encoding="utf-8")
    print(f"\ndetection table: {out / 'detect.md'}")
    refresh_index(Path(args.store))
    return 0 if all(_caught(r) for r in results) else 1


def _caught(r: Detection) -> bool:
    return r.caught or (r.sim is not None and r.sim.caught) or (r.scen is not None and r.scen.caught)


def simulate_bug(bug: str, *, seeds: int, first: int = 0, jobs: int = 1) -> SimDetection:
    """Sweep simulator seeds with `bug` on until a safety check fails (liveness-only failures go on)."""
    done = sweep(SimConfig(bugs=frozenset({bug})), first=first, count=seeds, until="safety", jobs=jobs)
    failure = done.failure
    if failure is None:
        print(f"[detect] {bug}: not caught by the simulator in {seeds} seeds", flush=True)
        return SimDetection(caught=False, seed=None, check=None, seeds=done.seeds, seconds=done.seconds,
                            liveness=done.passed_over)
    check = "agreement" if failure.agreement else "linearizability"
    print(f"[detect] {bug}: CAUGHT by the simulator, seed {failure.config.seed} ({check})", flush=True)
    return SimDetection(caught=True, seed=failure.config.seed, check=check, seeds=done.seeds, seconds=done.seconds,
                        liveness=done.passed_over)


def simulate_bug_scenarios(bug: str, suite: list[Scenario], *, seeds: int, offset: int = 0, jobs: int = 1,
                           store: Path | None = None) -> ScenarioSimDetection:
    """Run the suite's scenarios in the simulator with `bug` on, the bug's hinted ones first, each over
    `seeds` seeds from its own seed (+ `offset`), until one fails a safety check. The catching run's
    directory is written to `store` (when given). Scenarios of other targets are left out."""
    start = time.monotonic()
    total = 0
    tried: list[str] = []
    for s in order([x for x in suite if applies(x) is None], bug):
        tried.append(s.name)
        done = sweep_scenario(s, first=s.seed + offset, count=seeds, bugs=(bug,), until_safety=True, jobs=jobs)
        total += done.seeds
        if done.failure is not None:
            check = "agreement" if done.failure.result.agreement else "linearizability"
            report = str(write_run(done.failure, store).path / "report.html") if store is not None else None
            print(f"[detect] {bug}: CAUGHT by scenario {s.name} in the simulator, seed {done.failure.seed} "
                  f"({check}), after {total} scenario seeds", flush=True)
            return ScenarioSimDetection(caught=True, scenario=s.name, seed=done.failure.seed, check=check, seeds=total,
                                        seconds=time.monotonic() - start, tried=tuple(tried), report=report)
    print(f"[detect] {bug}: not caught by the scenarios in the simulator ({total} seeds)", flush=True)
    return ScenarioSimDetection(caught=False, scenario=None, seed=None, check=None, seeds=total,
                                seconds=time.monotonic() - start, tried=tuple(tried), report=None)


def safety_failure(cases: tuple[CaseResult, ...] | list[CaseResult]) -> str | None:
    """Which safety check of a scenario run failed: "linearizability" (the history), "agreement"
    (replicas at the same applied index with different states), or None. Liveness does not count."""
    failed = {c.name for c in cases if c.outcome == "fail"}
    if "linearizable" in failed:
        return "linearizability"
    if AGREEMENT in failed:
        return "agreement"
    return None


async def _detect_all(bugs: list[str], suite: list[Scenario], opts: RunOptions, *, rounds: int,
                      budget: int | None, offset: int) -> list[Detection]:
    return [await _detect(bug, suite, opts, rounds=rounds, budget=budget, offset=offset) for bug in bugs]


async def _detect(bug: str, suite: list[Scenario], opts: RunOptions, *, rounds: int,
                  budget: int | None, offset: int) -> Detection:
    start = time.monotonic()
    runs = 0
    failures: list[str] = []
    for r in range(rounds):
        for scenario in order(suite, bug):
            if budget is not None and runs >= budget:
                break
            runs += 1
            seed = scenario.seed + offset + r
            print(f"[detect] {bug}: run {runs}, {scenario.name} seed {seed}", flush=True)
            outcome = await run_scenario(scenario, dataclasses.replace(opts, bugs=(bug,), seed=seed),
                                         progress=lambda s: print(s, flush=True))
            check = safety_failure(outcome.cases)
            caught = check is not None
            word = f"CAUGHT ({check} violation)" if caught else (
                "not caught (a liveness check failed)" if outcome.exit_code else "not caught")
            print(f"[detect] {bug}: {word} by {scenario.name} seed {seed}: {outcome.run_dir / 'report.html'}",
                  flush=True)
            if caught:
                return Detection(bug=bug, caught=True, scenario=scenario.name, seed=seed, runs=runs,
                                 seconds=time.monotonic() - start, failures=tuple(failures),
                                 report=str(outcome.run_dir / "report.html"), check=check)
            if outcome.exit_code != 0:
                failures.append(scenario.name)
    return Detection(bug=bug, caught=False, scenario=None, seed=None, runs=runs,
                     seconds=time.monotonic() - start, failures=tuple(failures), report=None)


def render(results: list[Detection]) -> str:
    """A Markdown table of the detections, with the detection rates underneath."""
    rows = ["| bug | caught | suite: by scenario (seed) | suite: time to detect | suite: scenario runs | "
            "simulator: by seed (check) | simulator: time to detect | simulator: seeds | "
            "scenarios in the simulator: by scenario (seed, check) | time to detect | scenario seeds | other failures |",
            "|---|---|---|---:|---:|---|---:|---:|---|---:|---:|---|"]
    for r in results:
        if r.runs == 0:
            by, secs, runs = "not run", "-", "-"
        else:
            check = f", {r.check}" if r.check else ""
            by = f"{r.scenario} ({r.seed}{check})" if r.caught else "NOT CAUGHT"
            secs, runs = f"{r.seconds:.0f} s", str(r.runs)
        sim = r.sim
        if sim is None:
            sby, ssecs, sseeds = "not run", "-", "-"
        else:
            sby = f"{sim.seed} ({sim.check})" if sim.caught else "NOT CAUGHT"
            ssecs, sseeds = f"{sim.seconds:.1f} s", str(sim.seeds)
        sc = r.scen
        if sc is None:
            cby, csecs, cseeds = "not run", "-", "-"
        else:
            cby = f"{sc.scenario} ({sc.seed}, {sc.check})" if sc.caught else "NOT CAUGHT"
            csecs, cseeds = f"{sc.seconds:.1f} s", str(sc.seeds)
        other = list(r.failures) + ([f"simulator, other checks: seeds {', '.join(map(str, sim.liveness))}"]
                                    if sim is not None and sim.liveness else [])
        rows.append(f"| {r.bug} | {'yes' if _caught(r) else 'NO'} | {by} | {secs} | {runs} | {sby} | {ssecs} | "
                    f"{sseeds} | {cby} | {csecs} | {cseeds} | {', '.join(other) or '-'} |")
    rows.append(f"\ndetection rate: {sum(_caught(r) for r in results)}/{len(results)}")
    if any(r.runs for r in results):
        rows.append(f"suite alone: {sum(r.caught for r in results if r.runs)}/{sum(1 for r in results if r.runs)}")
    if any(r.sim for r in results):
        sims = [r.sim for r in results if r.sim is not None]
        rows.append(f"simulator alone: {sum(s.caught for s in sims)}/{len(sims)}")
    if any(r.scen for r in results):
        scs = [r.scen for r in results if r.scen is not None]
        rows.append(f"scenarios in the simulator alone: {sum(s.caught for s in scs)}/{len(scs)}")
    return "\n".join(rows)
