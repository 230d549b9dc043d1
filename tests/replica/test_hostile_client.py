"""Hostile and malformed client input against a real in-process replica (issue 11): every answer is a JSON
error with a 4xx, the replica stays up, and nothing is applied that the client did not ask for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from replica_image import http_guard
from tests.replica.test_server import IDS, Session, _run, _status


async def _alive_and_unchanged(session: Session, base: str, before: dict[str, object]) -> None:
    after = await _status(session, base)
    assert after["applied_index"] == before["applied_index"], (before, after)
    assert after["state_digest"] == before["state_digest"]
    async with session.put(base + "/kv/alive", json={"value": "yes"}) as r:
        assert r.status == 200, await r.text()


SURROGATES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("PUT", "/kv/k", IDS, b'{"value": "\\ud800"}'),
    ("POST", "/kv/k/append", IDS, b'{"value": "a\\udfffb"}'),
    ("POST", "/kv/k/cas", IDS, b'{"expect": "\\ud800", "value": "v"}'),
    ("PUT", "/kv/k", {}, b'{"value": "v", "client_id": "\\ud800", "request_id": 1}'),
]


def test_lone_surrogates_are_400_and_the_leader_survives(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        before = await _status(session, base)
        for method, path, headers, body in SURROGATES:
            async with session.request(method, base + path, data=body, headers=headers) as r:
                payload = await r.json()
                assert r.status == 400 and "not valid Unicode" in payload["error"], (path, body, payload)
        await _alive_and_unchanged(session, base, before)

    _run(tmp_path, check)


def test_non_utf8_client_id_header_is_400(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        before = await _status(session, base)
        # aiohttp's client would refuse to send these bytes: write the request by hand
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"value": "v"}'
        writer.write(b"PUT /kv/k HTTP/1.1\r\nHost: x\r\nX-Client-Id: \xff\xfe\xed\r\nX-Request-Id: 1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), raw
        assert "error" in json.loads(payload), raw
        await _alive_and_unchanged(session, base, before)

    _run(tmp_path, check)


def test_what_used_to_be_a_500_is_a_400(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        before = await _status(session, base)
        cases: list[tuple[str, dict[str, str], bytes, str]] = [
            ("GET", {"X-Client-Id": "t", "X-Request-Id": "1" * 5000}, b"", "X-Request-Id"),
            ("PUT", {"X-Client-Id": "t"}, b'{"value": "v", "request_id": ' + b"7" * 4400 + b"}", "not valid JSON"),
            ("PUT", {**IDS, "Content-Encoding": "gzip"}, b"this is not gzip at all", "Content-Encoding"),
        ]
        for method, headers, body, fragment in cases:
            async with session.request(method, base + "/kv/k", data=body, headers=headers) as r:
                payload = await r.json()
                assert r.status == 400 and fragment in payload["error"], (headers, body[:40], payload)
        await _alive_and_unchanged(session, base, before)

    _run(tmp_path, check, extra_env={"CLIENT_MAX_BYTES": "65536"})


def test_json_nested_100000_deep_is_400(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        before = await _status(session, base)
        body = b"[" * 100_000
        async with session.put(base + "/kv/k", data=body, headers=IDS) as r:
            payload = await r.json()
            assert r.status == 400 and "too deeply" in payload["error"], payload
        await _alive_and_unchanged(session, base, before)

    # the default CLIENT_MAX_BYTES of 1 MiB lets a 100,000-deep body through to the parser
    _run(tmp_path, check, extra_env={"CLIENT_MAX_BYTES": str(1 << 20)})


def test_a_reused_request_id_is_refused_never_answered_with_another_ops_result(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        ids = {"X-Client-Id": "reuse", "X-Request-Id": "7"}
        async with session.put(base + "/kv/k", json={"value": "v1"}, headers=ids) as r:
            assert (r.status, await r.json()) == (200, {"value": "v1"})
        # same id, another command: refused, not applied, not reshaped from the put's result
        async with session.delete(base + "/kv/k", headers=ids) as r:
            payload = await r.json()
            assert r.status == 422 and "already used for a different command" in payload["error"], payload
        async with session.put(base + "/kv/k", json={"value": "v2"}, headers=ids) as r:
            assert r.status == 422, await r.json()
        async with session.get(base + "/kv/k") as r:
            assert await r.json() == {"value": "v1", "found": True}
        # the true retry still gets the first answer, in its own shape
        async with session.put(base + "/kv/k", json={"value": "v1"}, headers=ids) as r:
            assert (r.status, await r.json()) == (200, {"value": "v1"})

    _run(tmp_path, check)


def test_every_error_is_json(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        # an unknown method is refused by aiohttp's parser (400) or its router (405), depending on version
        for method, path, status in [("GET", "/kv/", {404}), ("GET", "/nowhere", {404}), ("POST", "/status", {405}),
                                     ("DELETE", "/metrics", {405}), ("BREW", "/kv/x", {400, 405}),
                                     ("BREW", "/status", {400, 405}), ("POST", "/paxos/prepare", {404})]:
            async with session.request(method, base + path) as r:
                assert r.status in status, (method, path, r.status)
                assert r.content_type == "application/json", (method, path, await r.text())
                assert (await r.json())["error"], (method, path)
        port = int(base.rsplit(":", 1)[1])
        for raw in [b"GET /kv/" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /kv/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n",
                    b"\x16\x03\x01 not http at all\r\n\r\n"]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            head, _, payload = answer.partition(b"\r\n\r\n")
            assert head.split(b" ")[1].startswith(b"4"), answer[:200]
            assert b"application/json" in head and json.loads(payload)["error"], answer[:300]

    _run(tmp_path, check)


def test_half_sent_requests_do_not_hold_a_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_guard, "HEAD_TIMEOUT_S", 1.5)
    monkeypatch.setattr(http_guard, "BODY_TIMEOUT_S", 1.5)

    async def check(session: Session, base: str, peer: str) -> None:
        port = int(base.rsplit(":", 1)[1])
        # half of a request head, then silence: closed by the replica
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /kv/k HTTP/1.1\r\nHost: x\r\nX-Cli")
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), 15)
        assert closed == b"", closed
        writer.close()
        # a whole head and half the body: 408, JSON, then closed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"value\"")
        await writer.drain()
        # up to the end of the JSON body: the replica then lingers (aiohttp's lingering close) before EOF
        answer = await asyncio.wait_for(reader.readuntil(b"}"), 15)
        writer.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert "not received" in json.loads(payload)["error"]
        # an idle keep-alive connection that sent nothing is not cut by the head deadline
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(3.0)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer

    _run(tmp_path, check)


def test_aiohttp_client_sees_json_for_the_oversized_body(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        async with session.put(base + "/kv/k", data=b"x" * 10_000, headers=IDS) as r:
            assert r.status == 413 and "CLIENT_MAX_BYTES" in (await r.json())["error"]

    _run(tmp_path, check)


def test_concurrent_requests_with_one_id_each_get_their_own_answer(tmp_path: Path) -> None:
    async def check(session: Session, base: str, peer: str) -> None:
        ids = {"X-Client-Id": "twins", "X-Request-Id": "1"}

        async def put() -> tuple[int, object]:
            async with session.put(base + "/kv/t", json={"value": "p"}, headers=ids) as r:
                return r.status, await r.json()

        async def delete() -> tuple[int, object]:
            async with session.delete(base + "/kv/t", headers=ids) as r:
                return r.status, await r.json()

        for _ in range(5):  # both in flight at once, often in one slot
            (ps, pb), (ds, db) = await asyncio.gather(put(), delete())
            assert sorted((ps, ds)) == [200, 422], (ps, pb, ds, db)
            if ps == 200:
                assert pb == {"value": "p"}
            else:
                assert db == {"deleted": False, "value": None}
            ids = {**ids, "X-Request-Id": str(int(ids["X-Request-Id"]) + 1)}
            async with session.delete(base + "/kv/t", headers={"X-Client-Id": "cleaner",
                                                               "X-Request-Id": ids["X-Request-Id"]}) as r:
                assert r.status == 200

    _run(tmp_path, check)
