"""`paxos-chaos detect`'s pure parts: which scenarios a bug meets first, the table, the bug names."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.detect import HINTS, Detection, order, render
from harness.scenario import load_scenario, scenario_files
from replica_image.bugs import KNOWN_BUGS

SUITE = [load_scenario(p) for p in scenario_files(Path(__file__).resolve().parents[2] / "scenarios")]


def test_every_bug_has_hints_naming_shipped_scenarios() -> None:
    names = {s.name for s in SUITE}
    assert set(HINTS) == KNOWN_BUGS
    for bug, hints in HINTS.items():
        assert hints and set(hints) <= names, (bug, set(hints) - names)


def test_order_puts_the_hints_first_and_keeps_the_whole_suite() -> None:
    ordered = order(SUITE, "no-fsync")
    assert [s.name for s in ordered[:3]] == list(HINTS["no-fsync"])
    assert sorted(s.name for s in ordered) == sorted(s.name for s in SUITE)
    rest = [s.name for s in ordered[3:]]
    assert rest == sorted(rest)


def test_render_shows_caught_and_missed_bugs_and_the_rate() -> None:
    table = render([
        Detection(bug="local-reads", caught=True, scenario="halves", seed=3, runs=2, seconds=95.4,
                  failures=("leader-isolation",), report="r.html"),
        Detection(bug="no-dedup", caught=False, scenario=None, seed=None, runs=14, seconds=900.0, failures=(),
                  report=None),
    ])
    assert "| local-reads | yes | halves (3) | 95 s | 2 | leader-isolation |" in table
    assert "| no-dedup | NO | - | 900 s | 14 | - |" in table
    assert table.endswith("detection rate: 1/2")


def test_unknown_bug_names_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--bugs", "local-reads,nope"]) == 2
    assert "unknown bug(s) ['nope']" in capsys.readouterr().err
