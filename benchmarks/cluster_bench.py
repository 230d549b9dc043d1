"""Cluster timings: time to a healthy cluster, and what the Toxiproxy hop costs in throughput.

    .venv/bin/python benchmarks/cluster_bench.py startup [--sizes 3,5,7] [--repeat 3]
    .venv/bin/python benchmarks/cluster_bench.py proxy-cost [--clients 1,16] [--seconds 5]

`startup`: with the images built, `Cluster.up` (compose up + every container healthy) and then the
first agreed leader, for each size, `--repeat` times (each cluster is removed before the next).
(The from-no-images figure is `time make images` after `python -m harness.images --clean`, plus this.)

`proxy-cost`: the closed-loop load of benchmarks/kv_bench.py (its `run_phase`: sequential clients,
each its own client_id, puts then gets) against the leader of a 3-replica Docker cluster, twice:
(1) the normal cluster, client -> client-ni proxy -> leader, leader -> ni-nj proxies -> followers;
(2) a `direct` cluster (benchmark-only compose variant) where the client and the peers bypass the
proxies. Same images, same FSYNC, same machine; the difference is the proxy hops.
Every phase is bounded (`--seconds` <= 30); clusters are always removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.kv_bench import PhaseResult, _table, run_phase  # noqa: E402
from harness.cluster import Cluster, ClusterSpec, port_is_free  # noqa: E402

PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "31000"))


def spec(n: int, *, direct: bool = False) -> ClusterSpec:
    if not all(port_is_free(p) for p in ClusterSpec(n=n, port_base=PORT_BASE, direct=direct).host_ports()):
        raise SystemExit(f"ports near {PORT_BASE} are busy: set BENCH_PORT_BASE")
    return ClusterSpec(n=n, project=f"pxc-bench-{os.getpid()}", port_base=PORT_BASE, direct=direct,
                       env={"LOG_LEVEL": "WARNING"})


def startup(sizes: list[int], repeat: int) -> None:
    print("| N | run | up to healthy s | + leader agreed s |\n|--:|--:|--:|--:|")
    for n in sizes:
        for r in range(repeat):
            with Cluster(spec(n), workdir=Path(f"/tmp/pxc-bench-{os.getpid()}")) as c:
                t0 = time.monotonic()
                c.up(timeout_s=120)
                t1 = time.monotonic()
                c.leader(timeout_s=60)
                t2 = time.monotonic()
            print(f"| {n} | {r + 1} | {t1 - t0:.1f} | {t2 - t0:.1f} |", flush=True)


def load(ports: list[int], clients: list[int], seconds: float, tag: str) -> list[PhaseResult]:
    out = []
    for k in clients:
        for op in ("put", "get"):
            res = asyncio.run(run_phase(ports, op, k, seconds, f"{tag}{os.getpid()}"))
            print(f"  {tag:7s} {op} clients={k}: {res.ops_per_s:.0f} ops/s p50 {res.pct(50) * 1000:.1f} ms "
                  f"errors {res.errors}", flush=True)
            out.append(res)
    return out


def proxy_cost(clients: list[int], seconds: float) -> None:
    tables = {}
    for direct in (False, True):
        tag = "direct" if direct else "proxied"
        with Cluster(spec(3, direct=direct), workdir=Path(f"/tmp/pxc-bench-{os.getpid()}-{tag}")) as c:
            c.up(timeout_s=120)
            leader = c.leader(timeout_s=60)
            port = c.spec.direct_port(leader) if direct else c.spec.client_port(leader)
            tables[tag] = load([port], clients, seconds, tag)
    for tag, results in tables.items():
        print(f"\n{tag} (3 replicas in Docker, FSYNC=always, target=leader, {seconds:g} s/phase)\n")
        print(_table(results))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("startup")
    s.add_argument("--sizes", default="3,5,7")
    s.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("proxy-cost")
    p.add_argument("--clients", default="1,16")
    p.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {platform.python_version()}, {platform.platform()}")
    if args.cmd == "startup":
        startup([int(x) for x in args.sizes.split(",")], min(args.repeat, 10))
    else:
        proxy_cost([int(x) for x in args.clients.split(",")], min(args.seconds, 30.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
