"""targets/maelstrom without Docker: the lin-kv requests, Maelstrom's error table, the node checks, the
compose fragment, and what the scenario validator says of a maelstrom scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import compose
from harness.scenario import parse_scenario
from targets.contract import Op
from targets.errors import ScenarioError
from targets.maelstrom import MAELSTROM
from targets.maelstrom.client import classify, decode_value, encode_key, encode_value, request_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "targets" / "maelstrom" / "examples"
GET, PUT = Op(f="get", key="k2"), Op(f="put", key="k2", value="w1-5")
CAS = Op(f="cas", key="k2", expect="w1-5", value="w3-9")


def reply(**body: object) -> bytes:
    return json.dumps(body).encode()


def test_requests_are_maelstrom_lin_kv_with_integer_keys_and_values() -> None:
    assert request_for(GET) == {"type": "read", "key": 2}
    assert request_for(PUT) == {"type": "write", "key": 2, "value": 1_000_000_005}
    assert request_for(CAS) == {"type": "cas", "key": 2, "from": 1_000_000_005, "to": 3_000_000_009}
    create = request_for(Op(f="cas", key="k0", expect=None, value="w0-1"))
    assert create == {"type": "cas", "key": 0, "from": None, "to": 1, "create_if_not_exists": True}
    for f in ("append", "delete"):
        with pytest.raises(ValueError, match=f"lin-kv has no {f}"):
            request_for(Op(f=f, key="k", value="x;" if f == "append" else None))


@given(worker=st.integers(0, 999_999), n=st.integers(0, 10**9 - 1))
def test_values_travel_as_integers_and_come_back_as_themselves(worker: int, n: int) -> None:
    value = f"w{worker}-{n}"
    encoded = encode_value(value)
    assert isinstance(encoded, int) and decode_value(encoded) == value


def test_what_is_not_ours_is_read_as_a_value_nobody_wrote() -> None:
    assert decode_value(None) is None  # null: absent
    for odd in ("hello", -1, 1.5, True, [1], {"a": 1}, 10**30):
        got = decode_value(odd)
        assert got is not None and got.startswith("?"), odd
    assert encode_key("other") == "other" and encode_value("not-ours") == "not-ours"
    assert encode_key("k007") == "k007"  # not the generator's form: sent as it is, never merged with k7


@pytest.mark.parametrize(("op", "status", "raw", "kind", "error"), [
    (GET, 200, reply(type="read_ok", value=1_000_000_005, in_reply_to=2), "ok", None),
    (GET, 200, reply(type="error", code=20), "ok", None),  # key does not exist: an ok read of absent
    (GET, 200, reply(type="error", code=11), "not-applied", "11 temporarily-unavailable"),
    (GET, 200, reply(type="error", code=0), "not-applied", "0 timeout"),  # a read has no effect: retried
    (GET, 504, reply(error="no reply", delivered=True), "not-applied", "504: no reply"),
    (GET, 200, reply(type="error", code=10), "fail", "10 not-supported"),
    (GET, 400, reply(error="bad"), "fail", "400: bad"),
    (PUT, 200, reply(type="write_ok"), "ok", None),
    (PUT, 200, reply(type="error", code=11, text="no leader"), "not-applied", "11 temporarily-unavailable: no leader"),
    (CAS, 200, reply(type="error", code=22), "fail", "precondition"),
    (CAS, 200, reply(type="error", code=20), "fail", "20 key-does-not-exist"),
    (PUT, 200, reply(type="error", code=14), "fail", "14 abort"),
    (PUT, 200, reply(type="error", code=0), "unknown", "0 timeout"),
    (PUT, 200, reply(type="error", code=13), "unknown", "13 crash"),
    (PUT, 200, reply(type="error", code=1001), "unknown", "1001 custom"),
    (PUT, 200, reply(type="error", code=99), "unknown", "99 unknown code"),
    (PUT, 200, reply(type="error", code="11"), "unknown", "an error without an integer code"),
    (PUT, 200, reply(type="read_ok"), "unknown", "the node answered 'read_ok' to a write"),
    (PUT, 504, reply(error="no reply within 1.8 s", delivered=True), "unknown", "504: no reply within 1.8 s"),
    (PUT, 503, reply(error="not running", delivered=False), "not-applied", "not running"),
    (PUT, 400, reply(error="bad"), "fail", "400: bad"),
    (PUT, 200, b"not json", "unknown", "200: not json"),
])
def test_maelstrom_error_table(op: Op, status: int, raw: bytes, kind: str, error: str | None) -> None:
    answer = classify(op, status, raw)
    assert (answer.kind, answer.error) == (kind, error)
    assert answer.read is None or kind == "ok"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(100, 599), raw=st.binary(max_size=200),
       body=st.dictionaries(st.sampled_from(["type", "code", "value", "text", "delivered"]),
                            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)), max_size=5),
       op=st.sampled_from([GET, PUT, CAS]))
def test_any_answer_is_classified_and_only_a_reply_of_the_right_type_is_ok(
        status: int, raw: bytes, body: dict[str, object], op: Op) -> None:
    for data in (raw, json.dumps(body).encode()):
        answer = classify(op, status, data)
        assert answer.kind in ("ok", "fail", "not-applied", "unknown")
        if answer.kind == "ok" and op.f != "get":
            assert status == 200 and body.get("type") == f"{request_for(op)['type']}_ok"


def test_the_example_nodes_pass_the_checks_and_bad_programs_do_not(tmp_path: Path) -> None:
    for node in ("lin_kv_leader.py", "gossip_kv.rb", "memory_kv.js"):
        assert MAELSTROM.check_path("node", EXAMPLES / node) is None, node
    text = tmp_path / "plain.txt"
    text.write_text("hello\n")
    text.chmod(0o755)
    perl = tmp_path / "node.pl"
    perl.write_text("#!/usr/bin/perl\nprint 1;\n")
    perl.chmod(0o755)
    unexec = tmp_path / "node.py"
    unexec.write_text("#!/usr/bin/env python3\n")
    elf = tmp_path / "binary"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    elf.chmod(0o755)
    assert "no such file" in str(MAELSTROM.check_path("node", tmp_path / "missing"))
    assert "not a file" in str(MAELSTROM.check_path("node", tmp_path))
    assert "chmod +x" in str(MAELSTROM.check_path("node", unexec))
    assert "neither a script with a #! line" in str(MAELSTROM.check_path("node", text))
    assert "runs 'perl', which the node image does not have" in str(MAELSTROM.check_path("node", perl))
    assert MAELSTROM.check_path("node", elf) is None


def test_each_node_gets_its_routes_the_secret_and_its_program_folder_read_only() -> None:
    node = str(EXAMPLES / "lin_kv_leader.py")
    doc = yaml.safe_load(compose.render_compose(3, target=MAELSTROM, options={"node": node}))
    n2 = doc["services"]["n2"]
    env = n2["environment"]
    assert env["PEER_ROUTES"] == "1=toxiproxy:9021,3=toxiproxy:9023"
    assert env["NODE_PROGRAM"] == "/node/lin_kv_leader.py" and env["NODE_INDEX"] == "2"
    assert env["PEER_SECRET"] == "${PAXOS_PEER_SECRET:-}"
    assert n2["volumes"] == ["n2-data:/data", f"{EXAMPLES}:/node:ro"]
    proxies = {p["name"]: p["upstream"] for p in compose.proxy_config(3, MAELSTROM)}
    assert proxies["n1-n2"] == "n2:7100" and proxies["client-n2"] == "n2:7000"


BASE = """
description: d
workload: {duration: 10s}
"""


def scenario(cluster: str, *, extra: str = "", **kw: object) -> object:
    return parse_scenario(f"cluster: {cluster}\n{BASE}{extra}", source=str(ROOT / "scenarios" / "x.yaml"),
                          **kw)  # type: ignore[arg-type]


def test_a_maelstrom_scenario_resolves_the_node_against_its_folder() -> None:
    s = scenario("{target: maelstrom, node: ../targets/maelstrom/examples/gossip_kv.rb}")
    assert dict(s.cluster.options) == {"node": str(EXAMPLES / "gossip_kv.rb")}  # type: ignore[attr-defined]
    assert dict(s.workload.mix) == {"get": 50.0, "put": 30.0, "cas": 20.0}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cluster", "extra", "message"), [
    ("{target: maelstrom}", "", "x.yaml:1 cluster: target maelstrom needs `node`"),
    ("{target: maelstrom, node: nope.py}", "", "cluster.node: nope.py ("),
    ("{target: maelstrom, node: ../README.md}", "", "is not executable; run `chmod +x"),
    ("{target: maelstrom, node: [1]}", "", "cluster.node: expected a path, got a list"),
    ("{target: paxos, node: ../README.md}", "", "cluster.node: is an option of target maelstrom, not of paxos"),
    ("{target: maelstrom, node: ../targets/maelstrom/examples/gossip_kv.rb}",
     "faults: [{kill: {target: leader}}]", "target maelstrom has no leader probe"),
    ("{target: maelstrom, node: ../targets/maelstrom/examples/gossip_kv.rb}",
     "faults: [{partition: {shape: isolate-leader}}]", "faults[0].partition.shape: target maelstrom has no leader"),
])
def test_what_a_maelstrom_scenario_cannot_say(cluster: str, extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=None) as err:
        scenario(cluster, extra=extra + "\n")
    assert message in str(err.value)


@pytest.mark.parametrize("op", ["append", "delete"])
def test_append_and_delete_are_refused_at_their_line(op: str) -> None:
    with pytest.raises(ScenarioError, match=f"x.yaml:3 workload.mix.{op}: target maelstrom has no {op}"):
        parse_scenario("cluster: {target: maelstrom, node: ../targets/maelstrom/examples/gossip_kv.rb}\n"
                       f"description: d\nworkload: {{duration: 10s, mix: {{get: 1, {op}: 1}}}}\n",
                       source=str(ROOT / "scenarios" / "x.yaml"))


def test_the_command_line_node_wins_and_makes_a_paxos_scenario_run_on_maelstrom() -> None:
    node = str(EXAMPLES / "memory_kv.js")
    s = scenario("{size: 3}", target="maelstrom", options={"node": node})
    assert s.cluster.target == "maelstrom" and dict(s.cluster.options) == {"node": node}  # type: ignore[attr-defined]
    with pytest.raises(ScenarioError, match="--node is an option of target maelstrom, not of paxos"):
        scenario("{size: 3}", options={"node": node})
