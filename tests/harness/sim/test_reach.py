"""`paxos-chaos sim --coverage`: the core's branch coverage over a sweep, per file, with every missed
branch named by its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.sim.reach import FileReach, _ranges, core_files, render


def test_the_core_is_the_paxos_package_and_the_kv() -> None:
    names = {p.name for p in core_files()}
    assert {"replica.py", "log.py", "messages.py", "kv.py"} <= names and "host.py" not in names


def test_a_short_sweep_under_coverage_prints_each_file_and_its_missed_branches(
        capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--coverage", "--seeds", "2", "--duration", "1s"]) == 0
    out = capfd.readouterr().out  # the sweep's lines come from the child process
    assert "every seed passed: 0..1" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("replica_image/")}
    assert "replica_image/paxos/replica.py" in rows and "replica_image/kv.py" in rows
    stmts, missed, branches, missed_branches = map(int, rows["replica_image/paxos/replica.py"][1:5])
    assert stmts > 300 and 0 < missed < stmts // 2 and branches > 100 and 0 < missed_branches < branches
    # two short seeds miss branches, and each is named with its source line
    assert "missed branches:" in out and "replica_image/paxos/replica.py:" in out


def test_render_totals_the_files_and_shows_the_source_line_of_a_missed_branch(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f(x):\n    if x:\n        return 1\n    return 2\n", encoding="utf-8")
    out = list(render([FileReach(path=src, statements=4, missing_lines=(3,), branches=2,
                                 missing_branches=((2, 3),))], root=tmp_path))
    assert out[1].split() == ["m.py", "4", "1", "2", "1", "50.0%"] and out[2].split()[-1] == "50.0%"
    assert "  m.py:2->3  if x:" in out and out[-1] == "lines never run: m.py: 3"


def test_ranges_are_compact() -> None:
    assert _ranges([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
