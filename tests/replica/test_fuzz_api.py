"""Property-based fuzz of the replica's two HTTP boundaries (issue 11), against one real in-process replica
(real core, kv, storage and fsync) serving in a background thread.

- client API: random methods, paths, headers and bodies, and random bytes on a raw socket;
- peer API: random messages of every kind, well-formed and not, with a valid tag and without.

Properties: every answer is one the API documents (never a 500), every error is JSON with an ``error``
field, and the replica is still up and answering afterwards (a request that killed the driver would stop
the server). Bounded: ``FUZZ_EXAMPLES`` examples per test (default 150, a few seconds each); a longer
run: ``FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/replica/test_fuzz_api.py``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replica_image.app import recover, serve
from replica_image.codec import KINDS
from replica_image.config import load_config
from replica_image.peer_auth import AUTH_HEADER, sign
from tests.replica.procs import free_port

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SECRET = "fuzz-secret-0123456789"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                              HealthCheck.too_slow])


@dataclass(frozen=True)
class Ports:
    client: int
    peer: int


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    """Replica 1 of a 3-node cluster whose peers never start (so peer messages are its only input)."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    ports = Ports(client=free_port(), peer=free_port())
    env = {"NODE_ID": "1", "PEERS": f"1=http://127.0.0.1:{ports.peer},2=http://127.0.0.1:1,3=http://127.0.0.1:2",
           "LISTEN": f"127.0.0.1:{ports.client}", "PEER_LISTEN": f"127.0.0.1:{ports.peer}",
           "PEER_SECRET": SECRET, "DATA_DIR": str(root / "data"), "REQUEST_TIMEOUT_MS": "200",
           "CLIENT_MAX_BYTES": "65536", "PEER_MAX_BYTES": "262144"}
    cfg = load_config(env)
    loop = asyncio.new_event_loop()
    stop: list[asyncio.Event] = []
    failure: list[BaseException] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        await serve(cfg, recover(cfg), stop[0])

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - reported by the fixture's teardown
            failure.append(exc)

    thread = threading.Thread(target=run, name="fuzzed-replica", daemon=True)
    thread.start()
    for _ in range(200):
        if _alive(ports.client):
            break
        threading.Event().wait(0.025)
    try:
        yield ports
    finally:
        if stop:
            loop.call_soon_threadsafe(stop[0].set)
        thread.join(timeout=20)
        loop.close()
    assert not failure, f"the replica died: {failure[0]!r}"


def _alive(port: int) -> bool:
    try:
        return _request(port, "GET", "/health").status == 200
    except OSError:
        return False


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def _request(port: int, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body or b"")
        resp = conn.getresponse()
        return Answer(resp.status, resp.getheader("Content-Type") or "", resp.read())
    finally:
        conn.close()


def _check_answer(answer: Answer, allowed: set[int]) -> None:
    assert answer.status in allowed, answer
    if answer.status >= 400:
        assert answer.content_type.startswith("application/json"), answer
        payload = json.loads(answer.body)
        assert isinstance(payload, dict) and isinstance(payload.get("error"), str) and payload["error"], answer


# ---------------------------------------------------------------- the client API
_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=12)
_FIELDS = st.fixed_dictionaries({}, optional={
    "value": _JSON, "expect": _JSON, "client_id": _JSON, "request_id": _JSON, "junk": _JSON})
_SEGMENT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"), max_size=12)
CLIENT_CODES = {200, 400, 404, 405, 408, 409, 413, 422, 503}


@FUZZ
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "POST", "PATCH", "HEAD", "OPTIONS"]),
       path=st.one_of(st.builds(lambda k: f"/kv/{k}", _SEGMENT),
                      st.builds(lambda k, op: f"/kv/{k}/{op}", _SEGMENT, st.sampled_from(["append", "cas", "x"])),
                      st.sampled_from(["/", "/kv/", "/status", "/metrics", "/paxos/prepare", "/kv//append"])),
       fields=_FIELDS,
       raw=st.one_of(st.none(), st.binary(max_size=64)),
       client_id=st.one_of(st.none(), _HEADER_TEXT),
       request_id=st.one_of(st.none(), _HEADER_TEXT, st.integers(min_value=0, max_value=2**70).map(str)))
