"""Jepsen's perf plots for the report: latency quantiles over time and throughput, per operation type.

Both charts bucket time (at most `_MAX_BUCKETS` buckets, at least 50 ms each), draw one line per
operation type (and, for latency, per quantile), and shade the fault windows behind the lines. Latency
uses a log scale, as Jepsen's does: a run mixes sub-millisecond reads with multi-second timeouts.
Input is any sequence of operations with a type, a start, an end (None: never completed) and an
outcome; pure functions returning SVG text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from harness.report.svg import Frame, esc, shade, x_axis, y_axis

__all__ = ["TimedOp", "latency_quantiles", "throughput_by_type"]

_MAX_BUCKETS = 60
QUANTILES = (0.5, 0.95, 0.99, 1.0)
_DASH = {0.5: "", 0.95: "6 3", 0.99: "2 2", 1.0: "1 3"}
_F_COLORS = {"get": "#1f77b4", "put": "#ff7f0e", "append": "#9467bd", "delete": "#8c564b", "cas": "#17becf"}


class TimedOp(Protocol):
    @property
    def f(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float | None: ...
    @property
    def outcome(self) -> str: ...


def _color(f: str) -> str:
    return _F_COLORS.get(f, "#555")


def _buckets(t_max: float) -> tuple[int, float]:
    width = max(0.05, t_max / _MAX_BUCKETS)
    return max(1, math.ceil(t_max / width)), width


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank quantile (what Jepsen's perf plots use): q=1 is the maximum."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _legend(fs: Sequence[str], extra: str = "") -> str:
    items = "".join(f'<span class="sw" style="background:{_color(f)}"></span>{esc(f)}' for f in fs)
    return f'<div class="legend">{items}{extra}</div>'


def latency_quantiles(ops: Sequence[TimedOp], bands: list[tuple[float, float, str]], t_max: float) -> str:
    """Per operation type, the 50th, 95th, 99th percentile and the maximum latency of the operations
    that completed (any outcome) in each time bucket, by the bucket of their start."""
    n, width = _buckets(t_max)
    by_f: dict[str, list[list[float]]] = {}
    for o in ops:
        if o.end_s is None:
            continue
        b = min(n - 1, int(o.start_s / width))
        by_f.setdefault(o.f, [[] for _ in range(n)])[b].append(max(0.001, (o.end_s - o.start_s) * 1000))
    if not by_f:
        return "<p>No operation completed.</p>"
    top = max(max(v) for lists in by_f.values() for v in lists if v)
    decades = max(1, math.ceil(math.log10(max(top, 1.0))) + 1)  # from 0.1 ms up to the next power of ten
    frame = Frame(width=960, height=240, t_max_s=n * width, y_max=float(decades))

    def y(ms: float) -> float:
        return frame.y(math.log10(max(ms, 0.1)) + 1)

    parts = [frame.open("latency quantiles by operation type"), shade(frame, bands)]
    parts.append(f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.top + frame.plot_h}" '
                 f'stroke="#888"/><text x="4" y="{frame.top + 10}" font-size="10">ms</text>')
    for d in range(decades + 1):
        ms = 10 ** (d - 1)
        yy = y(ms)
        parts.append(f'<text x="{frame.left - 4}" y="{yy + 3:.1f}" font-size="10" text-anchor="end">{ms:g}</text>'
                     f'<line x1="{frame.left}" y1="{yy:.1f}" x2="{frame.left + frame.plot_w}" y2="{yy:.1f}" '
                     f'stroke="#eee"/>')
    for f in sorted(by_f):
        for q in QUANTILES:
            points = []
            for b, values in enumerate(by_f[f]):
                if values:
                    values.sort()
                    points.append((frame.x((b + 0.5) * width), y(_quantile(values, q))))
            if points:
                dash = f' stroke-dasharray="{_DASH[q]}"' if _DASH[q] else ""
                label = "max" if q == 1.0 else f"p{q * 100:g}"
                line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                parts.append(f'<polyline points="{line}" fill="none" stroke="{_color(f)}" '
                             f'stroke-width="1.4"{dash}><title>{esc(f)} {label}</title></polyline>')
                if q == 0.5:  # a bucket with no neighbour draws no line: its median still shows
                    parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="1.8" fill="{_color(f)}"/>'
                                 for px, py in points)
    parts.append(x_axis(frame))
    quantiles = " &nbsp; lines: solid p50, dashed p95, dotted p99, sparse dots max"
    return "".join(parts) + "</svg>" + _legend(sorted(by_f), quantiles)


def throughput_by_type(ops: Sequence[TimedOp], bands: list[tuple[float, float, str]], t_max: float) -> str:
    """Per operation type, completions per second (solid: ok; dashed: fail or info), by the bucket of
    their completion."""
    n, width = _buckets(t_max)
    counts: dict[tuple[str, bool], list[int]] = {}
    for o in ops:
        if o.end_s is None:
            continue
        b = min(n - 1, int(o.end_s / width))
        counts.setdefault((o.f, o.outcome == "ok"), [0] * n)[b] += 1
    if not counts:
        return "<p>No operation completed.</p>"
    peak = max(c / width for series in counts.values() for c in series)
    frame = Frame(width=960, height=200, t_max_s=n * width, y_max=max(1.0, peak))
    parts = [frame.open("throughput by operation type"), shade(frame, bands), y_axis(frame, label="ops/s")]
    for (f, ok), series in sorted(counts.items()):
        points = " ".join(f"{frame.x((b + 0.5) * width):.1f},{frame.y(c / width):.1f}" for b, c in enumerate(series))
        dash = "" if ok else ' stroke-dasharray="4 3"'
        parts.append(f'<polyline points="{points}" fill="none" stroke="{_color(f)}" stroke-width="1.4"{dash}>'
                     f"<title>{esc(f)} {'ok' if ok else 'fail or info'}</title></polyline>")
    parts.append(x_axis(frame))
    fs = sorted({f for f, _ in counts})
    return "".join(parts) + "</svg>" + _legend(fs, " &nbsp; solid: ok, dashed: fail or info")
