"""The Maelstrom bridge as real processes on 127.0.0.1 (no Docker): init, routing, restarts, and whoever
reaches its ports being hostile. Peers talk directly here; tests/e2e/test_maelstrom.py runs the same
bridge in containers behind Toxiproxy.

For a longer fuzz of the client port: FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/targets/test_maelstrom_bridge.py
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targets.maelstrom.bridge import hello_tag

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "targets" / "maelstrom" / "bridge.py"
LEADER = ROOT / "targets" / "maelstrom" / "examples" / "lin_kv_leader.py"
SECRET = "s" * 32
START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Node:
    index: int
    client: int
    peer: int
    data: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client}"


def http(method: str, url: str, body: bytes | None = None, *, timeout_ms: int = 3000,
         client: str = "t") -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"X-Timeout-Ms": str(timeout_ms), "X-Client-Id": client})
    try:
        with urllib.request.urlopen(req, timeout=timeout_ms / 1000 + 5) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw)


def rpc(node: Node, **body: object) -> dict[str, object]:
    status, reply = http("POST", node.url + "/rpc", json.dumps(body).encode())
    assert status == 200, reply
    return reply


class Cluster:
    """N bridges, each node reaching the others directly (`PEER_ROUTES` names their peer ports)."""

    def __init__(self, tmp: Path, n: int, program: Path, **env: str) -> None:
        self.nodes = [Node(i, free_port(), free_port(), tmp / f"n{i}") for i in range(1, n + 1)]
        for node in self.nodes:
            node.data.mkdir(exist_ok=True)
            node.env = {**os.environ, "NODE_INDEX": str(node.index), "NODE_COUNT": str(n),
                        "PEER_ROUTES": ",".join(f"{o.index}=127.0.0.1:{o.peer}" for o in self.nodes if o is not node),
                        "CLIENT_LISTEN": f"127.0.0.1:{node.client}", "PEER_LISTEN": f"127.0.0.1:{node.peer}",
                        "PEER_SECRET": SECRET, "NODE_PROGRAM": str(program), "DATA_DIR": str(node.data),
                        "INIT_TIMEOUT_S": "5", **env}

    def start(self, node: Node) -> None:
        node.proc = subprocess.Popen([sys.executable, str(BRIDGE)], env=node.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if http("GET", node.url + "/health")[0] == 200:
                    return
            except OSError:
                pass
            if node.proc.poll() is not None:
                raise AssertionError(f"bridge n{node.index} exited: {node.proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)
        raise AssertionError(f"bridge n{node.index} not healthy within {START_TIMEOUT_S} s")

    def kill(self, node: Node) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)

    def stop(self) -> None:
        for node in self.nodes:
            self.kill(node)
            if node.proc is not None and node.proc.stderr is not None:
                node.proc.stderr.close()


@pytest.fixture
def three(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, 3, LEADER)
    try:
        for node in cluster.nodes:
            cluster.start(node)
        yield cluster
    finally:
        cluster.stop()


def wait_for(check: object, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def test_requests_through_any_node_reach_the_one_that_serves(three: Cluster) -> None:
    n1, n2, n3 = three.nodes
    wait_for(lambda: http("POST", n2.url + "/rpc", b'{"type": "write", "key": 1, "value": 7}')[1].get("type")
             == "write_ok", "n2 forwards a write to n1")
    assert rpc(n3, type="read", key=1) == {"type": "read_ok", "value": 7, "in_reply_to": rpc_id(), "msg_id": ANY}
    assert rpc(n1, type="cas", key=1, **{"from": 7, "to": 8})["type"] == "cas_ok"
    assert rpc(n2, type="cas", key=1, **{"from": 7, "to": 9})["code"] == 22
    assert rpc(n3, type="read", key=2)["code"] == 20


class _Any:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, int)


ANY = _Any()


def rpc_id() -> _Any:
    return ANY  # the bridge numbers requests; the reply must carry one


def test_a_killed_node_restarts_with_what_it_wrote_to_its_data_directory(three: Cluster) -> None:
    n1, n2, _ = three.nodes
    wait_for(lambda: http("POST", n2.url + "/rpc", b'{"type": "write", "key": 5, "value": 50}')[1].get("type")
             == "write_ok", "a write through n2")
    three.kill(n1)
    assert http("POST", n2.url + "/rpc", b'{"type": "read", "key": 5}', timeout_ms=500)[0] == 504
    three.start(n1)  # a new process: init again, state.json read back
    wait_for(lambda: http("POST", n2.url + "/rpc", b'{"type": "read", "key": 5}', timeout_ms=500)[1].get("value")
             == 50, "the write is still there after the restart")


def test_a_message_for_a_maelstrom_service_gets_error_10(tmp_path: Path) -> None:
    node = tmp_path / "asks-lin-kv.py"
    node.write_text("#!/usr/bin/env python3\n"
                    "import json, sys\n"
                    "for line in sys.stdin:\n"
                    "    m = json.loads(line); b = m['body']\n"
                    "    if b['type'] == 'init':\n"
                    "        print(json.dumps({'src': b['node_id'], 'dest': m['src'], 'body': {'type': 'init_ok', "
                    "'in_reply_to': 1}}), flush=True)\n"
                    "    elif b['type'] == 'read':\n"
                    "        print(json.dumps({'src': 'n1', 'dest': 'lin-kv', 'body': {'type': 'read', 'key': 1, "
                    "'msg_id': 99}}), flush=True); client = m\n"
                    "    elif b['type'] == 'error':\n"
                    "        print(json.dumps({'src': 'n1', 'dest': client['src'], 'body': {**b, 'in_reply_to': "
                    "client['body']['msg_id']}}), flush=True)\n")
    node.chmod(0o755)
    cluster = Cluster(tmp_path, 1, node)
    try:
        cluster.start(cluster.nodes[0])
        reply = rpc(cluster.nodes[0], type="read", key=1)
        assert reply["code"] == 10 and "no Maelstrom service 'lin-kv'" in str(reply["text"])
    finally:
        cluster.stop()


# -- a node that cannot be run ----------------------------------------------------------------------

def run_alone(tmp_path: Path, program: Path, **env: str) -> tuple[int, str]:
    cluster = Cluster(tmp_path, 1, program, INIT_TIMEOUT_S="1", **env)
    proc = subprocess.run([sys.executable, str(BRIDGE)], env=cluster.nodes[0].env, capture_output=True, text=True,
                          timeout=30)
    return proc.returncode, proc.stderr


def script(tmp_path: Path, body: str, *, mode: int = 0o755) -> Path:
    path = tmp_path / "node.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("body", "mode", "message"), [
    ("echo 'cannot open the database' >&2\nexit 3\n", 0o755,
     "n1: the node exited with code 3 before answering init; its stderr: cannot open the database"),
    ("echo 'starting' >&2\nexec sleep 30\n", 0o755,
     "n1: the node did not answer init with init_ok (in_reply_to 1) within 1 s; its stderr: starting"),
    ("echo 'hello, Maelstrom'\nexec sleep 30\n", 0o755,
     "n1: the node printed a line that is not a Maelstrom message (not JSON) on stdout: 'hello, Maelstrom' "
     "before answering init"),
    ("echo '{\"src\": \"n1\"}'\nexec sleep 30\n", 0o755, "(no string src and dest)"),
    ("exit 0\n", 0o644, "permission denied (make it executable: chmod +x)"),
])
def test_a_node_that_cannot_start_stops_the_bridge_with_exit_2_naming_it(tmp_path: Path, body: str, mode: int,
                                                                      message: str) -> None:
    code, stderr = run_alone(tmp_path, script(tmp_path, body, mode=mode))
    assert code == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr


def test_missing_programs_and_settings_are_named(tmp_path: Path) -> None:
    code, stderr = run_alone(tmp_path, tmp_path / "nowhere")
    assert code == 2 and "does not exist in the container" in stderr and "Traceback" not in stderr
    code, stderr = run_alone(tmp_path, LEADER, NODE_INDEX="7")
    assert code == 2 and "NODE_INDEX=7 is larger than NODE_COUNT=1" in stderr
    code, stderr = run_alone(tmp_path, LEADER, PEER_SECRET="short")
    assert code == 2 and "PEER_SECRET is missing or shorter than 16 characters" in stderr


# -- whoever reaches a port is hostile -----------------------------------------------------------------

def peer_lines(node: Node, *lines: bytes) -> bytes:
    """Send raw lines to a node's peer port; what it answered before closing (or within 2 s).

    A node that refuses a connection closes it with our later lines still unread, and its kernel then
    answers with a reset instead of a clean close, sometimes before we read: that is the same refusal
    (the test reads the keys afterwards to see that nothing took effect)."""
    with socket.create_connection(("127.0.0.1", node.peer), timeout=3) as s:
        got = b""
        try:
            for line in lines:
                s.sendall(line)
            s.settimeout(2)
            while chunk := s.recv(100):
                got += chunk
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass
        return got


def hello(src: str, dest: str, *, secret: str = SECRET, ts: int | None = None) -> bytes:
    ts = int(time.time()) if ts is None else ts
    return json.dumps({"hello": src, "to": dest, "ts": ts, "tag": hello_tag(secret.encode(), src, dest, ts)}).encode() + b"\n"


def forward(src: str, key: int) -> bytes:
    return json.dumps({"src": src, "dest": "n1", "body": {"type": "forward", "msg_id": 1,
                                                           "req": {"type": "write", "key": key, "value": 1}}}).encode() + b"\n"


def test_forged_peer_messages_change_nothing_and_a_real_one_does(three: Cluster) -> None:
    n1 = three.nodes[0]
    attempts = {
        "no hello": [forward("n2", 10)],
        "garbage": [b"\x00\xff junk\n", forward("n2", 11)],
        "wrong secret": [hello("n2", "n1", secret="t" * 32), forward("n2", 12)],
        "stale hello": [hello("n2", "n1", ts=int(time.time()) - 3600), forward("n2", 13)],
        "hello for another node": [hello("n2", "n3"), forward("n2", 14)],
        "a node not in the cluster": [hello("n9", "n1"), forward("n9", 15)],
    }
    for what, lines in attempts.items():
        assert peer_lines(n1, *lines) == b"", what  # no "ok": the connection is refused
    # A valid hello as n2, then a message claiming to come from n3: dropped.
    assert peer_lines(n1, hello("n2", "n1"), forward("n3", 16)) == b"ok\n"
    for key in range(10, 17):
        assert rpc(n1, type="read", key=key)["code"] == 20, key
    assert peer_lines(n1, hello("n2", "n1"), forward("n2", 17)) == b"ok\n"  # the positive control
    wait_for(lambda: rpc(n1, type="read", key=17).get("value") == 1, "a genuine message from n2 is applied")


FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.one_of(st.binary(max_size=300),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                   lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                                   max_leaves=12).map(lambda v: json.dumps(v).encode())),
       method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
       path=st.sampled_from(["/rpc", "/health", "/", "/rpc/x", "/%00"]))
def test_any_client_request_gets_a_json_answer_and_the_node_serves_on(three: Cluster, body: bytes, method: str,
                                                                       path: str) -> None:
    n3 = three.nodes[2]
    status, reply = http(method, n3.url + path, body if method != "GET" else None, timeout_ms=300)
    assert isinstance(reply, dict)
    assert status in (200, 400, 404, 405, 503, 504), (status, reply)
    assert http("GET", n3.url + "/health")[0] == 200
