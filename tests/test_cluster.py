"""Cluster lifecycle pure parts: spec validation and the leader agreement rule."""

from __future__ import annotations

import pytest

from harness.cluster import Cluster, ClusterSpec
from targets.contract import NodeState, agreed_leader
from targets.errors import UsageError


def _st(node: int, role: str, leader: int | None) -> NodeState:
    return NodeState(node=node, role=role, leader=leader)


def test_ports_follow_port_base() -> None:
    spec = ClusterSpec(n=5, project="t1", port_base=9000)
    assert spec.api_port == 9474
    assert spec.host_ports() == [9474, 9001, 9002, 9003, 9004, 9005]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 4}, "use N=3, N=5 or N=7"),
    ({"port_base": 80}, "PORT_BASE=80"),
    ({"project": "Bad Name"}, "project name"),
])
def test_bad_specs_name_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ClusterSpec(**kwargs)  # type: ignore[arg-type]


def test_a_leader_needs_a_majority_naming_it() -> None:
    statuses = [_st(1, "leader", 1), _st(2, "follower", 1), _st(3, "follower", 3)]
    assert agreed_leader(statuses, n=3) == 1


def test_an_isolated_old_leader_is_not_the_leader() -> None:
    # n1 still believes it leads, but n2 and n3 have elected n3.
    statuses = [_st(1, "leader", 1), _st(2, "follower", 3), _st(3, "leader", 3)]
    assert agreed_leader(statuses, n=3) == 3


def test_no_majority_no_leader() -> None:
    statuses = [_st(1, "leader", 1), _st(2, "candidate", None), _st(3, "follower", None)]
    assert agreed_leader(statuses, n=3) is None


def test_every_cluster_gets_its_own_peer_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAXOS_PEER_SECRET", raising=False)
    a = Cluster(ClusterSpec(n=3, project="s1", port_base=9000), client=object())  # type: ignore[arg-type]
    b = Cluster(ClusterSpec(n=3, project="s2", port_base=9100), client=object())  # type: ignore[arg-type]
    sa, sb = a.compose_env()["PAXOS_PEER_SECRET"], b.compose_env()["PAXOS_PEER_SECRET"]
    assert len(sa) == 64 and sa != sb
    assert a.compose_env()["PAXOS_PEER_SECRET"] == sa  # stable for the cluster's lifetime
    monkeypatch.setenv("PAXOS_PEER_SECRET", "the-users-own-secret")
    assert Cluster(ClusterSpec(n=3, project="s3")).compose_env()["PAXOS_PEER_SECRET"] == "the-users-own-secret"