def test_client_api_answers_every_request_as_documented(replica: Ports, method: str, path: str,
                                                        fields: dict[str, Any], raw: bytes | None,
                                                        client_id: str | None, request_id: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if client_id is not None:
        headers["X-Client-Id"] = client_id
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    body = raw if raw is not None else json.dumps(fields, allow_nan=True).encode()
    answer = _request(replica.client, method, path, body, headers)
    if method == "HEAD":  # a HEAD answer has no body to check
        assert answer.status in CLIENT_CODES and answer.body == b"", answer
        return
    _check_answer(answer, CLIENT_CODES)
    if answer.status == 503:
        assert isinstance(json.loads(answer.body).get("proposed"), bool), answer


@FUZZ
@given(data=st.binary(min_size=1, max_size=300))
def test_random_bytes_on_the_client_socket_get_json_or_a_close(replica: Ports, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", replica.client), timeout=15) as sock:
        sock.sendall(data + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    if answer:
        head, _, payload = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        assert 400 <= status < 500 or status in CLIENT_CODES, answer[:200]
        if status >= 400 and payload:
            assert b"application/json" in head and json.loads(payload)["error"], answer[:300]
    assert _alive(replica.client)


# ---------------------------------------------------------------- the peer API
_NAT = st.one_of(st.integers(min_value=0, max_value=50), st.integers(min_value=-5, max_value=2**70))
_BALLOT = st.one_of(st.lists(_NAT, min_size=2, max_size=2), _JSON)
_COMMAND = st.fixed_dictionaries({"client_id": _TEXT, "request_id": _NAT,
                                  "op": st.sampled_from(["get", "put", "append", "delete", "cas", "x"]),
                                  "key": _TEXT}, optional={"value": _JSON, "expect": _JSON})
_ENTRY = st.fixed_dictionaries({"slot": _NAT, "batch": st.lists(_COMMAND, max_size=3)},
                               optional={"ballot": _BALLOT, "chosen": st.booleans()})
_MSG = st.fixed_dictionaries({}, optional={
    "ballot": _BALLOT, "rejected": _BALLOT, "first_slot": _NAT, "chosen_through": _NAT, "commit": _NAT,
    "from_slot": _NAT, "last_slot": _NAT, "first_unchosen": _NAT, "slots": st.lists(_NAT, max_size=4),
    "entries": st.lists(_ENTRY, max_size=3),
    "data": st.one_of(_TEXT, st.just('{"version": 2, "data": {}, "dedup": []}'))})
PEER_CODES = {204, 400, 401, 404, 405, 413, 422, 503}


@FUZZ
@given(kind=st.one_of(st.sampled_from(sorted(KINDS) + ["batch"]), _SEGMENT),
       src=st.one_of(st.sampled_from([2, 3]), _JSON), dst=st.one_of(st.just(1), _JSON),
       msg=st.one_of(_MSG, _JSON), msgs=st.lists(st.fixed_dictionaries({"kind": st.sampled_from(sorted(KINDS)),
                                                                         "msg": _MSG}), max_size=3),
       tag=st.sampled_from(["valid", "none", "wrong"]))
def test_peer_api_refuses_what_it_cannot_trust(replica: Ports, kind: str, src: object, dst: object, msg: object,
                                               msgs: list[dict[str, Any]], tag: str) -> None:
    path = f"/paxos/{kind}"
    envelope: dict[str, Any] = {"src": src, "dst": dst}
    envelope["msgs" if kind == "batch" else "msg"] = msgs if kind == "batch" else msg
    body = json.dumps(envelope, allow_nan=True).encode()
    headers = {"Content-Type": "application/json"}
    if tag != "none":
        secret = SECRET if tag == "valid" else "not-the-cluster-secret"
        headers[AUTH_HEADER] = sign(secret.encode(), method="POST", path=path, body=body)
    answer = _request(replica.peer, "POST", path, body, headers)
    _check_answer(answer, PEER_CODES)
    if tag != "valid":
        assert answer.status in (401, 404, 405), answer
    assert _alive(replica.client)
