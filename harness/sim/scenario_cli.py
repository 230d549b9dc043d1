"""`paxos-chaos sim FILE|DIR... [--seeds N | --seed S]`: scenario files in the simulator.

`--seed S` runs each file once at seed S, prints what happened and writes its run directory to the store
(`harness.sim.scenario_store`), as `paxos-chaos run FILE --seed S` does in Docker. Without it, each file is
swept over `--seeds` seeds from its own `seed:` (or `--first-seed`), until one fails a check, within
`--max-time` of wall time for the whole command; the failing seed's run directory is written. Files of
other targets (scenarios/etcd/, scenarios/maelstrom/) are refused when named and left out of a directory,
with the reason. Exit codes as for `run`: 0 all passed, 1 a seed failed, 2 bad arguments or files.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.report.index import refresh_index
from harness.scenario import Scenario, load_scenario, resolve_run, scenario_files
from harness.sim.scenario_run import ScenarioRun, applies, explain, run_in_sim, warnings
from harness.sim.scenario_store import write_run
from targets.errors import ScenarioError, UsageError

__all__ = ["ScenarioSweep", "run_files", "scenarios_of", "sweep_scenario"]


def scenarios_of(paths: list[str], *, say: Callable[[str], None] = print) -> list[Scenario]:
    """The scenarios of `paths` (files, or every *.yaml of a directory) the simulator can run. A named file of
    another target is a ScenarioError; in a directory it is left out, and `say` tells why."""
    out: list[Scenario] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = scenario_files(p)
            if not files:
                raise ScenarioError(f"{p}: no *.yaml scenario files")
            for f in files:
                s = load_scenario(f)
                why = applies(s)
                if why is None:
                    out.append(s)
                else:
                    say(f"[{s.name}] left out: {why}")
            continue
        s = load_scenario(p)
        why = applies(s)
        if why is not None:
            raise ScenarioError(why)
        out.append(s)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSweep:
    """How a sweep of one scenario ended: the run that stopped it (None: every seed passed), seeds run,
    wall time and ops."""

    scenario: Scenario
    failure: ScenarioRun | None
    seeds: int
    seconds: float
    ops: int

    @property
    def seeds_per_minute(self) -> float:
        return self.seeds / self.seconds * 60 if self.seconds else 0.0


def _verdict(job: tuple[Scenario, int, tuple[str, ...] | None]) -> tuple[bool, bool, int]:
    """One seed in a worker process: (failed, safety violation, ops)."""
    scenario, seed, bugs = job
    r = run_in_sim(scenario, seed=seed, bugs=bugs).result
    return r.failed, r.safety_violation is not None, r.ops


def sweep_scenario(scenario: Scenario, *, first: int, count: int, bugs: tuple[str, ...] | None = None,
                   until_safety: bool = False, jobs: int = 1, max_seconds: float | None = None,
                   clock: Callable[[], float] = time.monotonic) -> ScenarioSweep:
    """Run `scenario` at seeds first..first+count-1 until one fails (`until_safety`: fails a safety check) or
    `max_seconds` pass. Results are taken in seed order, so the stopping seed does not depend on `jobs`."""
    start = clock()
    ops = run = 0
    work = ((scenario, seed, bugs) for seed in range(first, first + count))
    with contextlib.ExitStack() as stack:
        if jobs > 1:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(jobs))
            verdicts: Iterator[tuple[bool, bool, int]] = pool.imap(_verdict, work)
        else:
            verdicts = map(_verdict, work)
        for run, (failed, safety, n) in enumerate(verdicts, start=1):
            ops += n
            if failed and (safety or not until_safety):
                again = run_in_sim(scenario, seed=first + run - 1, bugs=bugs)  # deterministic: the same run
                return ScenarioSweep(scenario=scenario, failure=again, seeds=run, seconds=clock() - start, ops=ops)
            if max_seconds is not None and clock() - start > max_seconds:
                break
    return ScenarioSweep(scenario=scenario, failure=None, seeds=run, seconds=clock() - start, ops=ops)


def run_files(args: argparse.Namespace, *, bugs: tuple[str, ...] | None, max_seconds: float) -> int:
    """The `sim FILE...` command (see the module docstring)."""
    if args.size is not None or args.duration is not None:
        raise UsageError("--size and --duration are for the simulator's own schedules; a scenario file sets its "
                         "cluster size and workload duration itself")
    scenarios = scenarios_of(args.scenarios, say=lambda s: print(s, flush=True))
    if not scenarios:
        raise UsageError(f"{' '.join(args.scenarios)}: no scenario the simulator can run")
    store = Path(args.store)
    for s in scenarios:
        for w in warnings(s):
            print(f"warning: {w}", flush=True)
    if args.seed is not None:
        return _replay(scenarios, seed=args.seed, bugs=bugs, store=store)
    failed = 0
    start = time.monotonic()
    for s in scenarios:
        left = max_seconds - (time.monotonic() - start)
        if left <= 0:
            print(f"[sim] {s.name}: not run, --max-time spent", flush=True)
            continue
        first = resolve_run(s, seed=args.first_seed, bugs=bugs).seed  # --first-seed, else the file's seed
        done = sweep_scenario(s, first=first, count=args.seeds, bugs=bugs, jobs=args.jobs, max_seconds=left)
        print(f"[sim] {s.name}: {done.seeds} seeds from {first}, {done.ops} ops in {done.seconds:.1f} s "
              f"({done.seeds_per_minute:.0f} seeds/min): " + ("every seed passed" if done.failure is None else
                                                              f"seed {done.failure.seed} FAILED"), flush=True)
        if done.failure is not None:
            failed += 1
            print("\n".join(explain(done.failure)))
            print(f"written to {write_run(done.failure, store).path}", flush=True)
    if failed:
        refresh_index(store)
    print(f"[sim] {len(scenarios) - failed} of {len(scenarios)} scenario(s) passed every seed")
    return 1 if failed else 0


def _replay(scenarios: list[Scenario], *, seed: int, bugs: tuple[str, ...] | None, store: Path) -> int:
    failed = 0
    for s in scenarios:
        run = run_in_sim(s, seed=seed, bugs=bugs)
        print("\n".join(explain(run)))
        print(f"written to {write_run(run, store).path}", flush=True)
        failed += run.failed
    refresh_index(store)
    return 1 if failed else 0
