"""What the noxious-based Toxiproxy server costs on a link, and how long a toxic change takes.

Starts faults/toxiproxy-server (release build) on 127.0.0.1 with free ports, plus a TCP server in a
thread, and measures (all bounded in count):
  - small request/response round trips (64 B), direct vs through a proxy: median and p99;
  - bulk transfer (length-prefixed, 32 MiB) direct vs through a proxy: MiB/s;
  - the API time of a toxic add + remove (each restarts the proxy, see docs/toxiproxy.md).

usage: .venv/bin/python benchmarks/toxiproxy_overhead.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINARY = ROOT / "faults" / "toxiproxy-server" / "target" / "release" / "toxiproxy-server"
BULK_BYTES = 32 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(listener: socket.socket) -> None:
    """Per connection: 'E' + 64 B -> echo; 'B' + u64 n + n bytes -> b'done'."""
    def one(sock: socket.socket) -> None:
        with sock:
            f = sock.makefile("rb")
            while (kind := f.read(1)):
                if kind == b"E":
                    sock.sendall(f.read(64))
                else:
                    (n,) = struct.unpack("!Q", f.read(8))
                    while n:
                        n -= len(f.read1(min(n, 1 << 20)))
                    sock.sendall(b"done")
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=one, args=(sock,), daemon=True).start()


def rtts(port: int, rounds: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            s.sendall(b"E" + b"x" * 64)
            got = b""
            while len(got) < 64:
                got += s.recv(64 - len(got))
            out.append(time.perf_counter() - t0)
        return out


def bulk_mib_s(port: int) -> float:
    block = b"y" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        t0 = time.perf_counter()
        s.sendall(b"B" + struct.pack("!Q", BULK_BYTES))
        for _ in range(BULK_BYTES // len(block)):
            s.sendall(block)
        assert s.recv(4) == b"done"
        return BULK_BYTES / (1 << 20) / (time.perf_counter() - t0)


def api(url: str, method: str, path: str, body: object | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=15).read()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    upstream = listener.getsockname()[1]
    api_port, proxy_port = free_port(), free_port()
    proc = subprocess.Popen([str(BINARY), "-host", "127.0.0.1", "-port", str(api_port)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{api_port}"
    try:
        for _ in range(100):
            try:
                api(url, "GET", "/version")
                break
            except OSError:
                time.sleep(0.05)
        api(url, "POST", "/proxies", {"name": "b", "listen": f"127.0.0.1:{proxy_port}", "upstream": f"127.0.0.1:{upstream}"})
        print(f"machine: {os.cpu_count()} cores; load {open('/proc/loadavg').read().split()[:3]}")
        for label, port in (("direct", upstream), ("proxied", proxy_port)):
            r = sorted(rtts(port, args.rounds))
            print(f"{label:8s} 64 B round trip: median {statistics.median(r) * 1e6:.0f} us, "
                  f"p99 {r[int(len(r) * 0.99)] * 1e6:.0f} us ({args.rounds} rounds)")
            print(f"{label:8s} bulk 32 MiB: {bulk_mib_s(port):.0f} MiB/s")
        changes = []
        for i in range(20):
            t0 = time.perf_counter()
            api(url, "POST", "/proxies/b/toxics", {"type": "latency", "name": "l", "attributes": {"latency": 1}})
            api(url, "DELETE", "/proxies/b/toxics/l")
            changes.append((time.perf_counter() - t0) / 2)
        print(f"toxic add or remove (proxy restart), API time: median {statistics.median(changes) * 1e3:.1f} ms "
              f"(20 add+remove pairs)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        listener.close()


if __name__ == "__main__":
    main()
