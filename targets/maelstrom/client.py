"""The `lin-kv` client of the maelstrom target: one op -> one Maelstrom request, the reply -> an `Answer`.

Requests follow Maelstrom's lin-kv workload (jepsen-io/maelstrom doc/workloads.md): `read {key}`,
`write {key, value}`, `cas {key, from, to}`. Maelstrom's own clients send integer keys and values, and
many nodes are written for exactly that (a Go struct with `Key int`), so the harness's keys and values
travel as integers: key `k3` is 3; value `w2-17` (worker 2's 17th write; values are unique in a run) is
2 * 10^9 + 17, and a read of an integer is turned back into the value it names. A read of anything
else (a string, a float, a negative number) becomes `?<json>`, a value nobody wrote, so the checker
flags it. A read of JSON `null` means absent, as an error 20 does.

A cas that expects the key to be absent (`expect` None) is sent as Maelstrom's lin-kv service sends a
lazy creation: `from: null, create_if_not_exists: true` (doc/services.md). A node that creates the key
answers `cas_ok`, as our model does; one that does not know the flag answers error 20 (key does not
exist) or 22, a definite `fail`, which the checker treats as not applied: sound either way.

Errors, by Maelstrom's table of definite and indefinite errors (doc/protocol.md): 11
temporarily-unavailable is definite and retried (`not-applied`); 20 key-does-not-exist on a read is an
ok read of absent, on a cas a `fail`; 22 precondition-failed is a `fail` (`precondition`); the other
definite codes (1, 10, 12, 14, 21, 30) are `fail`; 0 timeout, 13 crash, codes 1000 and up, unknown
codes and a missing reply (the bridge's 504) may have taken effect: `unknown`. A read has no effect,
so no error of a read is of unknown outcome (Jepsen's idempotent read, as for etcd): a read that timed
out (0, 504), crashed (13) or found the node unavailable (11) is retried (`not-applied`), any other
error is a `fail`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp

from targets.contract import Answer, Op, json_object

__all__ = ["DEFINITE", "MaelstromAdapter", "classify", "decode_value", "encode_key", "encode_value", "request_for"]

VALUE_BASE = 10**9
# Maelstrom's error codes that say the operation certainly did not happen (doc/protocol.md).
DEFINITE = {1: "node-not-found", 10: "not-supported", 11: "temporarily-unavailable", 12: "malformed-request",
            14: "abort", 20: "key-does-not-exist", 21: "key-already-exists", 22: "precondition-failed",
            30: "txn-conflict"}
INDEFINITE = {0: "timeout", 13: "crash"}
_KEY = re.compile(r"^k(0|[1-9][0-9]{0,8})$")
_VALUE = re.compile(r"^w(0|[1-9][0-9]{0,5})-(0|[1-9][0-9]{0,8})$")


def encode_key(key: str) -> int | str:
    """`k3` -> 3; any other key travels as the string it is."""
    m = _KEY.match(key)
    return int(m[1]) if m else key


def encode_value(value: str) -> int | str:
    """`w2-17` -> 2 * 10^9 + 17; any other value travels as the string it is."""
    m = _VALUE.match(value)
    return int(m[1]) * VALUE_BASE + int(m[2]) if m else value


def decode_value(raw: object) -> str | None:
    """What a read returned, as the history value: None for null (absent)."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**6 * VALUE_BASE:
        return f"w{raw // VALUE_BASE}-{raw % VALUE_BASE}"
    if isinstance(raw, str) and _VALUE.match(raw):
        return raw  # the node kept the string form of a value we sent as a string
    return "?" + json.dumps(raw, separators=(",", ":"))[:100]


def request_for(op: Op) -> dict[str, Any]:
    """The Maelstrom request body of one op (lin-kv has no append and no delete)."""
    key = encode_key(op.key)
    match op.f:
        case "get":
            return {"type": "read", "key": key}
        case "put":
            return {"type": "write", "key": key, "value": encode_value(op.value or "")}
        case "cas":
            to = encode_value(op.value or "")
            if op.expect is None:
                return {"type": "cas", "key": key, "from": None, "to": to, "create_if_not_exists": True}
            return {"type": "cas", "key": key, "from": encode_value(op.expect), "to": to}
        case _:
            raise ValueError(f"lin-kv has no {op.f} (the scenario validator should have refused it)")


_REPLY = {"get": "read_ok", "put": "write_ok", "cas": "cas_ok"}


def classify(op: Op, status: int, raw: bytes) -> Answer:
    """One bridge answer -> an `Answer` (see the module docstring for the table)."""
    body = json_object(raw)
    if status == 503 and body is not None and body.get("delivered") is False:
        return Answer(kind="not-applied", error=_text(body, raw))
    if status != 200 or body is None:
        what = f"{status}: {_text(body, raw)}"[:200]
        if op.f == "get":
            return Answer(kind="not-applied" if status == 504 else "fail", error=what)
        return Answer(kind="fail" if 400 <= status < 500 else "unknown", error=what)
    kind = body.get("type")
    if kind == _REPLY[op.f]:
        if op.f == "get":
            return Answer(kind="ok", read=decode_value(body.get("value")))
        return Answer(kind="ok")
    if kind != "error":
        what = f"the node answered {kind!r} to a {request_for(op)['type']}"[:200]
        return Answer(kind="fail" if op.f == "get" else "unknown", error=what)
    code = body.get("code")
    name = DEFINITE.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
    if isinstance(code, int) and not isinstance(code, bool):
        error = f"{code} {name or INDEFINITE.get(code, 'custom' if code >= 1000 else 'unknown code')}"
    else:
        error = "an error without an integer code"
    if isinstance(body.get("text"), str):
        error = f"{error}: {body['text']}"[:200]
    if op.f == "get":
        if code == 20:
            return Answer(kind="ok", read=None)
        return Answer(kind="not-applied" if code in (0, 11, 13) else "fail", error=error)
    if code == 11:
        return Answer(kind="not-applied", error=error)
    if code == 22:
        return Answer(kind="fail", error="precondition")
    if name is not None:
        return Answer(kind="fail", error=error)
    return Answer(kind="unknown", error=error)


def _text(body: dict[str, Any] | None, raw: bytes) -> str:
    if body is not None and isinstance(body.get("error"), str):
        return str(body["error"])
    return raw[:120].decode("utf-8", "replace")


class MaelstromAdapter:
    """Sends each op as a Maelstrom request through the bridge's `POST /rpc` (proxy `client-ni`)."""

    async def attempt(self, session: aiohttp.ClientSession, base_url: str, op: Op, *, client_id: str,
                      request_id: int, timeout: aiohttp.ClientTimeout) -> Answer:
        headers = {"X-Client-Id": client_id}
        if timeout.total:
            # The bridge gives up a little earlier, so its 504 (no reply) arrives before our own timeout.
            headers["X-Timeout-Ms"] = str(int(timeout.total * 900))
        async with session.post(base_url + "/rpc", json=request_for(op), headers=headers, timeout=timeout) as resp:
            return classify(op, resp.status, await resp.read())
