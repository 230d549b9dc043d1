"""Real replica processes on 127.0.0.1 for tests and benchmarks: start, SIGKILL, restart, query.

``LocalCluster`` starts ``python -m replica_image`` N times on free ports (bound to port 0 first, so
parallel runs do not collide), each with its own data directory and log file. Every wait is bounded;
``close()`` SIGKILLs every process it started (use it as a context manager so that happens on failure
too). ``REPLICA_PYTHON`` selects the interpreter for the replicas (e.g. a venv with aiohttp 3.8.4).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Short timeouts so failover tests finish in seconds; the defaults are for real networks.
FAST_ENV = {
    "TICK_MS": "10",
    "HEARTBEAT_MS": "40",
    "ELECTION_TIMEOUT_MS": "250",
    "REQUEST_TIMEOUT_MS": "2000",
    "PEER_TIMEOUT_MS": "400",
    "LOG_LEVEL": "INFO",
}


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the test process dies (even by SIGKILL), so no replica
    outlives a killed pytest run (Linux prctl PR_SET_PDEATHSIG; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]


def request(port: int, method: str, path: str, body: object = None, *, headers: Mapping[str, str] | None = None,
            raw: bytes | None = None, timeout_s: float = 5.0) -> Reply:
    """One HTTP request to 127.0.0.1:port; JSON in and out. Connection errors propagate (OSError)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=dict(headers or {}))
        resp = conn.getresponse()
        payload = resp.read()
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {"_text": payload.decode(errors="replace")}
        return Reply(resp.status, parsed if isinstance(parsed, dict) else {"_json": parsed})
    finally:
        conn.close()


def ids(client: str, req: int) -> dict[str, str]:
    return {"X-Client-Id": client, "X-Request-Id": str(req)}


class LocalCluster:
    """N replica processes; see the module docstring. Node ids are 1..N."""

    def __init__(self, root: Path, n: int = 3, *, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.n = n
        self.ports = {i: free_port() for i in range(1, n + 1)}
        self.peer_ports = {i: free_port() for i in range(1, n + 1)}
        self.secret = secrets.token_hex(16)
        self.extra_env = {**FAST_ENV, **(env or {})}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.python = os.environ.get("REPLICA_PYTHON", sys.executable)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def data_dir(self, i: int) -> Path:
        return self.root / f"data{i}"

    def log_path(self, i: int) -> Path:
        return self.root / f"replica{i}.log"

    def env(self, i: int) -> dict[str, str]:
        peers = ",".join(f"{j}=http://127.0.0.1:{p}" for j, p in sorted(self.peer_ports.items()))
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PEER_SECRET": self.secret,
            **self.extra_env,
            "NODE_ID": str(i),
            "PEERS": peers,
            "LISTEN": f"127.0.0.1:{self.ports[i]}",
            "PEER_LISTEN": f"127.0.0.1:{self.peer_ports[i]}",
            "DATA_DIR": str(self.data_dir(i)),
        }

    def start(self, i: int) -> None:
        assert i not in self.procs or self.procs[i].poll() is not None, f"replica {i} already running"
        log = open(self.log_path(i), "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.procs[i] = subprocess.Popen(
                [self.python, "-m", "replica_image"], env=self.env(i), cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )
        finally:
            log.close()

    def start_all(self) -> None:
        for i in self.ports:
            self.start(i)
        for i in self.ports:
            self.wait_healthy(i)

    def kill(self, i: int) -> None:
        """SIGKILL replica i and reap it (no clean shutdown: what a crash leaves on disk stays)."""
        proc = self.procs.get(i)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        for i in list(self.procs):
            self.kill(i)

    def logs(self) -> str:
        """The tail of every replica's log, for assertion messages."""
        parts = []
        for i in self.ports:
            path = self.log_path(i)
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- replica {i} ---\n" + "\n".join(text.splitlines()[-25:]))
        return "\n".join(parts)

    def wait_healthy(self, i: int, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self.procs[i]
            if proc.poll() is not None:
                raise AssertionError(f"replica {i} exited with {proc.returncode}\n{self.logs()}")
            with contextlib.suppress(OSError):
                if request(self.ports[i], "GET", "/health", timeout_s=1).status == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"replica {i} not healthy after {timeout_s}s\n{self.logs()}")

    def status(self, i: int) -> dict[str, Any] | None:
        try:
            return request(self.ports[i], "GET", "/status", timeout_s=2).body
        except OSError:
            return None

    def live(self) -> Iterator[int]:
        return (i for i, p in self.procs.items() if p.poll() is None)

    def wait_leader(self, among: set[int] | None = None, timeout_s: float = 20.0) -> int:
        """A node that says it is leader and that a majority of live nodes agree on."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            nodes = among if among is not None else set(self.live())
            views = {i: self.status(i) for i in nodes}
            leaders = [i for i, s in views.items() if s is not None and s["role"] == "leader"]
            for cand in leaders:
                agree = sum(1 for s in views.values() if s is not None and s["leader"] == cand)
                if agree > self.n // 2:
                    return cand
            time.sleep(0.05)
        raise AssertionError(f"no agreed leader among {among} after {timeout_s}s\n{self.logs()}")

    def wait_converged(self, nodes: set[int], timeout_s: float = 20.0) -> dict[int, dict[str, Any]]:
        """Wait until ``nodes`` report the same applied index and state digest; return their status."""
        deadline = time.monotonic() + timeout_s
        views: dict[int, dict[str, Any] | None] = {}
        while time.monotonic() < deadline:
            views = {i: self.status(i) for i in nodes}
            got = {(s["applied_index"], s["state_digest"]) for s in views.values() if s is not None}
            if None not in views.values() and len(got) == 1:
                return {i: s for i, s in views.items() if s is not None}
            time.sleep(0.1)
        raise AssertionError(f"replicas {sorted(nodes)} did not converge: {views}\n{self.logs()}")

    def op(self, i: int, method: str, key: str, body: object = None, *, client: str, req: int,
           suffix: str = "", attempts: int = 20) -> Reply:
        """A client request with ids, retried (same ids) on 503/connection errors, bounded in count."""
        last: Reply | None = None
        for _ in range(attempts):
            try:
                last = request(self.ports[i], method, f"/kv/{key}{suffix}", body, headers=ids(client, req))
            except OSError:
                time.sleep(0.2)
                continue
            if last.status != 503:
                return last
            time.sleep(0.2)
        raise AssertionError(f"{method} /kv/{key}{suffix} on replica {i} never answered: {last}\n{self.logs()}")
