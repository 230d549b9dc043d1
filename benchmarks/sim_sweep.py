"""Simulator throughput and detection power: seeds per minute, and how many seeds of N catch each bug.

Rates (default): for each bug named (and for BUGS empty), seeds first..first+N-1 run through
`harness.sim.simulate` (the default swarm: each seed draws 1 to 7 replicas, mostly 3, 5 or 7, and the rest of its
run, unless `--size` pins the size; 4 s of virtual workload each, `--jobs` processes); unlike
`paxos-chaos sim` the sweep does not stop at the first failure, so it measures the share of seeds
that fail and which checks saw it: replicas disagreeing (what only a simulator sees) and the history
not linearizable (what a black-box run sees), counted separately. With BUGS empty every failure is a
false alarm (or a real bug of the replica) and is listed on stderr.

Time to detect (`--trials K`): for each bug, K independent sweeps (trial k starts at seed
k * 1,000,000), each until the first safety violation or N seeds; prints the median and worst
seeds and wall time to detect, as `paxos-chaos detect` would see them with other seeds.

usage: .venv/bin/python benchmarks/sim_sweep.py [--seeds 1000] [--first 0] [--bugs a,b|all|none] [--size N]
                                                [--jobs J] [--trials K]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
import statistics
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.checker import Verdict  # noqa: E402
from harness.sim import SimConfig, simulate  # noqa: E402
from replica_image.bugs import KNOWN_BUGS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--bugs", default="all", help="comma-separated ('none': BUGS empty), or 'all' (default)")
    ap.add_argument("--size", type=int, default=None, help="pin the cluster size (default: drawn per seed)")
    ap.add_argument("--trials", type=int, default=0, help="measure time to detect over K sweeps instead")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes for the rates")
    args = ap.parse_args()
    names = ([""] + sorted(KNOWN_BUGS) if args.bugs == "all" else
             ["" if b == "none" else b for b in args.bugs.split(",") if b])
    print(f"# {platform.node()}: {os.cpu_count()} cpus, Python {platform.python_version()}; "
          f"{args.seeds} seeds from {args.first}, {args.size or 'swarm: 1-7'} replicas")
    if args.trials:
        return time_to_detect([n for n in names if n], args.trials, args.seeds, args.size)
    print(f"rates with {args.jobs} worker processes")
    print("| bug | seeds failed | first failing seed | replicas disagree | history not linearizable | "
          "other checks only | seeds/min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for bug in names:
            start = time.monotonic()
            configs = [SimConfig(seed=s, size=args.size, bugs=frozenset({bug} - {""}))
                       for s in range(args.first, args.first + args.seeds)]
            rows = pool.map(_outcome, configs, chunksize=8)
            failed = [r[0] for r in rows if r[1]]
            count = Counter(k for r in rows for k, on in zip(("agree", "history", "other"), r[2:]) if on)
            for seed, _, _, _, _, text in rows:
                if not bug and text:
                    print(f"  false alarm? {text}", file=sys.stderr)
            rate = args.seeds / (time.monotonic() - start) * 60
            print(f"| {bug or '(none)'} | {len(failed)}/{args.seeds} | {failed[0] if failed else '-'} | "
                  f"{count['agree']} | {count['history']} | {count['other']} | {rate:.0f} |", flush=True)
    return 0


def _outcome(cfg: SimConfig) -> tuple[int, bool, bool, bool, bool, str]:
    """(seed, failed, replicas disagree, history invalid, failed only other checks, summary if failed)."""
    r = simulate(cfg)
    history = r.check is not None and r.check.verdict is Verdict.INVALID
    other = r.failed and r.safety_violation is None
    return cfg.seed, r.failed, r.agreement is not None, history, other, r.summary() if r.failed else ""


def time_to_detect(bugs: list[str], trials: int, budget: int, size: int | None) -> int:
    print(f"time to detect: {trials} sweeps per bug, each until the first safety violation (at most {budget} seeds)")
    print("| bug | caught in | median seeds | worst seeds | median time | worst time |")
    print("|---|---:|---:|---:|---:|---:|")
    for bug in bugs:
        seeds: list[int] = []
        times: list[float] = []
        for k in range(trials):
            start = time.monotonic()
            first = k * 1_000_000
            for n, seed in enumerate(range(first, first + budget), start=1):
                if simulate(SimConfig(seed=seed, size=size, bugs=frozenset({bug}))).safety_violation:
                    seeds.append(n)
                    times.append(time.monotonic() - start)
                    break
        caught = len(seeds)
        if not caught:
            print(f"| {bug} | 0/{trials} | - | - | - | - |", flush=True)
            continue
        print(f"| {bug} | {caught}/{trials} | {statistics.median(seeds):.0f} | {max(seeds)} | "
              f"{statistics.median(times):.1f} s | {max(times):.1f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
