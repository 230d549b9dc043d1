"""The report and the store's index in a real browser (headless Chromium, Debian's package): each page
loads without a console message and its screenshot is not blank. The screenshots of a passing and a
failing run and of the index are copied to the repository's `store/screenshots/` for a person to look
at (CI keeps the clone's store)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from faults.log import FaultInterval
from harness.browser import screenshot
from harness.checker import check, model_for, operations, parse
from harness.cli import main
from harness.junit import CaseResult
from harness.report import ReportInput, render_report

pytestmark = pytest.mark.processes

CORPUS = Path(__file__).resolve().parents[1] / "checker" / "corpus"
SHOWN = Path(__file__).resolve().parents[2] / "store" / "screenshots"


def distinct_colors(png: Path) -> int:
    with Image.open(png) as img:
        colors = img.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colors) if colors is not None else 1 << 20


def store_run(store: Path, name: str, corpus: str) -> Path:
    parsed = parse((CORPUS / corpus).read_text(), source=corpus)
    events = [dataclasses.replace(e, time=e.index * 10_000_000) for e in parsed.events]
    result = check(model_for(parsed.model), operations(events))
    failed = bool(result.counterexamples)
    run_dir = store / name / "20261206T080000Z"
    run_dir.mkdir(parents=True)
    (run_dir / "report.html").write_text(render_report(ReportInput(
        scenario=name, description="a recorded history", seed=1, nodes=3, duration_s=len(events) / 100,
        events=events, faults=[FaultInterval(start_s=1, end_s=2, label="partition halves")],
        cases=[CaseResult(name="linearizable", outcome="fail" if failed else "pass")], check=result,
        node_status=[{"node": 1, "role": "leader"}], files=("history.jsonl",))))
    (run_dir / "results.json").write_text(json.dumps({"target": "paxos", "seed": 1, "exit_code": int(failed),
                                                      "ops": len(events) // 2, "duration_s": 9.5}))
    return run_dir


def test_reports_and_the_index_render_with_no_console_message_and_are_not_blank(tmp_path: Path) -> None:
    store = tmp_path / "store"
    passing = store_run(store, "passing", "c01-ok.txt")
    failing = store_run(store, "failing", "c01-bad.txt")
    assert main(["report", str(store), "--screenshots", "5"]) == 0
    shots = {"index.png": store / "index.png", "passing-report.png": passing / "report.png",
             "failing-report.png": failing / "report.png"}
    for name, png in shots.items():
        assert png.is_file(), png
        assert distinct_colors(png) > 20, f"{png} looks blank"
        SHOWN.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, SHOWN / name)
    for page in (store / "index.html", passing / "report.html", failing / "report.html"):
        assert screenshot(page, tmp_path / "again.png").console == (), page


def test_a_console_error_and_a_blank_page_are_seen(tmp_path: Path) -> None:
    # The positive controls: the checks above can fail.
    broken = tmp_path / "broken.html"
    broken.write_text('<html><body><p>x</p><script>throw new Error("boom")</script></body></html>')
    shot = screenshot(broken, tmp_path / "broken.png", width=400, height=300)
    assert any("boom" in line for line in shot.console), shot.console
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    assert distinct_colors(screenshot(blank, tmp_path / "blank.png", width=400, height=300).png) <= 2
