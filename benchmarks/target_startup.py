"""Cluster start-up time per target and size: `docker compose up` until every node is healthy and a
leader is agreed (the same path a run takes), each a fresh project with fresh volumes, then removed.

    .venv/bin/python benchmarks/target_startup.py [--repeat 3] [--targets paxos,etcd] [--sizes 3,5]

Prints one line per (target, size): the median and the range over the repeats. Needs `make images`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.cluster import Cluster, ClusterSpec  # noqa: E402


def once(target: str, n: int, k: int) -> tuple[float, float]:
    cluster = Cluster(ClusterSpec(n=n, project=f"pc-bench-start-{target}-{n}-{k}", port_base=12000, target=target),
                      workdir=ROOT / "store" / "_compose" / f"bench-start-{target}-{n}")
    try:
        t0 = time.monotonic()
        cluster.up(timeout_s=180)
        healthy = time.monotonic() - t0
        cluster.leader(timeout_s=60)
        return healthy, time.monotonic() - t0
    finally:
        cluster.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--targets", default="paxos,etcd")
    parser.add_argument("--sizes", default="3,5")
    args = parser.parse_args()
    print("target  n  healthy s (median, min-max)   leader agreed s (median, min-max)")
    for target in args.targets.split(","):
        for n in map(int, args.sizes.split(",")):
            runs = [once(target, n, k) for k in range(args.repeat)]
            h, a = [r[0] for r in runs], [r[1] for r in runs]
            print(f"{target:<7} {n}  {statistics.median(h):5.1f} ({min(h):.1f}-{max(h):.1f})"
                  f"               {statistics.median(a):5.1f} ({min(a):.1f}-{max(a):.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
