"""A smoke workload against a live cluster, through the proxies only (`python -m harness.smoke`:
a quick look that a cluster works, not a test), and the small helpers the end-to-end tests share with it.

Everything here speaks HTTP to 127.0.0.1 (the `client-ni` proxies and the Toxiproxy API), never to a
container address. Every loop is bounded in attempts and time.

Partition helper: `isolate(cluster, i)` adds a `timeout` toxic with timeout 0 (data is silently dropped,
connections stay open: the "drop" mode of DESIGN section 5) to both streams of every proxy between
replica i and the others (`ni-nj` and `nj-ni`); `heal(cluster)` removes every toxic from every proxy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from harness.cluster import Cluster, ClusterSpec
from targets.errors import HarnessError, InfraError

__all__ = ["digests", "get", "heal", "http", "isolate", "main", "put", "wait_converged"]

PARTITION_TOXIC = "partition"


def http(method: str, url: str, body: Any = None, *, timeout_s: float = 5.0,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One HTTP request; returns (status, decoded JSON or text). Status 0 = no answer (refused, timeout)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (127.0.0.1 only)
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, TimeoutError) as exc:
        return 0, str(exc)
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def put(cluster: Cluster, node: int, key: str, value: str, *, client_id: str = "smoke",
        request_id: int, timeout_s: float = 5.0) -> tuple[int, Any]:
    """PUT through `client-n<node>` with explicit ids (so a retry is applied once)."""
    return http("PUT", f"{cluster.client_url(node)}/kv/{key}", {"value": value}, timeout_s=timeout_s,
                headers={"X-Client-Id": client_id, "X-Request-Id": str(request_id)})


def get(cluster: Cluster, node: int, key: str, *, timeout_s: float = 5.0) -> tuple[int, Any]:
    """GET through `client-n<node>`; the value is in the JSON body's `value`."""
    return http("GET", f"{cluster.client_url(node)}/kv/{key}", timeout_s=timeout_s)


def _toxiproxy(cluster: Cluster, method: str, path: str, body: Any = None) -> Any:
    status, answer = http(method, f"{cluster.api_url}{path}", body)
    if status not in (200, 204):
        raise InfraError(f"Toxiproxy {method} {path} answered {status}: {answer}")
    return answer


def isolate(cluster: Cluster, node: int) -> list[str]:
    """Cut replica `node` off from every other replica (both directions); returns the proxies touched."""
    touched = []
    for j in cluster.nodes:
        if j == node:
            continue
        for name in (f"n{node}-n{j}", f"n{j}-n{node}"):
            for stream in ("upstream", "downstream"):
                _toxiproxy(cluster, "POST", f"/proxies/{name}/toxics", {
                    "name": f"{PARTITION_TOXIC}-{stream}", "type": "timeout", "stream": stream,
                    "toxicity": 1.0, "attributes": {"timeout": 0}})
            touched.append(name)
    return touched


def heal(cluster: Cluster) -> int:
    """Remove every toxic from every proxy; returns how many were removed."""
    proxies: dict[str, Any] = _toxiproxy(cluster, "GET", "/proxies") or {}
    removed = 0
    for name, proxy in proxies.items():
        for toxic in proxy.get("toxics") or []:
            _toxiproxy(cluster, "DELETE", f"/proxies/{name}/toxics/{toxic['name']}")
            removed += 1
    return removed


def digests(cluster: Cluster) -> dict[int, Any]:
    """Every replica's state digest from /status (None when it does not answer)."""
    return {s.node: s.digest for s in cluster.common_states()}


def wait_converged(cluster: Cluster, *, timeout_s: float = 30) -> Any:
    """Wait until every replica reports the same, non-empty digest; returns it or raises InfraError."""
    deadline = time.monotonic() + timeout_s
    seen: dict[int, Any] = {}
    while time.monotonic() < deadline:
        seen = digests(cluster)
        values = set(map(str, seen.values()))
        if len(values) == 1 and None not in seen.values():
            return next(iter(seen.values()))
        time.sleep(0.3)
    raise InfraError(f"replicas did not converge in {timeout_s:.0f} s: digests {seen}")


def _write_ok(cluster: Cluster, node: int, key: str, value: str, request_id: int) -> None:
    for _ in range(20):  # bounded retries of the same (client_id, request_id): applied at most once
        status, body = put(cluster, node, key, value, request_id=request_id)
        if status == 200:
            return
        time.sleep(0.3)
    raise InfraError(f"PUT {key}={value} via n{node} kept failing: last answer {status} {body}")


def run_smoke(cluster: Cluster, *, timeout_s: float) -> None:
    """Writes, reads, a partition of the leader, a new leader, heal, convergence. Raises on any failure."""
    leader = cluster.leader(timeout_s=timeout_s)
    print(f"leader: n{leader}")
    for rid, node in enumerate(cluster.nodes):
        _write_ok(cluster, node, f"smoke-{node}", f"v{node}", rid)
    print(f"isolating n{leader}: {', '.join(isolate(cluster, leader))}")
    rest = [i for i in cluster.nodes if i != leader]
    new = cluster.leader(timeout_s=timeout_s, among=rest)
    print(f"new leader in the majority: n{new}")
    _write_ok(cluster, new, "smoke-after", "majority", 100)
    status, body = put(cluster, leader, "smoke-after", "minority", request_id=101)
    print(f"write to the isolated n{leader}: {status} {body}")
    if status == 200:
        raise InfraError(f"the isolated old leader n{leader} acknowledged a write: {body}")
    print(f"healed {heal(cluster)} toxics")
    print(f"converged: digest {wait_converged(cluster, timeout_s=timeout_s)}")
    status, body = get(cluster, leader, "smoke-after")
    print(f"read on n{leader} after heal: {status} {body}")


def main(cluster: Cluster, *, timeout_s: float) -> int:
    """Bring the cluster up, run the smoke workload, always tear down. Exit code 0 pass, 1 fail."""
    t0 = time.monotonic()
    try:
        cluster.up(timeout_s=timeout_s)
        print(f"cluster healthy in {time.monotonic() - t0:.1f} s")
        run_smoke(cluster, timeout_s=min(timeout_s, 30.0))
    except HarnessError as exc:
        print(f"smoke FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        cluster.down()
    print("smoke passed")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m harness.smoke", description="a smoke run of a fresh paxos cluster")
    parser.add_argument("--project", default="paxos-chaos-smoke")
    parser.add_argument("--port-base", type=int, default=8000)
    parser.add_argument("--timeout", type=float, default=120.0)
    ns = parser.parse_args()
    sys.exit(main(Cluster(ClusterSpec(project=ns.project, port_base=ns.port_base)), timeout_s=ns.timeout))
