"""Fixtures for the Toxiproxy API tests: a real Toxiproxy-API server and real TCP upstreams.

`toxiproxy_url` is our noxious-based server (faults/toxiproxy-server), brought up to date with cargo
and started on 127.0.0.1 with a free port; or, when the environment variable
TOXIPROXY_URL is set (e.g. http://127.0.0.1:8474), that server instead, so the same tests run against
the official Toxiproxy. Such a server must run on this host: its proxies listen on 127.0.0.1 and
connect to upstreams on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer

ROOT = Path(__file__).resolve().parents[2]
SERVER_SRC = ROOT / "faults" / "toxiproxy-server"
BUILD_TIMEOUT_S = 600.0
START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A port that was free a moment ago (bind port 0, read it, release it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def api_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """GET `url`; returns (status, body) also for HTTP errors."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def server_binary() -> Path:
    """Our server's release binary, brought up to date with `cargo build --release --locked`.

    The build runs even when a binary exists (a no-op in about a second when nothing changed): a
    binary left from older sources would test the old server, e.g. one without reset_peer. Without
    cargo an existing binary is used as it is.
    """
    target = Path(os.environ.get("CARGO_TARGET_DIR", SERVER_SRC / "target"))
    binary = target / "release" / "toxiproxy-server"
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        if binary.exists():
            return binary
        pytest.skip("cannot test the noxious-based Toxiproxy server: cargo is not installed "
                    "(install Rust, or set TOXIPROXY_URL to a running Toxiproxy)")
    proc = subprocess.run([cargo, "build", "--release", "--locked"], cwd=SERVER_SRC,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if proc.returncode != 0 or not binary.exists():
        pytest.fail(f"cargo build of faults/toxiproxy-server failed:\n{proc.stderr[-2000:]}")
    return binary


@dataclass
class ServerProcess:
    """A started toxiproxy-server; `stop()` ends it (terminate, then kill after 5 s)."""

    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_server(binary: Path, *extra: str, attempts: int = 3) -> ServerProcess:
    """Starts the binary on 127.0.0.1 with a free port and waits for GET /version (bounded)."""
    last_err = ""
    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port", str(port), *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = ServerProcess(proc, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if api_get(server.url + "/version", timeout_s=0.5)[0] == 200:
                    return server
            except OSError:
                time.sleep(0.05)
        server.stop()
        last_err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    pytest.fail(f"toxiproxy-server did not come up in {attempts} attempts: {last_err[-1000:]}")


@pytest.fixture(scope="session")
def toxiproxy_url() -> Iterator[str]:
    """Base URL of the Toxiproxy-API server under test (see the module docstring)."""
    external = os.environ.get("TOXIPROXY_URL")
    if external:
        url = external.rstrip("/")
        try:
            status, _ = api_get(url + "/version")
        except OSError as err:
            pytest.fail(f"TOXIPROXY_URL={external} is not reachable ({err}); start it or unset TOXIPROXY_URL")
        assert status == 200, f"TOXIPROXY_URL={external}: GET /version answered {status}"
        yield url
        return
    server = start_server(server_binary())
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def toxiproxy(toxiproxy_url: str) -> Iterator[Toxiproxy]:
    """toxiproxy-python pointed at the server, with no proxies before and after the test."""
    host_port = toxiproxy_url.split("://", 1)[1]
    host, port = host_port.rsplit(":", 1)
    client = Toxiproxy()
    client.update_api_consumer(host, int(port))
    client.destroy_all()
    try:
        yield client
    finally:
        client.update_api_consumer(host, int(port))
        client.destroy_all()


@pytest.fixture(scope="session")
def is_noxious(toxiproxy_url: str) -> bool:
    """Whether the server under test is ours (its /version says so) rather than the official one."""
    status, body = api_get(toxiproxy_url + "/version")
    try:
        return bool(status == 200 and json.loads(body).get("server") == "paxos-chaos-noxious")
    except (ValueError, AttributeError):
        return False


@dataclass
class Conn:
    """What an upstream saw on one accepted connection."""

    chunks: list[bytes] = field(default_factory=list)
    eof_at: float | None = None
    ended: str | None = None  # "eof" (a FIN), "reset" (an RST) or "error", once the peer is gone

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class Upstream:
    """A real TCP server on 127.0.0.1:0 in a thread. mode "echo" echoes every chunk; mode "hello"
    sends b"hello" and closes 0.2 s later; mode "blob" sends BLOB in one write, then reads until EOF.
    Every accepted connection's chunks and EOF time are kept."""

    BLOB = b"x" * 20_000

    def __init__(self, mode: str = "echo") -> None:
        self.mode = mode
        self.conns: list[Conn] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            conn = Conn()
            with self._lock:
                self.conns.append(conn)
                self._open.append(sock)
            threading.Thread(target=self._serve, args=(sock, conn), daemon=True).start()

    def _serve(self, sock: socket.socket, conn: Conn) -> None:
        try:
            if self.mode == "hello":
                sock.sendall(b"hello")
                # Close a moment later: noxious's slow_close can lose data that arrives together
                # with the close (docs/toxiproxy.md); the tests are about the close, not that race.
                time.sleep(0.2)
                return
            if self.mode == "blob":
                sock.sendall(self.BLOB)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    conn.eof_at = time.monotonic()
                    conn.ended = "eof"
                    return
                conn.chunks.append(chunk)
                if self.mode == "echo":
                    sock.sendall(chunk)
        except ConnectionResetError:
            conn.eof_at = conn.eof_at or time.monotonic()
            conn.ended = "reset"
        except OSError:
            conn.eof_at = conn.eof_at or time.monotonic()
            conn.ended = conn.ended or "error"
        finally:
            sock.close()

    def close(self) -> None:
        self._sock.close()
        with self._lock:
            for sock in self._open:
                try:
                    sock.close()
                except OSError:
                    pass


@pytest.fixture
def echo() -> Iterator[Upstream]:
    server = Upstream("echo")
    yield server
    server.close()


@pytest.fixture
def blob() -> Iterator[Upstream]:
    server = Upstream("blob")
    yield server
    server.close()


@pytest.fixture
def hello() -> Iterator[Upstream]:
    server = Upstream("hello")
    yield server
    server.close()
