"""The run report: one self-contained HTML file (inline CSS and SVG, no scripts fetched, opens offline).

It shows, top to bottom: the verdicts, the fault timeline, throughput and latency over time with the
fault intervals shaded (by outcome, and per operation type with latency quantiles: Jepsen's perf plots,
`harness.report.perf`), a per-process timeline of operations, per-node status, links to the run's files,
and for an invalid history the counterexample drawn the way Porcupine does (`harness.report.counterexample`:
the operations around the one that cannot be placed, on a time axis, with the order the search found).

Every chart is bounded (points, lanes, bars) so a 100,000-operation history still gives a file a
browser opens quickly; what was cut is said under the chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from faults.log import FaultInterval
from harness.checker.operation import pair
from harness.checker.result import CheckResult
from harness.junit import NOT_AVAILABLE, CaseResult
from harness.report.counterexample import render_counterexample
from harness.report.perf import latency_quantiles, throughput_by_type
from harness.report.svg import Frame, esc, shade, x_axis, y_axis
from workloads.history import CasValue, Event, Value

__all__ = ["ReportInput", "render_report"]

_MAX_LANES = 40
_MAX_BARS = 20_000
_MAX_POINTS = 6_000
_COLORS = {"ok": "#3a9d5d", "fail": "#c4a000", "info": "#d9534f", "pending": "#999"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportInput:
    """Everything the report draws; the runner fills it, the report only reads it."""

    scenario: str
    description: str
    seed: int
    nodes: int
    duration_s: float
    events: Sequence[Event]
    faults: Sequence[FaultInterval]
    cases: Sequence[CaseResult]
    check: CheckResult | None
    node_status: Sequence[Mapping[str, object]] = field(default_factory=tuple)
    reproduce: str = ""
    target: str = "paxos"  # the system under test, with its options, e.g. "etcd (reads: serializable)"
    files: Sequence[str] = ()  # the run's files, relative to report.html, linked under "Files"


def render_report(data: ReportInput) -> str:
    """Return the whole HTML document for one run."""
    ops = _pair(data.events)
    t_max = max([data.duration_s] + [f.end_s for f in data.faults] + [o.end_s for o in ops if o.end_s is not None])
    bands = [(f.start_s, f.end_s, f.label) for f in data.faults]
    body = [
        _header(data),
        _section("Checks", _cases(data.cases)),
        _section("Faults", _fault_timeline(data.faults, t_max)),
        _section("Throughput (completed operations per second, by outcome)", _throughput(ops, bands, t_max)),
        _section("Throughput by operation type (completions per second)", throughput_by_type(ops, bands, t_max)),
        _section("Latency (ms, each operation at its start)", _latency(ops, bands, t_max)),
        _section("Latency quantiles by operation type (ms, log scale, by start)",
                 latency_quantiles(ops, bands, t_max)),
        _section("Operations by process", _lanes(ops, bands, t_max)),
        _section("Nodes", _nodes(data.node_status)),
        _section("Files", _files(data.files)),
    ]
    if data.check is not None:
        for cx in data.check.counterexamples:
            body.append(_section(f"Counterexample: key {cx.key!r}", render_counterexample(cx)))
    return _page(f"paxos-chaos: {data.scenario}", "".join(body))


# -- operations with times ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Op:
    process: int
    f: str
    key: str | None
    start_s: float
    end_s: float | None
    outcome: str  # ok | fail | info | pending
    label: str


def _pair(events: Sequence[Event]) -> list[_Op]:
    """The checker's pairing (harness.checker.operation.pair), with times; a malformed spot is shown as
    well as it can be (the checker's verdict says what is wrong with it), events without time are not."""
    paired = pair(events)
    out: list[_Op] = []
    for inv, ev in paired.pairs:
        if inv.time is None:
            continue
        end = ev.time / 1e9 if ev.time is not None else None
        out.append(_Op(ev.process, ev.f, ev.key, inv.time / 1e9, end, ev.type, _label(inv, ev)))
    for inv in paired.open:
        if inv.time is not None:
            out.append(_Op(inv.process, inv.f, inv.key, inv.time / 1e9, None, "pending", _label(inv, None)))
    return out


def _fmt(v: Value) -> str:
    if isinstance(v, CasValue):
        return f"{v.expect!r}->{v.value!r}"
    return "absent" if v is None else repr(v)


def _label(inv: Event, done: Event | None) -> str:
    arg = "" if inv.f in ("get", "read", "delete") else _fmt(inv.value)
    res = "" if done is None else f" = {_fmt(done.value)}" if done.type == "ok" and inv.f in ("get", "read") else ""
    why = f" ({done.error})" if done is not None and done.error else ""
    status = "pending" if done is None else done.type
    return f"p{inv.process} {inv.f}({inv.key!r}{', ' + arg if arg else ''}){res} {status}{why}"


# -- sections ----------------------------------------------------------------------------------

def _header(d: ReportInput) -> str:
    verdict = "no check" if d.check is None else d.check.verdict.name
    failed = [c for c in d.cases if c.outcome not in ("pass", NOT_AVAILABLE)]
    cls = "bad" if any(c.outcome == "fail" for c in d.cases) else "unk" if failed else "good"
    rows = [("scenario", d.scenario), ("description", d.description), ("target", d.target), ("seed", d.seed),
            ("nodes", d.nodes),
            ("duration", f"{d.duration_s:.1f} s"), ("history events", len(d.events)),
            ("linearizability", verdict)]
    if d.reproduce:
        rows.append(("reproduce", d.reproduce))
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    outcome = "PASSED" if cls == "good" else "FAILED" if cls == "bad" else "UNDECIDED"
    return f'<h1>{esc(d.scenario)} <span class="{cls}">{outcome}</span></h1><table class="kv">{table}</table>'


def _cases(cases: Sequence[CaseResult]) -> str:
    rows = "".join(
        f'<tr><td>{esc(c.name)}</td><td class="{ {"pass": "good", "fail": "bad"}.get(c.outcome, "unk") }">'
        f"{esc(c.outcome)}</td><td>{esc(c.message)}</td></tr>"
        for c in cases)
    return f"<table><tr><th>check</th><th>outcome</th><th>detail</th></tr>{rows}</table>"


def _fault_timeline(faults: Sequence[FaultInterval], t_max: float) -> str:
    if not faults:
        return "<p>No faults were injected.</p>"
    row_h = 18
    frame = Frame(width=960, height=len(faults) * row_h + 36, t_max_s=t_max, left=260)
    parts = [frame.open("fault timeline")]
    for i, f in enumerate(faults):
        y = frame.top + i * row_h
        x0, x1 = frame.x(f.start_s), frame.x(f.end_s)
        head = f.label.split(": ", 1)[0]  # the fault's kind; who it hit is in the tooltip and the list below
        head = head if len(head) <= 40 else head[:39] + "\u2026"
        parts.append(f'<text x="{frame.left - 6}" y="{y + 12}" font-size="11" text-anchor="end">'
                     f"{esc(head)}</text>"
                     f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(2.0, x1 - x0):.1f}" height="{row_h - 4}" '
                     f'fill="#d9534f" opacity="0.8"><title>{esc(f.label)}: {f.start_s:.2f}s to {f.end_s:.2f}s'
                     f"</title></rect>")
    frame2 = Frame(width=frame.width, height=frame.height, t_max_s=t_max, left=frame.left,
                   top=frame.top, bottom=frame.height - frame.top - len(faults) * row_h)
    parts.append(x_axis(frame2))
    listing = "".join(f"<tr><td>{f.start_s:.1f} s</td><td>{f.end_s:.1f} s</td><td>{esc(f.label)}</td></tr>"
                      for f in faults)
    return ("".join(parts) + "</svg>"
            + f"<table><tr><th>from</th><th>to</th><th>fault</th></tr>{listing}</table>")


