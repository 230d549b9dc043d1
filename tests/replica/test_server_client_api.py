"""Client request validation: a table of bad requests, each rejected with a message naming the problem."""

from __future__ import annotations

import json

import pytest

from replica_image.client_api import BadRequest, ClientRequest, parse_request

IDS = {"X-Client-Id": "c1", "X-Request-Id": "7"}


def _parse(op: str, body: object = None, headers: dict[str, str] | None = None, key: str = "k") -> ClientRequest:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_request(op=op, key=key, headers=IDS if headers is None else headers, body=raw, node_id=1)


def test_valid_requests() -> None:
    assert _parse("get") == ClientRequest(client_id="c1", request_id=7, op="get", key="k")
    assert _parse("put", {"value": "v"}).value == "v"
    assert _parse("append", {"value": ""}).value == ""
    cas = _parse("cas", {"expect": None, "value": "x"})
    assert (cas.expect, cas.value) == (None, "x")
    body_ids = _parse("delete", {"client_id": "c2", "request_id": 3}, headers={})
    assert (body_ids.client_id, body_ids.request_id) == ("c2", 3)


def test_missing_ids_get_a_fresh_client_id() -> None:
    a = _parse("put", {"value": "v"}, headers={})
    b = _parse("put", {"value": "v"}, headers={})
    assert a.client_id.startswith("anon-1-") and a.client_id != b.client_id


@pytest.mark.parametrize(
    ("op", "body", "headers", "key", "fragment"),
    [
        ("put", b"{not json", IDS, "k", "not valid JSON"),
        ("put", b"\xff\xfe", IDS, "k", "not valid JSON"),
        ("put", [1, 2], IDS, "k", "JSON object"),
        ("put", {}, IDS, "k", "missing field(s) ['value']"),
        ("put", {"value": 5}, IDS, "k", "value must be a string"),
        ("put", {"value": None}, IDS, "k", "value must be a string"),
        ("put", {"value": "v", "ttl": 3}, IDS, "k", "unknown field(s) ['ttl']"),
        ("append", {"value": ["a"]}, IDS, "k", "value must be a string"),
        ("cas", {"value": "v"}, IDS, "k", "missing field(s) ['expect']"),
        ("cas", {"expect": 1, "value": "v"}, IDS, "k", "expect must be a string or null"),
        ("get", {"value": "v"}, IDS, "k", "get takes no body fields"),
        ("frobnicate", None, IDS, "k", "unknown operation 'frobnicate'"),
        ("get", None, IDS, "", "key must have 1..1024"),
        ("get", None, IDS, "k" * 1025, "key must have 1..1024"),
        ("get", None, {"X-Client-Id": "c", "X-Request-Id": "x1"}, "k", "X-Request-Id must be an integer"),
        ("get", None, {"X-Client-Id": "c", "X-Request-Id": "-1"}, "k", "X-Request-Id must be an integer"),
        ("get", None, {"X-Client-Id": "c", "X-Request-Id": "\u00b2"}, "k", "X-Request-Id must be an integer"),
        ("get", None, {"X-Client-Id": "c"}, "k", "without request_id"),
        ("get", {"request_id": True, "client_id": "c"}, {}, "k", "request_id must be an integer"),
        ("get", {"request_id": 1.5, "client_id": "c"}, {}, "k", "request_id must be an integer"),
        ("get", {"client_id": 3, "request_id": 1}, {}, "k", "client_id must be a string"),
        ("get", {"client_id": "", "request_id": 1}, {}, "k", "client_id must have 1..128"),
        ("get", {"client_id": "other", "request_id": 7}, IDS, "k", "differ"),
        ("get", {"client_id": "c1", "request_id": 8}, IDS, "k", "differ"),
    ],
)
def test_bad_requests_name_the_problem(
    op: str, body: object, headers: dict[str, str], key: str, fragment: str
) -> None:
    with pytest.raises(BadRequest) as info:
        _parse(op, body, headers, key)
    assert fragment in str(info.value)
