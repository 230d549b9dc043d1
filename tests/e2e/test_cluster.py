"""End-to-end: a real 3-replica cluster in Docker, every link through a real Toxiproxy-API server.

All traffic goes to 127.0.0.1: the `client-ni` proxies and the Toxiproxy API. Every wait is bounded.
"""

from __future__ import annotations

import time
from typing import Any

from harness import smoke
from harness.cluster import Cluster
from harness.compose import proxy_config

WRITE_ATTEMPTS = 20


def value_of(body: Any) -> Any:
    return body.get("value") if isinstance(body, dict) else body


def write(cluster: Cluster, node: int, key: str, value: str, *, request_id: int) -> None:
    """PUT until it is acknowledged, retrying the same request id (applied at most once)."""
    last: tuple[int, Any] = (0, None)
    for _ in range(WRITE_ATTEMPTS):
        last = smoke.put(cluster, node, key, value, client_id="e2e", request_id=request_id)
        if last[0] == 200:
            return
        time.sleep(0.3)
    raise AssertionError(f"PUT {key}={value} via n{node} never succeeded: {last}")


def read(cluster: Cluster, node: int, key: str) -> Any:
    status, body = smoke.get(cluster, node, key)
    assert status == 200, f"GET {key} via n{node}: {status} {body}"
    return value_of(body)


def test_toxiproxy_has_exactly_the_generated_proxies(cluster: Cluster) -> None:
    status, proxies = smoke.http("GET", f"{cluster.api_url}/proxies")
    assert status == 200
    assert set(proxies) == {p["name"] for p in proxy_config(3)}
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


def test_writes_and_reads_through_every_client_proxy(cluster: Cluster) -> None:
    cluster.leader(timeout_s=30)
    for i in cluster.nodes:
        write(cluster, i, f"k{i}", f"written-via-n{i}", request_id=i)
    for i in cluster.nodes:
        for k in cluster.nodes:
            assert read(cluster, i, f"k{k}") == f"written-via-n{k}"
    smoke.wait_converged(cluster, timeout_s=30)


def test_partitioned_leader_is_replaced_refuses_writes_and_catches_up(cluster: Cluster) -> None:
    old = cluster.leader(timeout_s=30)
    write(cluster, old, "x", "before", request_id=1)

    touched = smoke.isolate(cluster, old)
    assert len(touched) == 4  # n_old <-> each of the two others, both directions
    rest = [i for i in cluster.nodes if i != old]
    new = cluster.leader(timeout_s=30, among=rest)
    assert new != old
    write(cluster, new, "x", "during", request_id=2)

    # The isolated replica may not acknowledge a write, and may never show a value other than
    # one that was committed (a stale-but-committed "before" is all it may know).
    for rid in range(3):
        status, body = smoke.put(cluster, old, "x", f"minority-{rid}", client_id="e2e-minority",
                                 request_id=100 + rid)
        assert status == 503, f"isolated n{old} answered a write with {status} {body}"
        status, body = smoke.get(cluster, old, "x")
        assert status != 200 or value_of(body) in ("before", "during"), (status, body)

    assert smoke.heal(cluster) == 8  # two streams on each of the four proxies
    digest = smoke.wait_converged(cluster, timeout_s=30)
    assert digest
    assert read(cluster, old, "x") not in ("minority-0", "minority-1", "minority-2")
    assert read(cluster, new, "x") == read(cluster, old, "x")


def test_sigkill_of_every_replica_then_restart_recovers_from_the_volumes(cluster: Cluster) -> None:
    cluster.leader(timeout_s=30)
    for rid in range(5):
        write(cluster, 1 + rid % 3, f"durable-{rid}", f"v{rid}", request_id=rid)
    before = smoke.wait_converged(cluster, timeout_s=30)

    # SIGKILL all of them: nobody keeps the data in memory, it can only come back from the volumes.
    for i in cluster.nodes:
        cluster.container(i).kill(signal="SIGKILL")
    for i in cluster.nodes:
        c = cluster.container(i)
        c.reload()
        assert c.status == "exited"
        c.start()
    cluster.wait_healthy(timeout_s=60)
    cluster.leader(timeout_s=30)

    # Checked before any new client command: a new leader's no-ops do not change the state.
    assert smoke.wait_converged(cluster, timeout_s=30) == before
    for rid in range(5):
        assert read(cluster, 1 + (rid + 1) % 3, f"durable-{rid}") == f"v{rid}"


def test_sigkill_of_one_replica_then_restart_catches_up(cluster: Cluster) -> None:
    leader = cluster.leader(timeout_s=30)
    victim = next(i for i in cluster.nodes if i != leader)
    write(cluster, leader, "a", "1", request_id=1)
    cluster.container(victim).kill(signal="SIGKILL")
    write(cluster, leader, "a", "2", request_id=2)   # the majority still commits
    cluster.container(victim).start()
    cluster.wait_healthy(timeout_s=60, services=[f"n{victim}"])
    smoke.wait_converged(cluster, timeout_s=30)
    assert read(cluster, victim, "a") == "2"
