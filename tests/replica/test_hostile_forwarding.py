"""A follower forwards the key the client sent, not its decoding (issue 11), and peers of a cluster talk
only with the cluster's secret: three real replica processes on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.replica.procs import LocalCluster, request

pytestmark = pytest.mark.processes

# (path segment as sent, the key it names)
KEYS = [("x%2541", "x%41"), ("a%3Fb", "a?b"), ("c%23d", "c#d"), ("e%2Ff", "e/f"), ("%E2%82%AC", "\u20ac")]


def test_the_key_sent_through_a_follower_is_the_key_stored(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3) as c:
        c.start_all()
        leader = c.wait_leader()
        follower = next(i for i in c.ports if i != leader)
        for n, (segment, key) in enumerate(KEYS):
            put = c.op(follower, "PUT", segment, {"value": f"v{n}"}, client="fw", req=n + 1)
            assert put.status == 200, (segment, put, c.logs())
            # read back on the leader, by the same segment: the stored key is the one the client named
            got = c.op(leader, "GET", segment, client="fw-r", req=n + 1)
            assert got.body == {"value": f"v{n}", "found": True}, (segment, key, got)
        # and nothing landed under what a decoded-then-reparsed path would have named
        for n, wrong in enumerate(("xA", "a", "c", "e")):
            got = c.op(leader, "GET", wrong, client="fw-w", req=n + 1)
            assert got.body == {"value": None, "found": False}, (wrong, got)
        digests = c.wait_converged(set(c.ports))
        assert len({s["state_digest"] for s in digests.values()}) == 1


def test_a_replica_with_another_secret_is_not_heard(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, 3) as c:
        c.start_all()
        leader = c.wait_leader()
        assert c.op(leader, "PUT", "k", {"value": "1"}, client="s", req=1).status == 200
        intruder = next(i for i in c.ports if i != leader)
        c.kill(intruder)
        c.extra_env["PEER_SECRET"] = "some-other-cluster-secret"
        c.start(intruder)
        c.wait_healthy(intruder)
        # the two honest replicas keep serving; the intruder learns nothing and changes nothing
        assert c.op(leader, "PUT", "k", {"value": "2"}, client="s", req=2).status == 200
        honest = set(c.ports) - {intruder}
        views = c.wait_converged(honest)
        status = c.status(intruder)
        assert status is not None and status["applied_index"] < min(v["applied_index"] for v in views.values())
        # the leader's heartbeats reach the intruder and are dropped there, counted (bounded wait)
        dropped = {i: _bad_tags(c.ports[i]) for i in c.ports}
        for _ in range(50):
            if dropped[intruder] > 0:
                break
            time.sleep(0.1)
            dropped = {i: _bad_tags(c.ports[i]) for i in c.ports}
        assert dropped[intruder] > 0, (dropped, c.logs())


def _bad_tags(port: int) -> float:
    text = request(port, "GET", "/metrics").body["_text"]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('peer_requests_unauthenticated_total{reason="bad"}'))
