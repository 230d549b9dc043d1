"""JUnit XML for CI: one <testsuite> per scenario run, one <testcase> per check.

CI systems (GitHub Actions, GitLab, Jenkins) read this format to show which scenario failed. A check
whose verdict is unknown is reported as an <error> (not a pass, not a failure of the system under
test), matching DESIGN section 10's exit code 3. A check the target cannot support ("not available",
DESIGN 13) is <skipped>: never counted as a pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["AGREEMENT", "FINAL_READS", "LINEARIZABLE", "LIVENESS", "NOT_AVAILABLE", "CaseResult", "to_junit_xml",
           "verdict_word"]

NOT_AVAILABLE = "not available"
# The checks of a run, by name: a Docker run (harness.runner) and a simulated one (harness.sim.scenario_run)
# report under these, so both read the same way and `detect` reads both.
LINEARIZABLE = "linearizable"
AGREEMENT = "agreement: same slots applied, same state"
LIVENESS = "liveness: leader and convergence after heal"
FINAL_READS = "final reads"


def verdict_word(exit_code: int) -> str:
    """What a run's exit code says to a person: the one wording of the summary, the logs and the index."""
    return {0: "PASSED", 1: "FAILED", 3: "UNDECIDED"}.get(exit_code, f"exit {exit_code}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """One check of one scenario run."""

    name: str
    outcome: str  # "pass" | "fail" | "unknown" | NOT_AVAILABLE
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
        skipped=str(sum(1 for c in cases if c.outcome == NOT_AVAILABLE)),
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
        elif case.outcome == NOT_AVAILABLE:
            ET.SubElement(tc, "skipped", message=case.message or "not available for this target")
        elif case.outcome != "pass":
            raise ValueError(f"CaseResult.outcome must be pass, fail, unknown or {NOT_AVAILABLE}, "
                             f"got {case.outcome!r}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
