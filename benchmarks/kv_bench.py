"""Closed-loop throughput/latency benchmark of three local replicas (FSYNC=always by default).

Starts three ``python -m replica_image`` processes on free 127.0.0.1 ports (tests/replica/procs.py),
waits for a leader, then for each concurrency level runs ``--seconds`` of puts and then of gets:
each client is sequential (one request in flight, its own client_id, increasing request_ids) and sends
to the leader (``--target leader``) or round-robin over all replicas (``--target all``; followers
forward). Reports acknowledged ops/s and p50/p99 latency (non-200 answers are counted, not timed), the CPU the
three replicas used per acknowledged op (a figure that does not depend on how busy the machine is) and
the 1-minute load average when the phase started (the machine is shared: a high load means the
replicas waited for a CPU, which shows in throughput and latency but not in CPU per op).
Every run is bounded (``--seconds`` per phase, request timeout 10 s) and stops the replicas at the end.

    .venv/bin/python benchmarks/kv_bench.py --clients 1,16,64 --seconds 5 [--fsync never] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.replica.procs import LocalCluster  # noqa: E402


@dataclass
class PhaseResult:
    op: str
    clients: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    replica_cpu_s: float = 0.0
    loadavg: float = 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        return self.replica_cpu_s * 1000 / max(1, len(self.latencies_s))

    @property
    def ops_per_s(self) -> float:
        return len(self.latencies_s) / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        if len(self.latencies_s) == 1:
            return self.latencies_s[0]
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[int(q) - 1]


class _Conn:
    """A minimal keep-alive HTTP/1.1 client connection (the load generator must not eat the CPU the
    replicas need on a 2-core machine; aiohttp's client costs ~4x more per request). It relies on the
    replica always sending Content-Length, which aiohttp's json_response does."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        parts = status_line.split()
        if len(parts) < 2:
            raise ConnectionError("connection closed by the replica")
        return int(parts[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _client(ports: list[int], op: str, cid: str, res: PhaseResult, stop_at: float, keys: int) -> None:
    conns = [_Conn("127.0.0.1", p) for p in ports]
    req = 0
    try:
        while time.monotonic() < stop_at:
            req += 1
            conn = conns[req % len(conns)]
            headers = {"X-Client-Id": cid, "X-Request-Id": str(req)}
            body = json.dumps({"value": f"{cid}-{req}"}).encode() if op == "put" else b""
            t0 = time.monotonic()
            try:
                status = await asyncio.wait_for(
                    conn.call("PUT" if op == "put" else "GET", f"/kv/k{req % keys}", headers, body), 10)
            except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                res.errors[type(exc).__name__] = res.errors.get(type(exc).__name__, 0) + 1
                conn.close()
                await asyncio.sleep(0.05)
                continue
            if status == 200:
                res.latencies_s.append(time.monotonic() - t0)
            else:
                res.errors[str(status)] = res.errors.get(str(status), 0) + 1
    finally:
        for c in conns:
            c.close()


async def run_phase(ports: list[int], op: str, clients: int, seconds: float, run_id: str) -> PhaseResult:
    """``clients`` sequential clients doing ``op`` for ``seconds`` against ``ports`` (round-robin)."""
    res = PhaseResult(op=op, clients=clients, seconds=seconds)
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(
        _client(ports, op, f"{run_id}-{op}-{clients}-{i}", res, stop_at, keys=1000) for i in range(clients)
    ))
    return res


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _table(results: list[PhaseResult]) -> str:
    lines = ["| op | clients | acked ops/s | p50 ms | p99 ms | replica CPU ms/op | load avg | non-200 / errors |",
             "|----|--------:|------------:|-------:|-------:|------------------:|---------:|------------------|"]
    for r in results:
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0"
        lines.append(f"| {r.op} | {r.clients} | {r.ops_per_s:,.0f} | {r.pct(50) * 1000:.1f} | "
                     f"{r.pct(99) * 1000:.1f} | {r.cpu_ms_per_op:.2f} | {r.loadavg:.1f} | {errs} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,16,64", help="comma-separated concurrency levels")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each phase (bounded: <= 60)")
    ap.add_argument("--fsync", choices=["always", "never"], default="always")
    ap.add_argument("--target", choices=["leader", "all"], default="leader")
    ap.add_argument("--env", action="append", default=[], help="extra replica env NAME=VALUE (repeatable)")
    ap.add_argument("--out", type=Path, help="append the markdown table to this file")
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    seconds = min(args.seconds, 60.0)
    extra = dict(kv.split("=", 1) for kv in args.env)
    results: list[PhaseResult] = []
    with tempfile.TemporaryDirectory(prefix="kvbench-") as tmp, \
            LocalCluster(Path(tmp), env={"FSYNC": args.fsync, "LOG_LEVEL": "WARNING", **extra}) as cluster:
        cluster.start_all()
        leader = cluster.wait_leader()
        ports = [cluster.ports[leader]] if args.target == "leader" else list(cluster.ports.values())
        run_id = f"b{os.getpid()}"
        for n in levels:
            for op in ("put", "get"):
                pids = [p.pid for p in cluster.procs.values()]
                cpu0, load = sum(_cpu_s(p) for p in pids), os.getloadavg()[0]
                res = asyncio.run(run_phase(ports, op, n, seconds, run_id))
                res.replica_cpu_s, res.loadavg = sum(_cpu_s(p) for p in pids) - cpu0, load
                print(f"{op:4s} clients={n:3d}: {res.ops_per_s:8.0f} ops/s  p50 {res.pct(50) * 1000:6.1f} ms  "
                      f"p99 {res.pct(99) * 1000:6.1f} ms  errors {res.errors}", flush=True)
                results.append(res)
        fsyncs = sum((cluster.status(i) or {}).get("storage", {}).get("fsyncs", 0) for i in cluster.ports)
    table = _table(results)
    header = (f"fsync={args.fsync} target={args.target} seconds/phase={seconds:g} env={extra or '-'} "
              f"fsyncs(all replicas)={fsyncs} python={platform.python_version()} aiohttp={aiohttp.__version__}")
    print(header)
    print(table)
    if args.out:
        with args.out.open("a") as f:
            f.write(f"\n{header}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
