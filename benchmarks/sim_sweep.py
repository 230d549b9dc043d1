"""Simulator throughput and detection power: seeds per minute, and how many seeds of N catch each bug.

For each bug named (and for BUGS empty), seeds first..first+N-1 run through `harness.sim.simulate`
(3 replicas, 4 s of virtual workload each); unlike `paxos-chaos sim` the sweep does not stop at the
first failure, so it measures the share of seeds that fail and which check caught them. With BUGS
empty every failure is a false alarm (or a real bug of the replica) and is listed.

usage: .venv/bin/python benchmarks/sim_sweep.py [--seeds 1000] [--first 0] [--bugs a,b|all] [--size 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
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
    args = ap.parse_args()
    names = ([""] + sorted(KNOWN_BUGS) if args.bugs == "all" else
             [""] if args.bugs == "none" else [b for b in args.bugs.split(",") if b])
    print(f"# {platform.node()}: {os.cpu_count()} cpus, Python {platform.python_version()}; "
          f"{args.seeds} seeds from {args.first}, {args.size} replicas")
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


if __name__ == "__main__":
    sys.exit(main())