def _throughput(ops: Sequence[_Op], bands: list[tuple[float, float, str]], t_max: float) -> str:
    buckets = max(1, int(t_max) + 1)
    counts = {k: [0] * buckets for k in ("ok", "fail", "info")}
    for o in ops:
        if o.end_s is not None and o.outcome in counts:
            counts[o.outcome][min(buckets - 1, int(o.end_s))] += 1
    peak = max([sum(counts[k][b] for k in counts) for b in range(buckets)] + [1])
    frame = Frame(width=960, height=200, t_max_s=float(buckets), y_max=float(peak))
    parts = [frame.open("throughput"), shade(frame, bands), y_axis(frame, label="ops/s")]
    bar_w = max(1.0, frame.plot_w / buckets - 1)
    for b in range(buckets):
        base = 0
        for kind in ("ok", "fail", "info"):
            n = counts[kind][b]
            if n:
                y0, y1 = frame.y(base + n), frame.y(base)
                parts.append(f'<rect x="{frame.x(b):.1f}" y="{y0:.1f}" width="{bar_w:.1f}" height="{y1 - y0:.1f}" '
                             f'fill="{_COLORS[kind]}"><title>{b}s: {n} {kind}</title></rect>')
                base += n
    parts.append(x_axis(frame))
    return "".join(parts) + "</svg>" + _legend()


