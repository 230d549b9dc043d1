"""The run directory of a scenario run in the simulator: the same files as a Docker run's
(`harness.store`, `harness.runner`), so the two worlds' runs read the same way. The only I/O of
`paxos-chaos sim FILE`."""

from __future__ import annotations

import io
import json
from pathlib import Path

from faults.log import FaultLog
from harness.junit import to_junit_xml
from harness.report import ReportInput, render_report
from harness.sim.scenario_run import ScenarioRun, cases, explain
from harness.store import RunDir, new_run_dir
from workloads.history import write_jsonl

__all__ = ["write_run"]


def write_run(run: ScenarioRun, store: Path) -> RunDir:
    """Write the run's directory as a Docker run's (`store/<scenario>/<time>/`, harness.store): scenario.yaml,
    history.jsonl, faults.jsonl, results.json, junit.xml, report.html, plus summary.txt (the simulator's own
    fault log). The index page is not refreshed here (the CLI does it)."""
    s, r = run.scenario, run.result
    out = new_run_dir(store, s.name)
    try:
        text = Path(s.source).read_text(encoding="utf-8")
    except OSError:
        text = f"# scenario {s.name} (source {s.source} not readable)\n"
    out.write_text("scenario.yaml", f"# run in the simulator with seed {run.seed}\n{text}")
    buf = io.StringIO()
    write_jsonl(r.events, buf)
    out.write_text("history.jsonl", buf.getvalue())
    out.write_text("faults.jsonl", "".join(json.dumps(f.to_dict()) + "\n" for f in run.faults))
    found = cases(r)
    exit_code = 1 if any(c.outcome == "fail" for c in found) else 3 if any(c.outcome == "unknown" for c in found) else 0
    duration_s = r.virtual_ms / 1000
    out.write_json("results.json", {
        "scenario": s.name, "world": "simulator", "target": s.cluster.target, "seed": run.seed,
        "bugs": sorted(r.config.bugs), "exit_code": exit_code, "ops": r.ops, "duration_s": duration_s,
        "reproduce": run.reproduce(), "warnings": list(run.warnings),
        "cases": [{"name": c.name, "outcome": c.outcome, "message": c.message} for c in found],
        "check": r.check.to_dict() if r.check else None})
    out.write_text("junit.xml", to_junit_xml(suite=s.name, cases=found, time_s=duration_s))
    out.write_text("summary.txt", "\n".join(explain(run)) + "\n")
    log = FaultLog(clock_ns=lambda: 0, records=list(run.faults))
    out.write_text("report.html", render_report(ReportInput(
        scenario=s.name, description=s.description, seed=run.seed, nodes=s.cluster.size, duration_s=duration_s,
        events=r.events, faults=log.intervals(end_s=duration_s), cases=found, check=r.check,
        reproduce=run.reproduce(), target="paxos (simulator, virtual time)",
        files=("history.jsonl", "faults.jsonl", "results.json", "junit.xml", "scenario.yaml", "summary.txt"))))
    return out
