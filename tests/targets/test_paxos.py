"""targets/paxos without Docker: the replica's status codes as answers, and the probe's reading of /status."""

from __future__ import annotations

import json

import pytest

from targets.contract import NodeState, Op, agreed_leader
from targets.paxos import PAXOS, interpret

PUT, GET = Op(f="put", key="k", value="v"), Op(f="get", key="k")


@pytest.mark.parametrize(("op", "status", "raw", "kind"), [
    (PUT, 200, b"{}", "ok"),
    (GET, 200, json.dumps({"value": None}).encode(), "ok"),
    (GET, 200, b"{}", "unknown"),
    (PUT, 409, b"{}", "fail"),
    (PUT, 422, json.dumps({"error": "request id reused"}).encode(), "fail"),
    (PUT, 503, json.dumps({"proposed": False, "leader": 2}).encode(), "not-applied"),
    (PUT, 503, json.dumps({"proposed": True}).encode(), "unknown"),
    (PUT, 500, b"", "unknown"),
])
def test_interpret(op: Op, status: int, raw: bytes, kind: str) -> None:
    assert interpret(op, status, raw).kind == kind


def test_not_applied_carries_the_leader_hint() -> None:
    assert interpret(PUT, 503, json.dumps({"proposed": False, "leader": 3}).encode()).leader == 3
    assert interpret(PUT, 503, json.dumps({"proposed": False, "leader": True}).encode()).leader is None


def test_paxos_is_the_target_with_every_op_dedup_and_bugs() -> None:
    assert PAXOS.ops == ("get", "put", "append", "delete", "cas") and PAXOS.dedup
    assert "no-dedup" in PAXOS.known_bugs
    with pytest.raises(ValueError, match="unknown bug"):
        PAXOS.parse_bugs(["no-such-bug"])


def test_a_leader_needs_a_majority() -> None:
    states = [NodeState(node=1, role="leader", leader=1), NodeState(node=2, role="follower", leader=3),
              NodeState(node=3, role="leader", leader=3)]
    assert agreed_leader(states, n=3) == 3
