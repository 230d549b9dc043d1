"""JUnit XML for CI: one <testsuite> per scenario run, one <testcase> per check.

CI systems (GitHub Actions, GitLab, Jenkins) read this format to show which scenario failed. A check
whose verdict is unknown is reported as an <error> (not a pass, not a failure of the system under
test), matching DESIGN section 10's exit code 3.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CaseResult", "to_junit_xml"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """One check of one scenario run."""

    name: str
    outcome: str  # "pass" | "fail" | "unknown"
    message: str = ""
    details: str = ""
    time_s: float = 0.0


def to_junit_xml(*, suite: str, cases: Sequence[CaseResult], time_s: float) -> str:
    """Render one scenario run as a JUnit XML document (a string, UTF-8 declared)."""
    failures = sum(1 for c in cases if c.outcome == "fail")
    errors = sum(1 for c in cases if c.outcome == "unknown")
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{time_s:.3f}",
    )
    for case in cases:
        tc = ET.SubElement(ts, "testcase", classname=f"paxos-chaos.{suite}", name=case.name, time=f"{case.time_s:.3f}")
        if case.outcome == "fail":
            el = ET.SubElement(tc, "failure", message=case.message, type="violation")
            el.text = case.details
        elif case.outcome == "unknown":
            el = ET.SubElement(tc, "error", message=case.message or "could not decide within the budget", type="unknown")
            el.text = case.details
        elif case.outcome != "pass":
            raise ValueError(f"CaseResult.outcome must be pass, fail or unknown, got {case.outcome!r}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
