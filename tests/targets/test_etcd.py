"""targets/etcd without Docker: the gateway requests and the outcome table (jepsen-io/etcd's rule)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import compose
from targets.contract import Op
from targets.etcd import ETCD, classify, request_for


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_requests_carry_base64_keys_and_the_read_mode() -> None:
    assert request_for(Op(f="get", key="k1"), serializable=False) == (
        "/v3/kv/range", {"key": b64("k1"), "serializable": False})
    assert request_for(Op(f="get", key="k1"), serializable=True)[1]["serializable"] is True
    assert request_for(Op(f="put", key="k", value="v"), serializable=False) == (
        "/v3/kv/put", {"key": b64("k"), "value": b64("v")})
    assert request_for(Op(f="delete", key="k"), serializable=False)[0] == "/v3/kv/deleterange"


def test_cas_compares_the_value_or_absence() -> None:
    path, req = request_for(Op(f="cas", key="k", expect="a", value="b"), serializable=False)
    assert path == "/v3/kv/txn"
    assert req["compare"] == [{"key": b64("k"), "target": "VALUE", "result": "EQUAL", "value": b64("a")}]
    assert req["success"] == [{"request_put": {"key": b64("k"), "value": b64("b")}}]
    _, absent = request_for(Op(f="cas", key="k", expect=None, value="b"), serializable=False)
    assert absent["compare"] == [{"key": b64("k"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}]


def test_there_is_no_append() -> None:
    with pytest.raises(ValueError, match="no append"):
        request_for(Op(f="append", key="k", value="x;"), serializable=False)
    assert "append" not in ETCD.ops


GET, PUT, CAS = Op(f="get", key="k"), Op(f="put", key="k", value="v"), Op(f="cas", key="k", expect="a", value="b")
UNAVAILABLE = body({"error": "etcdserver: request timed out", "code": 14, "message": "etcdserver: request timed out"})
NO_LEADER = body({"error": "etcdserver: no leader", "code": 14, "message": "etcdserver: no leader"})
TOO_MANY = body({"error": "etcdserver: too many requests", "code": 2})


@pytest.mark.parametrize(("op", "status", "raw", "kind", "read"), [
    (GET, 200, body({"header": {"revision": "3"}, "kvs": [{"key": b64("k"), "value": b64("x")}], "count": "1"}),
     "ok", "x"),
    (GET, 200, body({"header": {"revision": "3"}}), "ok", None),  # no kvs: the key is absent
    (GET, 503, UNAVAILABLE, "fail", None),  # a read has no effect: any error is definite
    (GET, 200, b"not json", "fail", None),
    (PUT, 200, body({"header": {}}), "ok", None),
    (CAS, 200, body({"header": {}, "succeeded": True}), "ok", None),
    (CAS, 200, body({"header": {}}), "fail", None),  # succeeded omitted = false: precondition
    (PUT, 503, UNAVAILABLE, "unknown", None),  # may have committed
    (PUT, 503, NO_LEADER, "unknown", None),  # jepsen-io/etcd: every UNAVAILABLE is indefinite
    (PUT, 504, body({"error": "context deadline exceeded", "code": 4}), "unknown", None),
    (PUT, 500, TOO_MANY, "not-applied", None),  # definite, refused before proposing: retried
    (PUT, 400, body({"error": "etcdserver: duplicate key given in txn request", "code": 3}), "fail", None),
    (PUT, 500, b"", "unknown", None),  # grpc-gateway 1.9 can answer an empty body
])
def test_outcomes_follow_jepsen(op: Op, status: int, raw: bytes, kind: str, read: str | None) -> None:
    answer = classify(op, status, raw)
    assert answer.kind == kind, answer
    assert answer.read == read
    if kind == "fail" and op.f == "cas" and status == 200:
        assert answer.error == "precondition"


def test_options_are_checked_and_defaulted() -> None:
    assert ETCD.check_options({}) == {"reads": "linearizable"}
    assert ETCD.adapter({"reads": "serializable"}).serializable is True
    assert ETCD.adapter({}).serializable is False
    with pytest.raises(ValueError, match="reads"):
        ETCD.check_options({"reads": "sometimes"})
    with pytest.raises(ValueError, match="no option"):
        ETCD.check_options({"fsync": "never"})


@pytest.mark.parametrize("n", compose.SIZES)
def test_every_directed_peer_link_is_its_own_proxy_and_node_is_told_its_routes(n: int) -> None:
    proxies = {p["name"]: p for p in compose.proxy_config(n, ETCD)}
    doc = yaml.safe_load(compose.render_compose(n, target=ETCD))
    for i in range(1, n + 1):
        assert proxies[f"client-n{i}"]["upstream"] == f"n{i}:2379"
        svc = doc["services"][f"n{i}"]
        assert "ports" not in svc and svc["cap_add"] == ["NET_ADMIN"]
        routes = dict(r.split("=") for r in svc["environment"]["PEER_ROUTES"].split(","))
        assert sorted(map(int, routes)) == [j for j in range(1, n + 1) if j != i]
        for j in range(1, n + 1):
            if j != i:
                assert proxies[f"n{i}-n{j}"]["upstream"] == f"n{j}:{2380 + j}"
                assert routes[str(j)] == f"toxiproxy:{compose.peer_port(i, j)}"


@given(op=st.sampled_from([GET, PUT, CAS, Op(f="delete", key="k")]), status=st.integers(0, 999),
       raw=st.one_of(st.binary(max_size=200),
                     st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                  lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                                  max_leaves=10).map(lambda v: json.dumps(v).encode())))
@settings(max_examples=300, deadline=None)
def test_any_answer_is_classified_without_raising_and_only_200_is_ok(op: Op, status: int, raw: bytes) -> None:
    """A hostile or broken server: whatever it answers, the adapter names an outcome (never a crash),
    and never calls an op `ok` that etcd did not answer with 200."""
    answer = classify(op, status, raw)
    assert answer.kind in ("ok", "fail", "not-applied", "unknown")
    if answer.kind == "ok":
        assert status == 200
    if op.f == "get":
        assert answer.kind in ("ok", "fail")  # a read never leaves the process open