def _latency(ops: Sequence[_Op], bands: list[tuple[float, float, str]], t_max: float) -> str:
    done = [o for o in ops if o.end_s is not None]
    step = max(1, len(done) // _MAX_POINTS)
    shown = done[::step]
    lat = [((o.end_s or 0.0) - o.start_s) * 1000 for o in shown]
    frame = Frame(width=960, height=220, t_max_s=t_max, y_max=max(lat + [1.0]))
    parts = [frame.open("latency"), shade(frame, bands), y_axis(frame, label="ms")]
    for o, ms in zip(shown, lat):
        parts.append(f'<circle cx="{frame.x(o.start_s):.1f}" cy="{frame.y(ms):.1f}" r="1.6" '
                     f'fill="{_COLORS[o.outcome]}"><title>{esc(o.label)}: {ms:.1f} ms</title></circle>')
    parts.append(x_axis(frame))
    note = f"<p class=note>Every {step}th of {len(done)} completed operations shown.</p>" if step > 1 else ""
    return "".join(parts) + "</svg>" + _legend() + note


def _lanes(ops: Sequence[_Op], bands: list[tuple[float, float, str]], t_max: float) -> str:
    processes = sorted({o.process for o in ops})
    shown = set(processes[:_MAX_LANES])
    lane_h = 10
    frame = Frame(width=960, height=len(shown) * lane_h + 40, t_max_s=t_max)
    parts = [frame.open("operations by process"), shade(frame, bands)]
    row = {p: i for i, p in enumerate(sorted(shown))}
    drawn = 0
    for o in ops:
        if o.process not in shown or drawn >= _MAX_BARS:
            continue
        drawn += 1
        y = frame.top + row[o.process] * lane_h
        x0, x1 = frame.x(o.start_s), frame.x(o.end_s if o.end_s is not None else t_max)
        parts.append(f'<rect x="{x0:.1f}" y="{y + 1}" width="{max(0.8, x1 - x0):.1f}" height="{lane_h - 2}" '
                     f'fill="{_COLORS[o.outcome]}"><title>{esc(o.label)}</title></rect>')
    for p, i in row.items():
        parts.append(f'<text x="{frame.left - 4}" y="{frame.top + i * lane_h + 8}" font-size="8" '
                     f'text-anchor="end">p{p}</text>')
    frame2 = Frame(width=frame.width, height=frame.height, t_max_s=t_max, top=frame.top,
                   bottom=frame.height - frame.top - len(shown) * lane_h)
    parts.append(x_axis(frame2))
    cut = len(processes) - len(shown)
    note = (f"<p class=note>{cut} more processes not drawn.</p>" if cut else "") + (
        f"<p class=note>Only the first {_MAX_BARS} operations drawn.</p>" if drawn >= _MAX_BARS else "")
    return "".join(parts) + "</svg>" + _legend() + note


def _nodes(status: Sequence[Mapping[str, object]]) -> str:
    if not status:
        return "<p>No node status was collected.</p>"
    cols = sorted({k for s in status for k in s}, key=lambda c: (c != "node", c))  # the node first
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(f"<td>{esc(s.get(c, ''))}</td>" for c in cols) + "</tr>" for s in status)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _legend() -> str:
    items = "".join(f'<span class="sw" style="background:{c}"></span>{k} ' for k, c in _COLORS.items()
                    if k != "pending")
    return f'<p class="legend">{items}<span class="sw" style="background:#f6c8c8"></span>fault active</p>'


def _files(files: Sequence[str]) -> str:
    if not files:
        return "<p>No files listed.</p>"
    links = " &middot; ".join(f'<a href="{esc(f)}">{esc(f)}</a>' for f in files)
    return f"<p>{links}</p><p class=note>Relative to this report: they open when the run directory is kept whole.</p>"


def _section(title: str, inner: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{inner}</section>"


def _page(title: str, body: str) -> str:
    css = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
           "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;"
           "font-size:13px;text-align:left}.kv th{background:#f4f4f4}.good{color:#2b7a46;font-weight:bold}"
           ".bad{color:#b52a2a;font-weight:bold}.unk{color:#a07000;font-weight:bold}svg{display:block}"
           ".note{color:#666;font-size:12px}.legend{font-size:12px}.sw{display:inline-block;width:10px;"
           "height:10px;margin:0 4px 0 10px}h2{font-size:17px;border-bottom:1px solid #eee}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{css}</style></head><body>{body}</body></html>\n")
