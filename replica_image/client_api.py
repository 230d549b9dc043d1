"""Client requests: validate HTTP input into a ``ClientRequest``, before anything is proposed.

Every check here runs before the command reaches the core, so a request rejected with ``BadRequest``
(HTTP 400) is definitely not applied. Rules (docs/replica.md repeats them for users):

- ``GET /kv/{key}`` and ``DELETE /kv/{key}``: no body, or a JSON object with only the id fields.
- ``PUT /kv/{key}`` and ``POST /kv/{key}/append``: ``{"value": string}``.
- ``POST /kv/{key}/cas``: ``{"expect": string|null, "value": string}`` (``expect: null`` = key absent).
- ids: ``client_id`` (string, 1..128 chars) and ``request_id`` (integer 0..2^63-1), from the headers
  ``X-Client-Id``/``X-Request-Id`` or the body (if both are given they must agree). A request without
  ids gets a fresh server-made ``client_id`` (so it is applied once, but a retry is a new request).
- Unknown fields, wrong JSON types and keys outside 1..1024 characters are rejected, and so is text
  that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, or header bytes that are not UTF-8):
  it could not be stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from replica_image.errors import brief as _brief

__all__ = ["BadRequest", "ClientRequest", "OPS", "parse_request"]

KEY_CHARS_MAX = 1024
CLIENT_ID_CHARS_MAX = 128
REQUEST_ID_MAX = 2**63 - 1
ID_FIELDS = frozenset({"client_id", "request_id"})
# op -> the body fields it takes besides the ids, and which of them are required
OPS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "get": (frozenset(), frozenset()),
    "delete": (frozenset(), frozenset()),
    "put": (frozenset({"value"}), frozenset({"value"})),
    "append": (frozenset({"value"}), frozenset({"value"})),
    "cas": (frozenset({"expect", "value"}), frozenset({"expect", "value"})),
}


class BadRequest(Exception):
    """The request is malformed; the message says what is wrong. Answer 400; nothing is applied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRequest:
    """A validated client request, ready to become a core ``Command``."""

    client_id: str
    request_id: int
    op: str
    key: str
    value: str | None = None
    expect: str | None = None


def _body_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8: send a UTF-8 JSON object") from None
    except RecursionError:
        raise BadRequest("body nests too deeply: send a flat JSON object") from None
    except ValueError as exc:  # JSONDecodeError, and integers past Python's 4,300-digit conversion limit
        raise BadRequest(f"body is not valid JSON ({str(exc)[:200]}); send a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object, got {type(body).__name__}")
    return body


def _client_id(headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    header = headers.get("X-Client-Id")
    field = body.get("client_id")
    if field is not None and not isinstance(field, str):
        raise BadRequest(f"client_id must be a string, got {type(field).__name__}")
    if header is not None and field is not None and header != field:
        raise BadRequest(f"X-Client-Id header {_brief(header)} and body client_id {_brief(field)} differ")
    value = header if header is not None else field
    if value is not None and not 1 <= len(value) <= CLIENT_ID_CHARS_MAX:
        raise BadRequest(f"client_id must have 1..{CLIENT_ID_CHARS_MAX} characters, got {len(value)}")
    if value is not None:
        _unicode("client_id", value)
    return value


def _unicode(name: str, text: str) -> None:
    """Refuse text that UTF-8 cannot encode (lone surrogates: from a JSON ``\\ud800`` escape, or from
    header bytes that were not UTF-8); the replica could not store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest(f"{name} is not valid Unicode text (character {exc.start} is a lone surrogate "
                         f"or a byte that is not UTF-8): send UTF-8 text") from None


def _request_id(headers: Mapping[str, str], body: Mapping[str, Any]) -> int | None:
    header = headers.get("X-Request-Id")
    field = body.get("request_id")
    if field is not None and (type(field) is not int or not 0 <= field <= REQUEST_ID_MAX):
        raise BadRequest(f"request_id must be an integer 0..2^63-1, got {_brief(field)}")
    parsed: int | None = None
    if header is not None:
        # length first: int() of a 4,300-digit string raises, and 2^63-1 has 19 digits
        if not (0 < len(header) <= 19 and header.isascii() and header.isdigit()) or int(header) > REQUEST_ID_MAX:
            raise BadRequest(f"X-Request-Id must be an integer 0..2^63-1, got {_brief(header)}")
        parsed = int(header)
    if parsed is not None and field is not None and parsed != field:
        raise BadRequest(f"X-Request-Id header {parsed} and body request_id {field} differ")
    return parsed if parsed is not None else field


def _check_fields(op: str, body: Mapping[str, Any]) -> None:
    allowed, required = OPS[op]
    unknown = sorted(set(body) - allowed - ID_FIELDS)
    if unknown:
        hint = f"{op} takes {sorted(allowed)}" if allowed else f"{op} takes no body fields"
        raise BadRequest(f"unknown field(s) {unknown}: {hint} (plus client_id, request_id)")
    missing = sorted(required - set(body))
    if missing:
        raise BadRequest(f"missing field(s) {missing}: {op} needs {sorted(required)}")
    if "value" in body and not isinstance(body["value"], str):
        raise BadRequest(f"value must be a string, got {type(body['value']).__name__}")
    if "expect" in body and body["expect"] is not None and not isinstance(body["expect"], str):
        raise BadRequest(f"expect must be a string or null, got {type(body['expect']).__name__}")
    for name in ("value", "expect"):
        if isinstance(body.get(name), str):
            _unicode(name, body[name])


def parse_request(*, op: str, key: str, headers: Mapping[str, str], body: bytes, node_id: int) -> ClientRequest:
    """Validate one client request.

    Args:
        op: one of OPS (derived from method and path by the server).
        key: the ``{key}`` path segment, already URL-decoded.
        headers: request headers (case-insensitive mapping).
        body: the raw request body (size already bounded by the server).
        node_id: this replica's id, used to make ids for requests that carry none.

    Raises:
        BadRequest: the message says what is wrong and how to fix it.
    """
    if op not in OPS:
        raise BadRequest(f"unknown operation {_brief(op)}: use one of {sorted(OPS)}")
    if not 1 <= len(key) <= KEY_CHARS_MAX:
        raise BadRequest(f"key must have 1..{KEY_CHARS_MAX} characters, got {len(key)}")
    _unicode("key", key)
    fields = _body_object(body)
    _check_fields(op, fields)
    client_id = _client_id(headers, fields)
    request_id = _request_id(headers, fields)
    if client_id is None:
        client_id = f"anon-{node_id}-{uuid.uuid4().hex}"
        request_id = 0 if request_id is None else request_id
    elif request_id is None:
        raise BadRequest("client_id given without request_id: send X-Request-Id (an integer) too")
    return ClientRequest(
        client_id=client_id,
        request_id=request_id,
        op=op,
        key=key,
        value=fields.get("value"),
        expect=fields.get("expect"),
    )
