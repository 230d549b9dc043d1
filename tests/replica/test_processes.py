"""Three real replicas as local processes: writes anywhere, leader crash, restart catch-up, torn tail, dedup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from replica_image.storage import LOG_NAME
from tests.replica.procs import REPO, LocalCluster, free_port

pytestmark = pytest.mark.processes


def _write_some(c: LocalCluster, *, client: str, first_req: int, count: int) -> dict[str, str]:
    """Put `count` keys, round-robin over the live replicas; return what each key must read back."""
    live = sorted(c.live())
    expected = {}
    for n in range(count):
        key = f"{client}-k{first_req + n}"
        value = f"v{first_req + n}"
        reply = c.op(live[n % len(live)], "PUT", key, {"value": value}, client=client, req=first_req + n)
        assert reply.status == 200, (reply, c.logs())
        assert reply.body == {"value": value}
        expected[key] = value
    return expected


def _read_all(c: LocalCluster, node: int, expected: dict[str, str], *, client: str, first_req: int) -> None:
    for n, (key, value) in enumerate(sorted(expected.items())):
        reply = c.op(node, "GET", key, client=client, req=first_req + n)
        assert reply.status == 200 and reply.body == {"value": value, "found": True}, (key, reply, c.logs())


def test_writes_through_any_replica_survive_leader_kill_and_restart(tmp_path: Path) -> None:
    with LocalCluster(tmp_path) as c:
        c.start_all()
        leader = c.wait_leader()
        acked = _write_some(c, client="w1", first_req=1, count=12)
        # an append through every replica (followers forward to the leader)
        for i in sorted(c.ports):
            reply = c.op(i, "POST", "log", {"value": str(i)}, client=f"app{i}", req=1, suffix="/append")
            assert reply.status == 200, (reply, c.logs())
        c.kill(leader)
        survivors = set(c.ports) - {leader}
        new_leader = c.wait_leader(among=survivors)
        assert new_leader != leader
        for i in sorted(survivors):
            _read_all(c, i, acked, client=f"reader{i}", first_req=1)
            log_value = c.op(i, "GET", "log", client=f"logreader{i}", req=1).body["value"]
            assert sorted(log_value) == ["1", "2", "3"], (log_value, c.logs())
        acked |= _write_some(c, client="w2", first_req=1, count=6)
        # the killed replica restarts from its data directory and catches up to the same state
        c.start(leader)
        c.wait_healthy(leader)
        views = c.wait_converged(set(c.ports))
        assert len({v["state_digest"] for v in views.values()}) == 1
        _read_all(c, leader, acked, client="reader-restarted", first_req=1)


def test_restarted_replica_catches_up_by_snapshot_after_peers_truncated(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, env={"SNAPSHOT_EVERY": "5"}) as c:
        c.start_all()
        leader = c.wait_leader()
        acked = _write_some(c, client="s1", first_req=1, count=6)
        follower = min(set(c.ports) - {leader})
        c.wait_converged(set(c.ports))
        c.kill(follower)
        acked |= _write_some(c, client="s2", first_req=1, count=30)
        others = set(c.ports) - {follower}
        views = c.wait_converged(others)
        # the live replicas compacted past everything the stopped one has
        assert all(v["snapshot_last"] >= 20 for v in views.values()), views
        c.start(follower)
        c.wait_healthy(follower)
        c.wait_converged(set(c.ports))
        assert (c.status(follower) or {})["snapshot_last"] >= 20
        assert "installed snapshot through slot" in c.log_path(follower).read_text(), c.logs()
        _read_all(c, follower, acked, client="snapcheck", first_req=1)


def test_torn_last_record_is_cut_and_replica_rejoins(tmp_path: Path) -> None:
    with LocalCluster(tmp_path) as c:
        c.start_all()
        leader = c.wait_leader()
        acked = _write_some(c, client="t", first_req=1, count=8)
        follower = min(set(c.ports) - {leader})
        c.wait_converged(set(c.ports))
        c.kill(follower)
        log = c.data_dir(follower) / LOG_NAME
        size = log.stat().st_size
        os.truncate(log, size - 5)  # a torn write: the last record lost its final bytes
        acked |= _write_some(c, client="t2", first_req=1, count=4)
        c.start(follower)
        c.wait_healthy(follower)
        c.wait_converged(set(c.ports))
        text = c.log_path(follower).read_text()
        assert "torn tail of" in text, text[-2000:]
        _read_all(c, follower, acked, client="check", first_req=1)


def test_retried_request_with_same_ids_applies_once(tmp_path: Path) -> None:
    with LocalCluster(tmp_path) as c:
        c.start_all()
        leader = c.wait_leader()
        follower = min(set(c.ports) - {leader})
        first = c.op(follower, "POST", "k", {"value": "a"}, client="dup", req=1, suffix="/append")
        again = c.op(leader, "POST", "k", {"value": "a"}, client="dup", req=1, suffix="/append")
        assert first.status == again.status == 200
        assert first.body == again.body == {"value": "a"}
        nxt = c.op(leader, "POST", "k", {"value": "b"}, client="dup", req=2, suffix="/append")
        assert nxt.body == {"value": "ab"}
        # a stale id (older than the client's last) is refused, not applied
        stale = c.op(follower, "POST", "k", {"value": "z"}, client="dup", req=1, suffix="/append")
        assert stale.status == 400 and "stale request_id" in stale.body["error"]
        assert c.op(follower, "GET", "k", client="r", req=1).body == {"value": "ab", "found": True}


def _run_replica(env: dict[str, str], timeout_s: float = 20) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    python = os.environ.get("REPLICA_PYTHON", sys.executable)
    return subprocess.run([python, "-m", "replica_image"], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def _base_env(tmp_path: Path) -> dict[str, str]:
    port, peer_port = free_port(), free_port()
    return {"NODE_ID": "1", "PEERS": f"1=http://127.0.0.1:{peer_port}", "LISTEN": f"127.0.0.1:{port}",
            "PEER_LISTEN": f"127.0.0.1:{peer_port}", "PEER_SECRET": "test-secret-0123456789",
            "DATA_DIR": str(tmp_path / "d")}


@pytest.mark.parametrize(("var", "value"), [("NODE_ID", "9"), ("FSYNC", "maybe"), ("LISTEN", "nope"),
                                            ("TICK_MS", "-3"), ("PEERS", "")])
def test_bad_config_exits_2_with_one_line(tmp_path: Path, var: str, value: str) -> None:
    proc = _run_replica({**_base_env(tmp_path), var: value})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and var in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_corrupt_middle_record_refuses_to_start(tmp_path: Path) -> None:
    env = _base_env(tmp_path)
    port = int(env["LISTEN"].rsplit(":", 1)[1])
    with LocalCluster(tmp_path, n=1) as c:
        c.ports = {1: port}
        c.start(1)
        c.wait_healthy(1)
        c.wait_leader()
        for n in range(3):
            assert c.op(1, "PUT", f"k{n}", {"value": "x" * 50}, client="c", req=n + 1).status == 200
        c.kill(1)
    log = c.data_dir(1) / LOG_NAME
    data = bytearray(log.read_bytes())
    data[20] ^= 0xFF  # inside the first record's payload; valid records follow
    log.write_bytes(bytes(data))
    proc = _run_replica({**env, "DATA_DIR": str(c.data_dir(1))})
    assert proc.returncode == 2, proc.stderr
    assert str(log) in proc.stderr and "offset 0" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_port_in_use_exits_2(tmp_path: Path) -> None:
    env = _base_env(tmp_path)
    with LocalCluster(tmp_path, n=1) as c:
        c.ports = {1: int(env["LISTEN"].rsplit(":", 1)[1])}
        c.start(1)
        c.wait_healthy(1)
        proc = _run_replica({**env, "DATA_DIR": str(tmp_path / "other")})
    assert proc.returncode == 2 and "LISTEN" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
