"""The peer API under attack (issue 11): it is not on the client port, it answers only requests tagged with
the cluster secret, and a tagged message with impossible values is refused before the core sees it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from replica_image.peer_auth import AUTH_HEADER, sign, verify
from tests.replica.test_server import Session, _run, _status, signed_post

PREPARE = json.dumps({"src": 2, "dst": 1, "msg": {"ballot": [9, 2], "first_slot": 0}}).encode()


async def _metric(session: Session, base: str, line_start: str) -> float:
    async with session.get(base + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_client_port_serves_no_peer_api(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        for kind in ("prepare", "chosen", "snapshot", "batch"):
            async with session.post(base + f"/paxos/{kind}", data=PREPARE) as r:
                assert r.status == 404 and "error" in await r.json()
        assert (await _status(session, base))["ballot"]["round"] < 9

    _run(tmp_path, check, nodes=3)


def test_untagged_or_badly_tagged_peer_requests_are_dropped_and_counted(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        async with session.post(peer + "/paxos/prepare", data=PREPARE) as r:
            assert r.status == 401 and "missing" in (await r.json())["error"]
        wrong = sign(b"another-cluster-secret", method="POST", path="/paxos/prepare", body=PREPARE)
        async with session.post(peer + "/paxos/prepare", data=PREPARE, headers={AUTH_HEADER: wrong}) as r:
            assert r.status == 401 and "bad" in (await r.json())["error"]
        # a tag for one message does not authenticate another kind or another body
        right = sign(b"test-secret-0123456789", method="POST", path="/paxos/prepare", body=PREPARE)
        async with session.post(peer + "/paxos/nack", data=PREPARE, headers={AUTH_HEADER: right}) as r:
            assert r.status == 401
        async with session.post(peer + "/paxos/prepare", data=PREPARE.replace(b"9", b"8"),
                                headers={AUTH_HEADER: right}) as r:
            assert r.status == 401
        for garbage in ("\u00e9" * 64, "z" * 64, "0" * 63):
            async with session.post(peer + "/paxos/prepare", data=PREPARE,
                                    headers={AUTH_HEADER: garbage.encode("utf-8").decode("latin-1")}) as r:
                assert r.status == 401
        # a forwarded client request on the peer port needs the tag too
        async with session.put(peer + "/kv/k", json={"value": "forged"}) as r:
            assert r.status == 401
        await asyncio.sleep(0.1)
        assert (await _status(session, base))["ballot"]["round"] < 8
        assert await _metric(session, base, 'peer_requests_unauthenticated_total{reason="missing"}') == 2
        assert await _metric(session, base, 'peer_requests_unauthenticated_total{reason="bad"}') == 6

    _run(tmp_path, check, nodes=3)


FORGED_VALUES: list[tuple[str, bytes, str]] = [
    ("/paxos/prepare", b'{"src": 2, "dst": 1, "msg": {"ballot": [' + b"9" * 4300 + b', 2], "first_slot": 0}}',
     "ballot"),
    ("/paxos/prepare", b'{"src": 2, "dst": 1, "msg": {"ballot": [' + b"9" * 4400 + b', 2], "first_slot": 0}}',
     "not valid JSON"),
    ("/paxos/prepare", json.dumps({"src": 2, "dst": 1, "msg": {"ballot": [10**30, 2], "first_slot": 0}}).encode(),
     "ballot"),
    ("/paxos/prepare", json.dumps({"src": 2, "dst": 1, "msg": {"ballot": [5, 9], "first_slot": 0}}).encode(),
     "not in this cluster"),
    ("/paxos/accept", json.dumps({"src": 2, "dst": 1, "msg": {"ballot": [5, 2], "commit": 2**64,
                                                              "entries": []}}).encode(), "commit"),
    ("/paxos/snapshot", json.dumps({"src": 2, "dst": 1, "msg": {"last_slot": 5, "data": "junk"}}).encode(),
     "snapshot"),
    ("/paxos/snapshot", json.dumps({"src": 2, "dst": 1, "msg": {"last_slot": 5,
                                                                "data": "[" * 50_000}}).encode(), "snapshot"),
    ("/paxos/prepare", b"[" * 100_000, "too deeply"),
]


def test_tagged_messages_with_impossible_values_are_refused(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        before = await _status(session, base)
        for path, body, fragment in FORGED_VALUES:
            async with signed_post(session, peer, path, body) as r:
                payload = await r.json()
                assert r.status == 400 and fragment in payload["error"], (path, body[:60], payload)
        await asyncio.sleep(0.1)
        after = await _status(session, base)
        # it campaigns on its own (its peers are down), but promised nothing of the forged messages
        assert after["ballot"]["node"] in (0, 1) and after["ballot"]["round"] < 5, after
        assert after["state_digest"] == before["state_digest"]

    _run(tmp_path, check, nodes=3)


def test_a_peer_body_over_peer_max_bytes_is_refused(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        body = b'{"src": 2, "dst": 1, "msg": {"last_slot": 1, "data": "' + b"x" * 70_000 + b'"}}'
        async with signed_post(session, peer, "/paxos/snapshot", body) as r:
            assert r.status == 413 and "PEER_MAX_BYTES" in (await r.json())["error"]

    _run(tmp_path, check, nodes=3, extra_env={"PEER_MAX_BYTES": "65536"})


def test_verify_is_exact() -> None:
    secret = b"s" * 16
    tag = sign(secret, method="POST", path="/paxos/x", body=b"{}", client_id="c", request_id="1")
    assert verify(secret, tag, method="POST", path="/paxos/x", body=b"{}", client_id="c", request_id="1") is None
    assert verify(secret, tag.upper(), method="POST", path="/paxos/x", body=b"{}", client_id="c",
                  request_id="1") is None
    for change in ({"client_id": "d"}, {"request_id": "2"}, {"path": "/paxos/y"}, {"body": b"{} "},
                   {"method": "PUT"}):
        args = {"method": "POST", "path": "/paxos/x", "body": b"{}", "client_id": "c", "request_id": "1", **change}
        assert verify(secret, tag, **args) == "bad", change  # type: ignore[arg-type]
    assert verify(secret, None, method="POST", path="/", body=b"") == "missing"
