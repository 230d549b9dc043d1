"""The store's index: `store/index.html`, every run in the store, newest first (Jepsen's `lein run serve`,
as one static file).

One row per run directory `store/<scenario>/<time>/` that holds a `results.json`: scenario, target,
seed, verdict, operations, duration, start time, and a link to its report.html; one row per `detect`
run (`store/detect/<time>/detect.md`) linking its table. It is rebuilt after every run and by
`paxos-chaos report [STORE]`. A run directory whose results.json cannot be read is listed as such
rather than stopping the index. The page is self-contained (inline CSS, relative links only), so the
store can be copied, uploaded as a CI artifact, or served as it is.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.junit import verdict_word
from harness.report.svg import esc
from harness.store import RunDir

__all__ = ["IndexRow", "collect", "refresh_index", "render_index", "write_index"]

MAX_ROWS = 5_000  # a store of years of nightlies still gives a page a browser opens at once
_CSS = {0: "good", 1: "bad", 3: "unk"}  # by exit code; the words are junit.verdict_word's


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexRow:
    """One run of the store. `link` is relative to the store; `problem` says why the rest is missing."""

    kind: str  # "run" or "detect"
    name: str
    started: str  # the run directory's name: a sortable UTC time
    link: str
    target: str = ""
    seed: str = ""
    exit_code: int | None = None
    ops: int | None = None
    duration_s: float | None = None
    problem: str = ""


def _started(stamp: str) -> str:
    try:
        when = datetime.strptime(stamp[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return stamp
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _run_row(store: Path, results: Path) -> IndexRow:
    run_dir = results.parent
    link = run_dir.relative_to(store).as_posix() + "/report.html"
    name, started = run_dir.parent.name, run_dir.name
    try:
        data: Any = json.loads(results.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return IndexRow(kind="run", name=name, started=started, link=link,
                        problem=f"results.json unreadable: {exc}"[:200])
    code, ops, duration = data.get("exit_code"), data.get("ops"), data.get("duration_s")
    return IndexRow(kind="run", name=name, started=started, link=link, target=_target(data),
                    seed=str(data.get("seed", ""))[:30],
                    exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                    ops=ops if isinstance(ops, int) and not isinstance(ops, bool) else None,
                    duration_s=float(duration) if isinstance(duration, (int, float)) else None)


def _target(data: dict[str, Any]) -> str:
    """The target with its options, a path by its file name: `maelstrom (memory_kv.js)`."""
    raw = data.get("options")
    options: dict[str, Any] = raw if isinstance(raw, dict) else {}
    shown = [os.path.basename(v) if k == "node" else f"{k}: {v}" for k, v in sorted(options.items())
             if isinstance(v, str)]
    target = str(data.get("target", "paxos"))[:40]
    return f"{target} ({', '.join(shown)})"[:120] if shown else target


def collect(store: Path) -> list[IndexRow]:
    """Every run of `store`, newest first (at most MAX_ROWS)."""
    rows: list[IndexRow] = []
    if not store.is_dir():
        return rows
    for scenario_dir in sorted(p for p in store.iterdir() if p.is_dir() and not p.is_symlink()):
        for run_dir in sorted(p for p in scenario_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            if scenario_dir.name == "detect" and (run_dir / "detect.md").is_file():
                rows.append(IndexRow(kind="detect", name="detect", started=run_dir.name,
                                     link=run_dir.relative_to(store).as_posix() + "/detect.md"))
            elif (run_dir / "results.json").is_file():
                rows.append(_run_row(store, run_dir / "results.json"))
    rows.sort(key=lambda r: (r.started, r.name), reverse=True)
    return rows[:MAX_ROWS]


def _cells(r: IndexRow) -> str:
    if r.kind == "detect":
        return (f'<td>{esc(r.name)}</td><td colspan="2">deliberate bugs, simulator and suite</td>'
                f'<td class="unk">TABLE</td><td></td><td></td><td>{esc(_started(r.started))}</td>'
                f'<td><a href="{esc(r.link)}">detect.md</a></td>')
    verdict = verdict_word(r.exit_code) if r.exit_code is not None else "?"
    css = _CSS.get(r.exit_code, "bad") if r.exit_code is not None else "unk"
    if r.problem:
        verdict, css = "UNREADABLE", "bad"
    ops = f"{r.ops:,}" if r.ops is not None else ""
    took = f"{r.duration_s:.0f} s" if r.duration_s is not None else ""
    title = f' title="{esc(r.problem)}"' if r.problem else ""
    return (f"<td>{esc(r.name)}</td><td>{esc(r.target)}</td><td>{esc(r.seed)}</td>"
            f'<td class="{css}"{title}>{verdict}</td><td class="num">{ops}</td><td class="num">{took}</td>'
            f'<td>{esc(_started(r.started))}</td><td><a href="{esc(r.link)}">report</a></td>')


def render_index(rows: Sequence[IndexRow], *, title: str = "paxos-chaos store") -> str:
    """The whole HTML document."""
    runs = [r for r in rows if r.kind == "run"]
    counts = {verdict_word(k): sum(1 for r in runs if not r.problem and r.exit_code == k) for k in _CSS}
    summary = ", ".join(f"{n} {v.lower()}" for v, n in counts.items() if n) or "no runs yet"
    body = "".join(f"<tr>{_cells(r)}</tr>" for r in rows)
    cut = (f'<p class="note">Only the newest {MAX_ROWS:,} runs are listed.</p>' if len(rows) >= MAX_ROWS else "")
    css = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
           "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;"
           "text-align:left}th{background:#f4f4f4}.num{text-align:right}.good{color:#2b7a46;font-weight:bold}"
           ".bad{color:#b52a2a;font-weight:bold}.unk{color:#a07000;font-weight:bold}.note{color:#666}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{css}</style></head><body><h1>{esc(title)}</h1>"
            f'<p>{len(runs):,} runs: {esc(summary)}. Newest first; each report opens offline.</p>'
            "<table><tr><th>scenario</th><th>target</th><th>seed</th><th>verdict</th><th>ops</th>"
            f"<th>duration</th><th>started</th><th></th></tr>{body}</table>{cut}</body></html>\n")


def write_index(store: Path) -> Path:
    """Rebuild `store/index.html` (atomically: a reader never sees half a page); returns its path."""
    return RunDir(store).write_text("index.html", render_index(collect(store)))


def refresh_index(store: Path) -> None:
    """`write_index` after a run: a store that cannot take the index (full disk, read-only) is said on
    stderr and never fails the run whose results are already written."""
    try:
        write_index(store)
    except OSError as exc:
        print(f"paxos-chaos: could not rebuild {store / 'index.html'}: {exc}", file=sys.stderr)
