"""Tiny SVG building blocks for the report: scales, shaded intervals, axes. No dependencies.

Everything returns strings; callers escape their own text through `esc`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Frame", "esc", "shade", "x_axis", "y_axis"]

FAULT_FILL = "#f6c8c8"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """A plotting area: `width` x `height` pixels with margins, mapping seconds and values to pixels."""

    width: int
    height: int
    t_max_s: float
    y_max: float = 1.0
    left: int = 56
    right: int = 12
    top: int = 8
    bottom: int = 24

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def x(self, t_s: float) -> float:
        span = self.t_max_s if self.t_max_s > 0 else 1.0
        return self.left + max(0.0, min(t_s, span)) / span * self.plot_w

    def y(self, v: float) -> float:
        span = self.y_max if self.y_max > 0 else 1.0
        return self.top + self.plot_h - max(0.0, min(v, span)) / span * self.plot_h

    def open(self, label: str) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{esc(label)}" '
                f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}">')


def shade(frame: Frame, intervals: Iterable[tuple[float, float, str]]) -> str:
    """Fault intervals as translucent bands behind a chart; each band's tooltip names the fault."""
    parts = []
    for start, end, label in intervals:
        x0, x1 = frame.x(start), frame.x(end)
        parts.append(f'<rect x="{x0:.1f}" y="{frame.top}" width="{max(1.0, x1 - x0):.1f}" '
                     f'height="{frame.plot_h:.1f}" fill="{FAULT_FILL}" opacity="0.55">'
                     f"<title>{esc(label)}</title></rect>")
    return "".join(parts)


def _ticks(maximum: float, count: int = 5) -> Sequence[float]:
    if maximum <= 0:
        return [0.0]
    raw = maximum / count
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    step = next((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), raw)
    out: list[float] = []
    v = 0.0
    while v <= maximum + 1e-9 and len(out) < 50:
        out.append(v)
        v += step
    return out


def x_axis(frame: Frame, *, unit: str = "s") -> str:
    base = frame.top + frame.plot_h
    parts = [f'<line x1="{frame.left}" y1="{base}" x2="{frame.left + frame.plot_w}" y2="{base}" stroke="#888"/>']
    for t in _ticks(frame.t_max_s, 8):
        x = frame.x(t)
        parts.append(f'<text x="{x:.1f}" y="{base + 15}" font-size="10" text-anchor="middle">{t:g}{unit}</text>')
    return "".join(parts)


def y_axis(frame: Frame, *, label: str) -> str:
    parts = [f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.top + frame.plot_h}" stroke="#888"/>',
             f'<text x="4" y="{frame.top + 10}" font-size="10">{esc(label)}</text>']
    for v in _ticks(frame.y_max, 4)[1:]:
        y = frame.y(v)
        parts.append(f'<text x="{frame.left - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{v:g}</text>'
                     f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.left + frame.plot_w}" y2="{y:.1f}" '
                     f'stroke="#eee"/>')
    return "".join(parts)
