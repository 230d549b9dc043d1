"""Jepsen's perf plots: nearest-rank quantiles, bounded buckets, one line per operation type and quantile."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.report.perf import _quantile, latency_quantiles, throughput_by_type


@dataclass(frozen=True, slots=True)
class Op:
    f: str
    start_s: float
    end_s: float | None
    outcome: str


def test_nearest_rank_quantiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [_quantile(values, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50.0, 95.0, 99.0, 100.0]
    assert _quantile([7.0], 0.5) == 7.0


def test_one_line_per_type_and_quantile_and_at_most_sixty_buckets() -> None:
    ops = [Op("get" if i % 2 else "put", i * 10.0, i * 10.0 + 0.002 * (i % 7 + 1), "ok" if i % 5 else "info")
           for i in range(10_000)]  # a 100,000 s run
    svg = latency_quantiles(ops, [], 100_000.0)
    lines = re.findall(r"<polyline points=\"([^\"]*)\"", svg)
    assert len(lines) == 2 * 4  # get and put, each p50 p95 p99 max
    assert all(len(points.split()) <= 60 for points in lines)
    rates = throughput_by_type(ops, [(10.0, 20.0, "partition")], 100_000.0)
    assert rates.count("<polyline") == 4  # get and put, ok and not ok
    assert "partition" in rates  # the fault window is shaded


def test_nothing_completed_says_so() -> None:
    assert "No operation completed" in latency_quantiles([Op("get", 0.0, None, "pending")], [], 1.0)
    assert "No operation completed" in throughput_by_type([], [], 1.0)
