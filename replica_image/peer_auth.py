"""Peer authentication: every request on the peer listener carries an HMAC-SHA256 tag of the cluster secret.

The tag covers what the receiver acts on: the method, the raw path (with its query), the client ids of a
forwarded client request and the body, so a tagged request cannot be re-aimed at another kind, key or
client. Replaying a whole tagged request is not prevented and need not be: Paxos is safe when the
network duplicates or delays messages, and a forwarded client request is deduplicated by its ids.

The secret (PEER_SECRET) is per cluster; the harness makes a fresh one for every cluster it creates.
Threat model: docs/replica.md.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["AUTH_HEADER", "sign", "verify"]

AUTH_HEADER = "X-Paxos-Auth"
_TAG_HEX_CHARS = 64
_PIECE = 2000


def _message(method: str, path: str, client_id: str, request_id: str, body: bytes) -> bytes:
    # Fields are joined with NUL, which none of them can contain (HTTP forbids it in the request line and
    # headers), so two different requests never sign the same bytes.
    head = "\0".join((method.upper(), path, client_id, request_id, ""))
    return head.encode("utf-8", "surrogateescape") + body


def sign(secret: bytes, *, method: str, path: str, body: bytes, client_id: str = "", request_id: str = "") -> str:
    """The tag to send in ``X-Paxos-Auth`` for this request (64 hex characters)."""
    mac = hmac.new(secret, _message(method, path, client_id, request_id, b""), hashlib.sha256)
    # In pieces below hashlib's 2,048-byte threshold for releasing the GIL: released, the event loop
    # must win it back from the storage thread (fsync) and waits; held, a piece costs a few microseconds.
    for start in range(0, len(body), _PIECE):
        mac.update(body[start:start + _PIECE])
    return mac.hexdigest()


def verify(secret: bytes, tag: str | None, *, method: str, path: str, body: bytes, client_id: str = "",
           request_id: str = "") -> str | None:
    """None if ``tag`` is the right one; else why not ("missing" or "bad"), in constant time."""
    if not tag:
        return "missing"
    if len(tag) != _TAG_HEX_CHARS or not tag.isascii():
        return "bad"
    expected = sign(secret, method=method, path=path, body=body, client_id=client_id, request_id=request_id)
    return None if hmac.compare_digest(expected, tag.lower()) else "bad"
