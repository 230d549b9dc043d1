"""The store's index.html: every run newest first, with its verdict and a link that resolves; a broken
results.json is listed as such; whatever a results file says is escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.index import collect, render_index, write_index


def run(store: Path, scenario: str, stamp: str, **results: object) -> Path:
    run_dir = store / scenario / stamp
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(results))
    (run_dir / "report.html").write_text("<html></html>")
    return run_dir


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    run(root, "halves", "20261201T100000Z", target="paxos", seed=3, exit_code=0, ops=3200, duration_s=58.2)
    run(root, "kills", "20261203T090000Z", target="maelstrom", options={"node": "/x/y/memory_kv.js"}, seed=22,
        exit_code=1, ops=1731, duration_s=40.1)
    run(root, "halves", "20261202T100000Z", target="etcd", options={"reads": "serializable"}, seed=4,
        exit_code=3, ops=10, duration_s=1.0)
    broken = run(root, "odd", "20261204T000000Z")
    (broken / "results.json").write_text("{not json")
    (root / "detect" / "20261205T000000Z").mkdir(parents=True)
    (root / "detect" / "20261205T000000Z" / "detect.md").write_text("| bug |")
    (root / "halves" / "20261206T000000Z").mkdir()  # a run that died before writing results: not listed
    (root / "latest").symlink_to("kills/20261203T090000Z")
    return root


def test_every_run_is_listed_newest_first_with_its_verdict(store: Path) -> None:
    rows = collect(store)
    assert [(r.name, r.started) for r in rows] == [
        ("detect", "20261205T000000Z"), ("odd", "20261204T000000Z"), ("kills", "20261203T090000Z"),
        ("halves", "20261202T100000Z"), ("halves", "20261201T100000Z")]
    html = render_index(rows)
    cells = re.findall(r"<tr>(.*?)</tr>", html)[1:]
    assert "TABLE" in cells[0] and 'href="detect/20261205T000000Z/detect.md"' in cells[0]
    assert "UNREADABLE" in cells[1] and "results.json unreadable" in cells[1]
    assert "maelstrom (memory_kv.js)" in cells[2] and "FAILED" in cells[2] and "1,731" in cells[2]
    assert "etcd (reads: serializable)" in cells[3] and "UNDECIDED" in cells[3]
    assert "PASSED" in cells[4] and "2026-12-01 10:00:00 UTC" in cells[4] and "58 s" in cells[4]
    assert "4 runs: 1 passed, 1 failed, 1 undecided" in html


def test_every_link_resolves_inside_the_store(store: Path) -> None:
    page = write_index(store)
    links = re.findall(r'href="([^"]+)"', page.read_text())
    assert len(links) == 5
    for link in links:
        assert (store / link).is_file(), link


def test_what_a_results_file_says_is_escaped(tmp_path: Path) -> None:
    run(tmp_path, "x", "20261201T000000Z", target="<script>alert(1)</script>", seed="<b>", exit_code=0)
    html = render_index(collect(tmp_path))
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>" not in html


def test_paxos_chaos_report_rebuilds_it_and_refuses_a_missing_store(store: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(store)]) == 0
    assert (store / "index.html").is_file() and capsys.readouterr().out.strip() == str(store / "index.html")
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such store" in capsys.readouterr().err


def test_an_empty_store_says_so(tmp_path: Path) -> None:
    assert "no runs yet" in write_index(tmp_path / "fresh").read_text()
