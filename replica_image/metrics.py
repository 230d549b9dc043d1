"""Counters and histograms rendered in the Prometheus text exposition format (version 0.0.4).

A tiny dependency-free subset of prometheus_client: the container image has only Debian's python3 and
aiohttp. Metrics are registered once at start; ``inc``/``observe`` are O(1) and never raise for valid
label values. Not thread-safe: update from the event loop thread only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["Counter", "Gauge", "Histogram", "Registry"]

M = TypeVar("M", bound="_Metric")

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: LabelValues, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def _check(self, labels: LabelValues) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {labels}")

    def samples(self) -> list[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    """A monotonically increasing count, optionally split by labels."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}
        if not self.labelnames:
            self._values[()] = 0.0

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self._check(labels)
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.labelnames, k)} {_num(v)}" for k, v in sorted(self._values.items())]


class Gauge(Counter):
    """A value that can go up and down."""

    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self._check(labels)
        self._values[labels] = value


class Histogram(_Metric):
    """Cumulative buckets, sum and count of observations (e.g. latencies in seconds)."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help_text, ())
        self._bounds = sorted(buckets)
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value
        self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def samples(self) -> list[str]:
        lines = []
        running = 0
        for bound, n in zip([*self._bounds, math.inf], self._counts, strict=True):
            running += n
            lines.append(f'{self.name}_bucket{{le="{_num(bound)}"}} {running}')
        lines.append(f"{self.name}_sum {_num(self._sum)}")
        lines.append(f"{self.name}_count {self._count}")
        return lines


class Registry:
    """All metrics of one replica, rendered together for GET /metrics."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help_text, labelnames))

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help_text, labelnames))

    def histogram(self, name: str, help_text: str, buckets: Sequence[float]) -> Histogram:
        return self._add(Histogram(name, help_text, buckets))

    def _add(self, metric: M) -> M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        return "".join(m.render() for m in self._metrics.values())


# Latency buckets in seconds, from a fast SSD fsync (~50us) to a stalled disk.
FSYNC_BUCKETS_S = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0)
REQUEST_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class ReplicaMetrics:
    """Every metric a replica exports on GET /metrics (names follow Prometheus conventions)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.requests = r.counter("kv_requests_total", "Client requests answered, by op and HTTP code", ["op", "code"])
        self.request_seconds = r.histogram("kv_request_seconds", "Client request latency", REQUEST_BUCKETS_S)
        self.forwards = r.counter("kv_forwards_total", "Client requests forwarded to the leader, by outcome", ["outcome"])
        self.proposals = r.counter("paxos_proposals_total", "Client commands handed to the core as leader")
        self.shed = r.counter("kv_requests_shed_total",
                              "Client commands the leader refused unproposed: it could not serve them within the deadline")
        self.commits = r.counter("paxos_commits_total", "Slots applied to the state machine")
        self.commands_applied = r.counter("paxos_commands_applied_total", "Commands applied (a slot holds a batch)")
        self.fsyncs = r.counter("storage_fsyncs_total", "fsync calls on the log (group commits)")
        self.fsync_seconds = r.histogram("storage_fsync_seconds", "fsync latency", FSYNC_BUCKETS_S)
        self.log_rewrites = r.counter("storage_log_rewrites_total", "Log truncations after a snapshot")
        self.snapshots = r.counter("paxos_snapshots_total", "Snapshots taken of the state machine")
        self.peer_sent = r.counter("peer_messages_sent_total", "Peer messages delivered (HTTP 2xx), by peer", ["peer"])
        self.peer_dropped = r.counter(
            "peer_messages_dropped_total", "Peer messages dropped, by peer and reason", ["peer", "reason"]
        )
        self.peer_received = r.counter("peer_messages_received_total", "Peer messages accepted, by kind", ["kind"])
        self.peer_rejected = r.counter("peer_messages_rejected_total", "Malformed peer requests answered 400")
        self.peer_unauthenticated = r.counter(
            "peer_requests_unauthenticated_total",
            "Requests on the peer listener without a valid HMAC tag, dropped; reason missing or bad", ["reason"])
        self.role_changes = r.counter("paxos_role_changes_total", "Role transitions of this replica, by new role", ["role"])
        self.elections = r.counter("paxos_elections_total", "Elections this replica started (became candidate)")
        self.leader_terms = r.counter("paxos_leader_terms_total", "Times this replica became leader")
