"""The aiohttp server in-process (real core, kv, storage, fsync): bad input is a 400 and applies nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from replica_image.app import recover, serve
from replica_image.config import load_config
from replica_image.peer_auth import AUTH_HEADER, sign
from tests.replica.procs import free_port

Session = aiohttp.ClientSession
Check = Callable[[Session, str, str], Awaitable[None]]


def _run(tmp_path: Path, check: Check, *, nodes: int = 1, extra_env: dict[str, str] | None = None,
         timeout_s: float = 30) -> None:
    """Serve replica 1 of a `nodes`-node cluster (the others never start) and run `check` against it:
    ``check(session, client_base_url, peer_base_url)``."""
    ports = [free_port() for _ in range(nodes)]
    peer_ports = [free_port() for _ in range(nodes)]
    env = {
        "NODE_ID": "1",
        "PEERS": ",".join(f"{i + 1}=http://127.0.0.1:{p}" for i, p in enumerate(peer_ports)),
        "LISTEN": f"127.0.0.1:{ports[0]}",
        "PEER_LISTEN": f"127.0.0.1:{peer_ports[0]}",
        "PEER_SECRET": SECRET,
        "DATA_DIR": str(tmp_path / "data"),
        "ELECTION_TIMEOUT_MS": "60",
        "HEARTBEAT_MS": "20",
        "CLIENT_MAX_BYTES": "4096",
        "REQUEST_TIMEOUT_MS": "500",
        **(extra_env or {}),
    }
    cfg = load_config(env)

    async def main() -> None:
        stop = asyncio.Event()
        server = asyncio.ensure_future(serve(cfg, recover(cfg), stop))
        base = f"http://127.0.0.1:{ports[0]}"
        peer = f"http://127.0.0.1:{peer_ports[0]}"
        try:
            async with aiohttp.ClientSession() as session:
                await _wait_up(session, base, want_leader=nodes == 1)
                await check(session, base, peer)
        finally:
            stop.set()
            await server

    asyncio.run(asyncio.wait_for(main(), timeout_s))


async def _wait_up(session: Session, base: str, *, want_leader: bool) -> None:
    for _ in range(200):
        try:
            async with session.get(base + "/status") as r:
                status = await r.json()
                if not want_leader or status["role"] == "leader":
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.025)
    raise AssertionError("replica did not come up (as leader) within 5 s")


async def _status(session: Session, base: str) -> dict[str, Any]:
    async with session.get(base + "/status") as r:
        body: dict[str, Any] = await r.json()
        return body


SECRET = "test-secret-0123456789"


def signed_post(session: Session, peer: str, path: str, body: bytes, *,
                secret: str = SECRET) -> aiohttp.client._RequestContextManager:
    """A POST on the peer listener with the tag a replica of this cluster would put on it."""
    tag = sign(secret.encode(), method="POST", path=path, body=body)
    return session.post(peer + path, data=body, headers={AUTH_HEADER: tag, "Content-Type": "application/json"})


IDS = {"X-Client-Id": "t", "X-Request-Id": "100"}
BAD_CLIENT: list[tuple[str, str, dict[str, str], bytes, str]] = [
    ("PUT", "/kv/k", IDS, b"{oops", "not valid JSON"),
    ("PUT", "/kv/k", IDS, b'"just a string"', "JSON object"),
    ("PUT", "/kv/k", IDS, b"{}", "missing field(s) ['value']"),
    ("PUT", "/kv/k", IDS, b'{"value": 12}', "value must be a string"),
    ("PUT", "/kv/k", IDS, b'{"value": "v", "extra": 1}', "unknown field(s) ['extra']"),
    ("POST", "/kv/k/append", IDS, b'{"value": {"a": 1}}', "value must be a string"),
    ("POST", "/kv/k/cas", IDS, b'{"value": "v"}', "missing field(s) ['expect']"),
    ("POST", "/kv/k/cas", IDS, b'{"expect": 1, "value": "v"}', "expect must be a string or null"),
    ("POST", "/kv/k/increment", IDS, b'{"value": "1"}', "unknown operation 'increment'"),
    ("POST", "/kv/k", IDS, b'{"value": "1"}', "is not an operation"),
    ("PATCH", "/kv/k", IDS, b'{"value": "1"}', "is not an operation"),
    ("GET", "/kv/k/append", IDS, b"", "is not an operation"),
    ("GET", "/kv/k", {"X-Client-Id": "t", "X-Request-Id": "abc"}, b"", "X-Request-Id must be an integer"),
    ("DELETE", "/kv/k", {"X-Client-Id": "t"}, b"", "without request_id"),
    ("PUT", "/kv/k", IDS, json.dumps({"value": "x" * 5000}).encode(), "exceeds the limit of 4096"),
    ("PUT", "/kv/" + "k" * 1100, IDS, b'{"value": "v"}', "key must have 1..1024"),
]


def test_bad_client_input_is_400_with_message_and_nothing_applied(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        async with session.put(base + "/kv/k", json={"value": "v0"}, headers={"X-Client-Id": "w", "X-Request-Id": "1"}) as r:
            assert r.status == 200
        before = await _status(session, base)
        for method, path, headers, body, fragment in BAD_CLIENT:
            async with session.request(method, base + path, data=body, headers=headers) as r:
                payload = await r.json()
                assert r.status == (413 if "exceeds the limit" in fragment else 400), (method, path, r.status, payload)
                assert fragment in payload["error"], (fragment, payload)
        after = await _status(session, base)
        assert after["applied_index"] == before["applied_index"]
        assert after["state_digest"] == before["state_digest"]
        async with session.get(base + "/kv/k") as r:
            assert await r.json() == {"value": "v0", "found": True}
        async with session.get(base + "/metrics") as r:
            text = await r.text()
            assert 'kv_requests_total{op="put",code="400"}' in text

    _run(tmp_path, check)


def test_client_answers_and_codes(tmp_path: Path) -> None:
    async def call(session: Session, method: str, url: str, body: object = None) -> tuple[int, Any]:
        async with session.request(method, url, json=body) as r:
            return r.status, await r.json()

    async def check(session: Session, base: str, peer: str) -> None:
        assert await call(session, "GET", base + "/kv/nope") == (200, {"value": None, "found": False})
        assert await call(session, "PUT", base + "/kv/a", {"value": "1"}) == (200, {"value": "1"})
        assert await call(session, "POST", base + "/kv/a/append", {"value": "2"}) == (200, {"value": "12"})
        assert await call(session, "POST", base + "/kv/a/cas", {"expect": "x", "value": "3"}) == (
            409, {"error": "cas precondition failed", "value": "12", "found": True})
        assert await call(session, "POST", base + "/kv/a/cas", {"expect": "12", "value": "3"}) == (200, {"value": "3"})
        assert await call(session, "POST", base + "/kv/new/cas", {"expect": None, "value": "n"}) == (200, {"value": "n"})
        assert await call(session, "DELETE", base + "/kv/a") == (200, {"deleted": True, "value": "3"})
        assert await call(session, "DELETE", base + "/kv/a") == (200, {"deleted": False, "value": None})
        status, health = await call(session, "GET", base + "/health")
        assert status == 200 and health["ok"] is True
        st = await _status(session, base)
        assert st["role"] == "leader" and st["leader"] == 1 and st["fsync"] == "always"
        assert st["applied_index"] >= 7 and st["storage"]["fsyncs"] >= 1

    _run(tmp_path, check)


BAD_PEER: list[tuple[str, bytes, str]] = [
    ("/paxos/prepare", b"not json", "not valid JSON"),
    ("/paxos/prepare", b"[1, 2]", "JSON object"),
    ("/paxos/prepare", b'{"src": 9, "dst": 1, "msg": {"ballot": [5, 9], "first_slot": 0}}', "src must be"),
    ("/paxos/prepare", b'{"src": 1, "dst": 1, "msg": {"ballot": [5, 1], "first_slot": 0}}', "src must be"),
    ("/paxos/prepare", b'{"src": 2, "dst": 3, "msg": {"ballot": [5, 2], "first_slot": 0}}', "dst must be"),
    ("/paxos/prepare", b'{"src": 2, "dst": 1, "msg": {"ballot": [5, 2]}}', "first_slot"),
    ("/paxos/prepare", b'{"src": 2, "dst": 1, "msg": {"ballot": "high", "first_slot": 0}}', "ballot"),
    ("/paxos/teleport", b'{"src": 2, "dst": 1, "msg": {}}', "unknown"),
    ("/paxos/batch", b'{"src": 2, "dst": 1, "msgs": []}', "msgs must be a list"),
    ("/paxos/batch", b'{"src": 2, "dst": 1, "msgs": [{"kind": "prepare", "msg": {"ballot": [6, 2], '
                     b'"first_slot": 0}}, {"kind": "prepare", "msg": {}}]}', "ballot"),
]


def test_bad_peer_messages_are_400_and_never_applied(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        for path, body, fragment in BAD_PEER:
            async with signed_post(session, peer, path, body) as r:
                payload = await r.json()
                assert r.status == 400, (path, body, payload)
                assert fragment in payload["error"], (fragment, payload)
        await asyncio.sleep(0.1)
        assert (await _status(session, base))["ballot"]["round"] < 5  # no bad prepare was promised
        good = json.dumps({"src": 2, "dst": 1, "msg": {"ballot": [7, 2], "first_slot": 0}}).encode()
        async with signed_post(session, peer, "/paxos/prepare", good) as r:
            assert r.status == 204
        for _ in range(100):
            if (await _status(session, base))["ballot"] == {"round": 7, "node": 2}:
                break
            await asyncio.sleep(0.02)
        assert (await _status(session, base))["ballot"] == {"round": 7, "node": 2}

    _run(tmp_path, check, nodes=3)


def test_follower_without_leader_answers_503_not_proposed(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        # replica 1 of 3 whose peers are down: it can never win an election
        async with session.put(base + "/kv/a", json={"value": "x"}) as r:
            payload = await r.json()
        assert r.status == 503, payload
        assert set(payload) == {"error", "leader", "proposed"} and payload["proposed"] is False

    _run(tmp_path, check, nodes=3)


def test_snapshot_truncates_log_and_restart_restores_state(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def write(session: Session, base: str, peer: str) -> None:
        for n in range(20):
            async with session.post(base + "/kv/s/append", json={"value": str(n % 10)},
                                    headers={"X-Client-Id": "s", "X-Request-Id": str(n + 1)}) as r:
                assert r.status == 200
        seen["first"] = await _status(session, base)

    async def reread(session: Session, base: str, peer: str) -> None:
        seen["second"] = await _status(session, base)
        async with session.get(base + "/kv/s") as r:
            assert await r.json() == {"value": "01234567890123456789", "found": True}

    _run(tmp_path, write, extra_env={"SNAPSHOT_EVERY": "3"})
    first = seen["first"]
    assert first["snapshot_last"] >= 15, first
    # 20+ slots were written, each with an accept and a chosen record; the snapshot dropped most
    assert first["storage"]["records"] < 12, first
    _run(tmp_path, reread, extra_env={"SNAPSHOT_EVERY": "3"})
    second = seen["second"]
    assert second["snapshot_last"] >= first["snapshot_last"]
    assert second["applied_index"] >= first["applied_index"]


def test_local_reads_bug_answers_gets_without_a_leader_and_only_gets(tmp_path: Path) -> None:
    answers: dict[str, tuple[int, dict[str, Any]]] = {}

    async def check(session: Session, base: str, peer: str) -> None:
        # replica 1 of 3 whose peers are down: no leader, so nothing goes through the log
        for method, path in (("GET", "/kv/a"), ("PUT", "/kv/a")):
            async with session.request(method, base + path, json={"value": "x"} if method == "PUT" else None) as r:
                answers[method] = (r.status, await r.json())

    _run(tmp_path / "normal", check, nodes=3)
    assert answers["GET"][0] == 503 and answers["PUT"][0] == 503
    _run(tmp_path / "buggy", check, nodes=3, extra_env={"BUGS": "local-reads"})
    assert answers["GET"] == (200, {"value": None, "found": False})  # local state, no quorum asked
    assert answers["PUT"][0] == 503
