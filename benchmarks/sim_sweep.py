"""Simulator throughput and detection power: seeds per minute, and how many seeds of N catch each bug.

Rates (default): for each bug named (and for BUGS empty), seeds first..first+N-1 run through
`harness.sim.simulate` (3 replicas, 4 s of virtual workload each); unlike `paxos-chaos sim` the sweep
does not stop at the first failure, so it measures the share of seeds that fail and which check
caught them. With BUGS empty every failure is a false alarm (or a real bug of the replica) and is listed.

Time to detect (`--trials K`): for each bug, K independent sweeps (trial k starts at seed
k * 1,000,000), each until the first safety violation or N seeds; prints the median and worst
seeds and wall time to detect, as `paxos-chaos detect` would see them with other seeds.

usage: .venv/bin/python benchmarks/sim_sweep.py [--seeds 1000] [--first 0] [--bugs a,b|all|none] [--size 3]
                                                [--trials K]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import statistics
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.sim import SimConfig, simulate  # noqa: E402
from replica_image.bugs import KNOWN_BUGS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--bugs", default="all", help="comma-separated, 'none' for BUGS empty only, 'all' (default)")
    ap.add_argument("--size", type=int, default=3)
    ap.add_argument("--trials", type=int, default=0, help="measure time to detect over K sweeps instead")
    args = ap.parse_args()
    names = ([""] + sorted(KNOWN_BUGS) if args.bugs == "all" else
             [""] if args.bugs == "none" else [b for b in args.bugs.split(",") if b])
    print(f"# {platform.node()}: {os.cpu_count()} cpus, Python {platform.python_version()}; "
          f"{args.seeds} seeds from {args.first}, {args.size} replicas")
    if args.trials:
        return time_to_detect([n for n in names if n], args.trials, args.seeds, args.size)
    print("| bug | seeds failed | first failing seed | by (agreement / history / liveness) | seeds/min |")
    print("|---|---:|---:|---|---:|")
    for bug in names:
        start = time.monotonic()
        failed: list[int] = []
        by: Counter[str] = Counter()
        for seed in range(args.first, args.first + args.seeds):
            r = simulate(SimConfig(seed=seed, size=args.size, bugs=frozenset({bug} - {""})))
            if r.failed:
                failed.append(seed)
                by["agreement" if r.agreement else "history" if r.safety_violation else "liveness/unknown"] += 1
                if not bug:
                    print(f"  false alarm? {r.summary()}", file=sys.stderr)
        rate = args.seeds / (time.monotonic() - start) * 60
        print(f"| {bug or '(none)'} | {len(failed)}/{args.seeds} | {failed[0] if failed else '-'} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(by.items())) or '-'} | {rate:.0f} |", flush=True)
    return 0


def time_to_detect(bugs: list[str], trials: int, budget: int, size: int) -> int:
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
