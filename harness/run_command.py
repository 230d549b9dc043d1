"""`paxos-chaos run`: validate every scenario first, then run them one after another.

Nothing is started unless every scenario given is valid. Ctrl-C stops the workload, heals every
fault, collects the logs and tears the cluster down before the command exits (130); a second Ctrl-C
forces the exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from harness.compose_tool import describe
from harness.junit import verdict_word
from harness.runner import RunOptions, RunOutcome, run_scenario
from harness.scenario import (
    Scenario,
    add_node_argument,
    for_target,
    load_scenario,
    option_overrides,
    scenario_files,
    seed_argument,
    shard_of,
)
from harness.scenario.worlds import docker_refusal
from harness.shards import parse_shard
from harness.sim.sweep import parse_bugs
from targets.errors import ScenarioError, UsageError
from targets.registry import get_target

__all__ = ["register_run"]


def register_run(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "run", help="run scenarios against a fresh cluster and check the history",
        description="Run each scenario: cluster up, workload + faults, heal, final reads, check, report, "
                    "cluster down. Exit 0 all checks passed, 1 a check failed, 2 the run could not be "
                    "carried out, 3 a check could not decide.")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario YAML files")
    p.add_argument("--suite", metavar="DIR", help="run every scenario in DIR (e.g. scenarios/)")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="K/N",
                   help="run only slice K of N: the scenarios to run (those of --suite that apply to --target, "
                        "and any named), sorted by name and dealt round-robin into N slices; the same suite "
                        "always gives the same slices, so N CI jobs with K=1..N run each scenario once "
                        "(`paxos-chaos list DIR --shards N` prints that job matrix)")
    p.add_argument("--seed", type=seed_argument,
                   help="override the scenarios' seeds (reproduce a run); an integer 0..2^63-1")
    p.add_argument("--store", default="store", help="where results go (default ./store)")
    p.add_argument("--project", default=os.environ.get("PROJECT", "paxos-chaos-run"),
                   help="compose project name for the cluster (default paxos-chaos-run)")
    p.add_argument("--port-base", type=int, default=int(os.environ.get("PORT_BASE", "8000")),
                   help="Toxiproxy API on PORT_BASE+474, client-ni on PORT_BASE+i (default 8000)")
    p.add_argument("--bugs", default=None,
                   help="comma-separated replica bugs to enable (overrides the scenarios'; '' for none)")
    p.add_argument("--target", default=os.environ.get("TARGET") or None, metavar="NAME",
                   help="the system under test, replacing each scenario's cluster.target (paxos, etcd, maelstrom); "
                        "with --suite, the scenarios that do not apply to it are listed and left out")
    add_node_argument(p)
    p.set_defaults(func=_run)


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    """Every scenario to run, validated before anything starts (ScenarioError, exit 2). A file named
    on the command line must apply to `--target`; of a `--suite`, those that do not are left out."""
    overrides = option_overrides(args)
    named = [load_scenario(p, target=args.target, options=overrides) for p in args.scenarios]
    suite: list[Scenario] = []
    if args.suite:
        suite, skipped = for_target(scenario_files(args.suite), args.target, overrides)
        for path, why in skipped:
            where = f"does not apply to target {args.target}" if args.target else "does not run in Docker"
            print(f"[{path.stem}] {where}, left out: {why}", flush=True)
    if not named and not suite:
        raise UsageError("no scenario given: name YAML files, or use --suite scenarios/")
    for s in named:  # a file named to run in Docker: refuse it whole, before Docker is touched
        refusal = docker_refusal(s)
        if refusal is not None:
            raise ScenarioError(refusal)
    everything = named + suite
    if args.shard is None:
        return everything
    mine = shard_of(everything, args.shard)
    print(f"shard {args.shard}: {len(mine)} of {len(everything)} scenario(s): "
          f"{' '.join(s.name for s in mine) or '(none: fewer scenarios than shards)'}", flush=True)
    return mine


def _run(args: argparse.Namespace) -> int:
    scenarios = _scenarios(args)
    if not scenarios:  # an empty shard: nothing of it can fail, and nothing needs Docker
        return 0
    bugs = None if args.bugs is None else parse_bugs(args.bugs)  # a typo: exit 2 before Docker is touched
    without = sorted({s.cluster.target for s in scenarios if not get_target(s.cluster.target).known_bugs})
    if bugs and without:
        raise UsageError(f"--bugs {args.bugs}: these are the paxos replica's bugs; target {without[0]} has none")
    from harness.cluster import connect

    connect()  # Docker not running: one line and exit 2, before anything is created
    opts = RunOptions(store=Path(args.store), project=args.project, port_base=args.port_base, seed=args.seed,
                      bugs=bugs)
    try:
        outcomes = asyncio.run(_run_all(scenarios, opts))
    except asyncio.CancelledError:
        print("paxos-chaos: interrupted; faults healed and cluster removed", file=sys.stderr)
        return 130
    return _summary(outcomes)


async def _run_all(scenarios: list[Scenario], opts: RunOptions) -> list[RunOutcome]:
    # which compose (v1 or v2) is half of what a failing CI log needs; no compose at all: exit 2 here
    print(f"clusters run with {describe()}", flush=True)
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()

    def interrupted(name: str) -> None:
        print(f"\npaxos-chaos: {name}: healing and tearing down (Ctrl-C again to force)", file=sys.stderr,
              flush=True)
        loop.remove_signal_handler(signal.SIGINT)
        if me is not None:
            me.cancel()

    loop.add_signal_handler(signal.SIGINT, interrupted, "Ctrl-C (SIGINT)")
    # what a CI runner sends a cancelled job
    loop.add_signal_handler(signal.SIGTERM, interrupted, "SIGTERM")
    outcomes = []
    for scenario in scenarios:
        outcome = await run_scenario(scenario, opts, progress=lambda s: print(s, flush=True))
        print(f"[{scenario.name}] {verdict_word(outcome.exit_code)}: report {outcome.run_dir / 'report.html'}",
              flush=True)
        outcomes.append(outcome)
    return outcomes


def _summary(outcomes: list[RunOutcome]) -> int:
    print("\nscenario                          result     ops  report")
    for o in outcomes:
        print(f"{o.scenario:<33} {verdict_word(o.exit_code):<9} {o.ops:>5}  {o.run_dir / 'report.html'}")
    codes = {o.exit_code for o in outcomes}
    return 1 if 1 in codes else 3 if 3 in codes else 0
