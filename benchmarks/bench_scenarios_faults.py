"""Timings of the scenario/fault/workload layer (not part of the test run).

    .venv/bin/python benchmarks/bench_scenarios_faults.py [--toxiproxy-binary PATH]

Measures: validating the shipped scenarios; planning; the pure generator; the recording client and
interpreter against the in-memory fake replica (HTTP on 127.0.0.1); and how long the Toxiproxy nemesis
takes to apply and heal partitions of 3, 5 and 7 replicas on a real Toxiproxy-API server (started here
on a free port, stopped at the end). Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from faults.partitions import complete_grudge, halves  # noqa: E402
from faults.plan import FaultStep, Partition, make_plan  # noqa: E402
from faults.toxiproxy import ToxiproxyAPI, ToxiproxyNemesis  # noqa: E402
from harness.scenario import WorkloadSpec, load_scenario, scenario_files  # noqa: E402
from targets.paxos import PAXOS
from tests.workloads.fake_replica import FakeCluster, FakeReplica  # noqa: E402
from workloads.generator import OpGenerator  # noqa: E402
from workloads.history import HistoryRecorder  # noqa: E402
from workloads.interpreter import run_workload  # noqa: E402


def timed(label: str, fn: object, *, repeat: int) -> None:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()  # type: ignore[operator]
    dt = (time.perf_counter() - t0) / repeat
    print(f"{label:55} {dt * 1e3:9.3f} ms")


def bench_pure() -> None:
    files = scenario_files(ROOT / "scenarios")
    timed(f"validate all {len(files)} shipped scenarios", lambda: [load_scenario(f) for f in files], repeat=20)
    flapping = load_scenario(ROOT / "scenarios" / "flapping-partitions.yaml")
    timed("make_plan(flapping-partitions) (15 steps)", lambda: make_plan(flapping, seed=flapping.seed), repeat=200)
    gen = OpGenerator(WorkloadSpec(duration_s=1, keys=100, distribution="skewed"), rng=random.Random(1), tag="w0")
    n = 100_000
    t0 = time.perf_counter()
    for _ in range(n):
        gen.next_op()
    print(f"{'generator next_op (skewed, 100 keys)':55} {n / (time.perf_counter() - t0):9.0f} ops/s")


async def bench_client() -> None:
    spec = WorkloadSpec(duration_s=3.0, concurrency=8, keys=5, timeout_s=1.0)
    async with FakeCluster(FakeReplica()) as cluster, aiohttp.ClientSession() as session:
        rec = HistoryRecorder(clock_ns=time.monotonic_ns)
        stats = await run_workload(spec, adapter=PAXOS.adapter({}), seed=1, urls=cluster.urls, recorder=rec, session=session)
    print(f"{'interpreter+client vs fake replica, 8 procs, 3s':55} {stats.ops / 3.0:9.0f} ops/s "
          f"({stats.ok} ok)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bench_nemesis(port: int) -> None:
    api = ToxiproxyAPI(port=port)
    for size in (3, 5, 7):
        for name in await api.proxies():
            await api.delete_proxy(name)
        nem = ToxiproxyNemesis(api, size=size)
        for proxy in nem.expected_proxies():
            await api.create_proxy(proxy, listen="127.0.0.1:0", upstream="127.0.0.1:9")
        await nem.setup()
        for mode in ("drop", "reject"):
            grudges = [("halves", halves(tuple(range(1, size + 1)), random.Random(s))) for s in range(5)]
            grudges += [("isolate", complete_grudge([[1], list(range(2, size + 1))]))] * 5
            for shape in ("halves", "isolate"):
                applies, heals = [], []
                for i, (sh, g) in enumerate(x for x in grudges if x[0] == shape):
                    step = FaultStep(step=i, entry=0, start_s=0, heal_s=1,
                                     fault=Partition(shape=sh, mode=mode, one_way=False, grudge=g))  # type: ignore[arg-type]
                    t0 = time.perf_counter()
                    await nem.apply(step)
                    t1 = time.perf_counter()
                    await nem.heal(step)
                    applies.append(t1 - t0)
                    heals.append(time.perf_counter() - t1)
                print(f"{f'nemesis n={size} {shape:8} {mode:6} apply / heal (median of 5)':55} "
                      f"{sorted(applies)[2] * 1e3:9.1f} ms / {sorted(heals)[2] * 1e3:.1f} ms")
        t0 = time.perf_counter()
        await nem.heal_all()
        print(f"{f'nemesis n={size} heal_all ({len(nem.expected_proxies())} proxies)':55} "
              f"{(time.perf_counter() - t0) * 1e3:9.1f} ms")
    for name in await api.proxies():
        await api.delete_proxy(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toxiproxy-binary",
                    default=str(ROOT / "faults/toxiproxy-server/target/release/toxiproxy-server"))
    args = ap.parse_args()
    bench_pure()
    asyncio.run(bench_client())
    if not Path(args.toxiproxy_binary).exists():
        print("toxiproxy-server binary missing; nemesis timings skipped")
        return
    port = free_port()
    proc = subprocess.Popen([args.toxiproxy_binary, "-host", "127.0.0.1", "-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        asyncio.run(bench_nemesis(port))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
