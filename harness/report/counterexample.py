"""The counterexample drawn the way Porcupine's visualization does: the operations around the one that
cannot be placed, each on its own row over a common time axis, with its interval and result, and the
order the search found for the prefix.

The checker chooses what to show (`harness.checker.counterexample`, at most 40 operations), so this
view is as small for a violation at the end of 100,000 operations as for one in ten.
"""

from __future__ import annotations

from harness.checker.operation import Operation
from harness.checker.result import Counterexample
from harness.report.svg import Frame, esc, x_axis
from workloads.history import CasValue, Value

__all__ = ["render_counterexample"]

_ROW_H = 24
_LABEL_W = 250
_STEPS_LISTED = 12
_PLACED, _UNPLACED, _OTHER = "#3a9d5d", "#d9534f", "#9a9a9a"


def render_counterexample(cx: Counterexample) -> str:
    """HTML (an explanation, one SVG timeline, the prefix's last steps) for one counterexample."""
    ops = list(cx.operations)
    if not ops:
        return "<p>No operations to draw.</p>"
    first_step = cx.prefix_length - len(cx.prefix) + 1
    step = {p.op: (first_step + i, p.state) for i, p in enumerate(cx.prefix)}
    unplaced = set(cx.unplaced)
    axis = _Axis(ops, cx.window[1])
    frame = Frame(width=980, height=len(ops) * _ROW_H + 44, t_max_s=axis.span, left=_LABEL_W, right=150)
    parts = [frame.open("counterexample timeline")]
    stuck_end = axis.x(frame, next((axis.end(o) for o in ops if o.id == cx.stuck), None))
    for row, o in enumerate(ops):
        parts.append(_row(frame, axis, row, o, step.get(o.id), o.id in unplaced, o.id == cx.stuck))
    parts.append(f'<line x1="{stuck_end:.1f}" y1="{frame.top}" x2="{stuck_end:.1f}" '
                 f'y2="{frame.top + len(ops) * _ROW_H}" stroke="{_UNPLACED}" stroke-dasharray="4 3">'
                 "<title>the outlined operation had to take effect by here</title></line>")
    axis_frame = Frame(width=frame.width, height=frame.height, t_max_s=axis.span, left=frame.left,
                       right=frame.right, top=frame.top, bottom=frame.height - frame.top - len(ops) * _ROW_H)
    parts.append(x_axis(axis_frame, unit=axis.unit))
    return _explanation(cx, axis) + "".join(parts) + "</svg>" + _legend() + _steps(cx, ops, first_step)


class _Axis:
    """Real time (ms from the first invocation shown) when every shown operation has its times, else
    history event indexes. Unknown outcomes run to the right edge."""

    def __init__(self, ops: list[Operation], window_end: int) -> None:
        timed = all(o.call_time is not None and (o.ret is None or o.ret_time is not None) for o in ops)
        self.timed = timed
        self.unit = "ms" if timed else ""
        starts = [self._t(o.call, o.call_time) for o in ops]
        ends = [self._t(o.ret, o.ret_time) for o in ops if o.ret is not None]
        self.lo = min(starts)
        hi = max(ends + starts + [self.lo + 1.0])
        if not timed:
            hi = max(hi, float(window_end))
        self.span = (hi - self.lo) * 1.04  # room on the right for unknown outcomes

    def _t(self, index: int | None, time_ns: int | None) -> float:
        if self.timed:
            return (time_ns or 0) / 1e6
        return float(index or 0)

    def start(self, o: Operation) -> float:
        return self._t(o.call, o.call_time) - self.lo

    def end(self, o: Operation) -> float | None:
        return None if o.ret is None else self._t(o.ret, o.ret_time) - self.lo

    def x(self, frame: Frame, t: float | None) -> float:
        return frame.x(self.span if t is None else t)


def _row(frame: Frame, axis: _Axis, row: int, o: Operation, placed: tuple[int, str] | None,
         unplaced: bool, stuck: bool) -> str:
    y = frame.top + row * _ROW_H
    x0, x1 = axis.x(frame, axis.start(o)), axis.x(frame, axis.end(o))
    color = _PLACED if placed else _UNPLACED if unplaced else _OTHER
    dash = ' stroke-dasharray="5 3"' if o.ret is None else ""
    outline = f'stroke="#000" stroke-width="2"' if stuck else f'stroke="{color}"'
    tip = f"{_label(o)}; events {o.call} to {o.ret if o.ret is not None else o.status}"
    note = f"#{placed[0]} \u21d2 {placed[1]}" if placed else "cannot be placed" if stuck else (
        "not placed" if unplaced else "")
    return (f'<text x="{frame.left - 8}" y="{y + 16}" font-size="12" text-anchor="end" '
            f'font-weight="{"bold" if stuck else "normal"}">{esc(_label(o)[:40])}</text>'
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(4.0, x1 - x0):.1f}" height="{_ROW_H - 7}" '
            f'fill="{color}" fill-opacity="0.45" {outline}{dash}><title>{esc(tip)}</title></rect>'
            f'<text x="{max(x0, x1) + 5:.1f}" y="{y + 16}" font-size="11" fill="#333">{esc(note[:40])}</text>')


def _explanation(cx: Counterexample, axis: _Axis) -> str:
    by = "real time" if axis.timed else "history event index"
    return (f"<p>The outlined operation had to take effect before it returned (dashed red line), and no "
            f"order of the operations before it explains its result. Each row is one operation of key "
            f"<code>{esc(cx.key)}</code> over {esc(by)}: green, placed in the longest linearization the "
            f"search found (step number, then the state after it); red, could not be placed after it; grey, "
            f"neither (not in its last steps); a dashed bar has an unknown outcome. The linearization has "
            f"{cx.prefix_length} steps; the state after it is <code>{esc(cx.state_after_prefix)}</code>. "
            f"Failing window: events {cx.window[0]} to {cx.window[1]}.</p>")


def _steps(cx: Counterexample, ops: list[Operation], first_step: int) -> str:
    by_id = {o.id: o for o in ops}
    drawn = [(n, p) for n, p in enumerate(cx.prefix, start=first_step) if p.op in by_id]
    tail = drawn[-_STEPS_LISTED:]
    if not tail:
        return "<p class=note>The search placed no operation before getting stuck.</p>"
    rows = "".join(f"<tr><td>#{n}</td><td>{esc(_label(by_id[p.op]))}</td>"
                   f"<td><code>{esc(p.state)}</code></td></tr>" for n, p in tail)
    earlier = tail[0][0] - 1
    note = f" ({earlier} earlier steps not listed)" if earlier else ""
    return (f"<p>The last steps of that linearization among the operations drawn{note}:</p><table><tr>"
            f"<th>step</th><th>operation</th><th>state after</th></tr>{rows}</table>")


def _label(o: Operation) -> str:
    arg = "" if o.f in ("get", "read", "delete") else _fmt(o.input)
    out = f" = {_fmt(o.output)}" if o.f in ("get", "read") and o.status == "ok" else ""
    status = "" if o.status == "ok" else f" [{o.status}]"
    return f"p{o.process} {o.f}({arg}){out}{status}"


def _fmt(v: Value) -> str:
    if isinstance(v, CasValue):
        return f"{v.expect!r}->{v.value!r}"
    return "absent" if v is None else repr(v)


def _legend() -> str:
    items = ((_PLACED, "in the linearization"), (_UNPLACED, "could not be placed"), (_OTHER, "other"))
    return '<p class="legend">' + "".join(f'<span class="sw" style="background:{c}"></span>{t} '
                                          for c, t in items) + "</p>"
