"""End to end without Docker: real replica processes, every link through a real Toxiproxy-API server,
a fault plan made from scenario YAML applied by the Toxiproxy nemesis, the workload recorded by the
real client, and the checker's verdict on the history.

Replica i reaches replica j through the proxy `ni-nj` (its PEERS entry for j points at that proxy), and
the clients reach replica i through `client-ni`, as in the Docker topology (DESIGN 4).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from faults.plan import FaultPlan, make_plan, timeline
from faults.toxiproxy import ToxiproxyAPI, ToxiproxyNemesis
from harness.checker import KVModel, Verdict, check, operations
from harness.scenario import parse_scenario
from targets.paxos import PAXOS
from tests.faults.conftest import server_binary, start_server
from tests.replica.procs import LocalCluster, free_port
from workloads.client import RecordingClient
from workloads.history import HistoryRecorder
from workloads.interpreter import final_reads, run_workload

pytestmark = pytest.mark.processes

SCENARIO = """
description: isolate the leader, then halves with reject, against local replica processes
seed: 5
cluster: {size: 3}
workload: {duration: 9s, concurrency: 4, rate: 40, keys: 3, timeout: 3s}
faults:
  - partition: {shape: isolate-leader, mode: drop}
    at: 1s
    for: 3s
  - partition: {shape: halves, mode: reject}
    at: 5s
    for: 2500ms
"""


class ProxiedCluster(LocalCluster):
    """A LocalCluster whose replicas reach each other through `ni-nj` proxies."""

    def __init__(self, root: Path, proxy_ports: dict[str, int]) -> None:
        super().__init__(root, 3)
        self.proxy_ports = proxy_ports

    def env(self, i: int) -> dict[str, str]:
        env = super().env(i)
        peers = [f"{j}=http://127.0.0.1:{self.peer_ports[j] if j == i else self.proxy_ports[f'n{i}-n{j}']}"
                 for j in sorted(self.ports)]
        env["PEERS"] = ",".join(peers)
        return env


async def _leader(cluster: LocalCluster) -> int | None:
    views = await asyncio.to_thread(lambda: {i: cluster.status(i) for i in cluster.ports})
    leaders = [i for i, s in views.items() if s is not None and s.get("role") == "leader"]
    return leaders[0] if len(leaders) == 1 else None


async def _nemesis(nem: ToxiproxyNemesis, plan: FaultPlan, cluster: LocalCluster, start: float,
                   log: list[tuple[float, str, str]]) -> None:
    for event in timeline(plan):
        await asyncio.sleep(max(0.0, start + event.at_s - time.monotonic()))
        if event.action == "apply":
            applied = await nem.apply(event.step, leader=await _leader(cluster))
            log.append((time.monotonic() - start, "apply", applied.description))
        else:
            await nem.heal(event.step)
            log.append((time.monotonic() - start, "heal", event.step.describe()))


async def _run(cluster: LocalCluster, api: ToxiproxyAPI, client_ports: dict[int, int]) -> dict[str, Any]:
    scenario = parse_scenario(SCENARIO, source="<test>")
    plan = make_plan(scenario, seed=scenario.seed)
    nem = ToxiproxyNemesis(api, size=3)
    await nem.setup()
    urls = {i: f"http://127.0.0.1:{p}" for i, p in client_ports.items()}
    log: list[tuple[float, str, str]] = []
    rec = HistoryRecorder(clock_ns=time.monotonic_ns)
    try:
        async with aiohttp.ClientSession() as session:
            start = time.monotonic()
            chaos = asyncio.create_task(_nemesis(nem, plan, cluster, start, log))
            stats = await run_workload(scenario.workload, adapter=PAXOS.adapter({}), seed=scenario.seed, urls=urls, recorder=rec,
                                       session=session)
            await chaos
            await nem.teardown()
            await asyncio.to_thread(cluster.wait_leader)
            client = RecordingClient(adapter=PAXOS.adapter({}), session=session, urls=urls, recorder=rec, timeout_s=3.0, attempts=10)
            reads = await final_reads(3, client=client, first_process=stats.processes, nodes=[1, 2, 3])
    finally:
        await nem.teardown()
    return {"stats": stats, "events": rec.events, "log": log, "reads": reads}


def test_partitions_from_yaml_against_real_replicas_stay_linearizable(tmp_path: Path) -> None:
    server = start_server(server_binary())
    api = ToxiproxyAPI(port=int(server.url.rsplit(":", 1)[1]))
    names = [f"n{i}-n{j}" for i in (1, 2, 3) for j in (1, 2, 3) if i != j] + [f"client-n{i}" for i in (1, 2, 3)]
    proxy_ports = {name: free_port() for name in names}
    try:
        with ProxiedCluster(tmp_path, proxy_ports) as cluster:
            async def make_proxies() -> None:
                for name, port in proxy_ports.items():
                    target = int(name.rsplit("n", 1)[1])
                    # peer links go to the peer listener, client links to the client listener
                    upstream = cluster.ports[target] if name.startswith("client-") else cluster.peer_ports[target]
                    await api.create_proxy(name, listen=f"127.0.0.1:{port}", upstream=f"127.0.0.1:{upstream}")

            asyncio.run(make_proxies())
            cluster.start_all()
            cluster.wait_leader()
            out = asyncio.run(_run(cluster, api, {i: proxy_ports[f"client-n{i}"] for i in (1, 2, 3)}))
            logs = cluster.logs()
    finally:
        server.stop()
    applied = [entry for entry in out["log"] if entry[1] == "apply"]
    assert len(applied) == 2 and len([e for e in out["log"] if e[1] == "heal"]) == 2, out["log"]
    assert "isolate" in applied[0][2] and "cannot hear" in applied[0][2], applied
    stats = out["stats"]
    assert stats.ok > 20, (stats, logs)
    assert len(out["reads"]) == 3, "every key must be readable after the heal"
    result = check(KVModel(), operations(out["events"]))
    assert result.verdict == Verdict.VALID, (result, logs)
