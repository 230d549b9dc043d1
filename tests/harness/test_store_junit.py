from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.junit import CaseResult, to_junit_xml
from harness.store import new_run_dir


def test_run_dirs_are_unique_and_latest_follows_the_newest(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    first = new_run_dir(tmp_path, "leader isolation", now=now)
    second = new_run_dir(tmp_path, "leader isolation", now=now)
    assert first.path != second.path
    assert first.path.parent.name == "leader_isolation"
    assert first.path.name == "20260102T030405Z"
    assert (tmp_path / "latest").resolve() == second.path.resolve()
    second.write_json("results.json", {"valid": True})
    assert (tmp_path / "latest" / "results.json").read_text().strip().startswith("{")


def test_junit_counts_failures_and_unknowns_and_never_passes_unknown() -> None:
    xml = to_junit_xml(
        suite="halves",
        cases=[
            CaseResult(name="linearizable", outcome="fail", message="key k3 not linearizable", details="..."),
            CaseResult(name="final-reads", outcome="pass"),
            CaseResult(name="budget", outcome="unknown"),
        ],
        time_s=12.5,
    )
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["linearizable"].find("failure") is not None
    assert cases["budget"].find("error") is not None
    assert list(cases["final-reads"]) == []


def test_junit_rejects_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="outcome"):
        to_junit_xml(suite="s", cases=[CaseResult(name="x", outcome="maybe")], time_s=0)
