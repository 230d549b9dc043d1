"""Prometheus text rendering of the replica's metrics."""

from __future__ import annotations

import pytest

from replica_image.metrics import Registry


def test_counter_gauge_histogram_render() -> None:
    reg = Registry()
    req = reg.counter("kv_requests_total", "Client requests", ["op", "code"])
    req.inc("put", "200")
    req.inc("put", "200")
    req.inc("get", "4\"0\n0")
    g = reg.gauge("paxos_is_leader", "1 if leader")
    g.set(1)
    h = reg.histogram("fsync_seconds", "fsync latency", [0.001, 0.01])
    h.observe(0.0005)
    h.observe(0.005)
    h.observe(5.0)
    text = reg.render()
    assert "# TYPE kv_requests_total counter" in text
    assert 'kv_requests_total{op="put",code="200"} 2' in text
    assert 'kv_requests_total{op="get",code="4\\"0\\n0"} 1' in text
    assert "paxos_is_leader 1" in text
    assert 'fsync_seconds_bucket{le="0.001"} 1' in text
    assert 'fsync_seconds_bucket{le="0.01"} 2' in text
    assert 'fsync_seconds_bucket{le="+Inf"} 3' in text
    assert "fsync_seconds_count 3" in text
    assert req.value("put", "200") == 2


def test_misuse_is_refused() -> None:
    reg = Registry()
    c = reg.counter("a_total", "a", ["x"])
    with pytest.raises(ValueError):
        c.inc()
    with pytest.raises(ValueError):
        reg.counter("a_total", "again")
