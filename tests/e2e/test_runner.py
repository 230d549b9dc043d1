"""`paxos-chaos run` end to end: real Docker, the real Toxiproxy-API server, real fsync, no mocks.

- Shipped scenarios of the default suite pass on the correct replica, with thousands of operations,
  and their faults are visible in the history (ops fail or time out while a fault is on).
- The pipeline can fail: with BUGS=local-reads a partition scenario is reported non-linearizable (exit 1).
- Ctrl-C (SIGINT) in the middle of a run heals, tears down and leaves nothing behind (exit 130).

Each run is its own compose project on free ports, and the test checks that nothing of it is left.
`make chaos` runs the whole default suite; benchmarks/RESULTS.md has its figures.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from harness import images
from harness.cluster import Cluster, ClusterSpec
from tests.e2e.conftest import free_port_base, new_project
from tests.e2e.test_teardown import leftovers

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 400


def run_cmd(*args: str, project: str, store: Path) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "run", *args, "--project", project,
            "--port-base", str(free_port_base(7)), "--store", str(store)]


def run(*args: str, store: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    project = new_project()
    try:
        proc = subprocess.run(run_cmd(*args, project=project, store=store), cwd=ROOT, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S, check=False)
    finally:
        assert leftovers(project) == [], f"run left {leftovers(project)} behind"
    return proc, project


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def faulty_completions(run_dir: Path) -> int:
    """Completions that were fail or info while some fault was applied (from faults.jsonl)."""
    faults = jsonl(run_dir / "faults.jsonl")
    on: list[tuple[int, int]] = []
    open_: dict[int, int] = {}
    for rec in faults:
        if rec["action"] == "apply":
            open_[rec["step"]] = rec["time"]
        elif rec["action"] == "heal" and rec["step"] in open_:
            on.append((open_.pop(rec["step"]), rec["time"]))
        elif rec["action"] == "heal-all":
            on += [(t, rec["time"]) for t in open_.values()]
            open_.clear()
    return sum(1 for e in jsonl(run_dir / "history.jsonl")
               if e["type"] in ("fail", "info") and any(a <= e["time"] <= b for a, b in on))


@pytest.mark.parametrize("name,faulty", [("no-faults", False), ("leader-isolation", True),
                                         ("kill-random", True)])
def test_shipped_scenario_passes_on_the_correct_replica(built_images: images.BuildReport, tmp_path: Path,
                                                        name: str, faulty: bool) -> None:
    proc, _ = run(f"scenarios/{name}.yaml", store=tmp_path / "store")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    run_dir = (tmp_path / "store" / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["exit_code"] == 0 and results["check"]["verdict"] == "valid", results["cases"]
    assert all(c["outcome"] == "pass" for c in results["cases"]), results["cases"]
    # The workload ran in earnest. A floor, not a speed: ops per run depend on the machine's load (1,331
    # of a usual 1,900 for no-faults on a loaded 2-core machine), and tests never assert speed.
    assert results["ops"] >= 200, results["ops"]
    for name_ in ("history.jsonl", "faults.jsonl", "report.html", "junit.xml", "scenario.yaml", "logs/n1.log"):
        assert (run_dir / name_).is_file(), name_
    if faulty:
        assert faulty_completions(run_dir) > 0, "no op failed or timed out while the faults were on"
    else:
        assert not [r for r in jsonl(run_dir / "faults.jsonl") if r["action"] == "apply"]


LOCAL_READS = textwrap.dedent("""
    description: Isolate the leader, then halves, while gets are served from local state (BUGS=local-reads).
    seed: 3
    cluster: {size: 3, bugs: [local-reads]}
    workload: {duration: 25s, concurrency: 6, rate: 120, keys: 3}
    faults:
      - partition: {shape: isolate-leader, mode: drop}
        at: 5s
        for: 8s
      - partition: {shape: halves, mode: drop}
        at: 15s
        for: 7s
""")


def test_a_partition_catches_local_reads(built_images: images.BuildReport, tmp_path: Path) -> None:
    scenario = tmp_path / "local-reads.yaml"
    scenario.write_text(LOCAL_READS)
    proc, _ = run(str(scenario), store=tmp_path / "store")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
    assert results["check"]["verdict"] == "invalid", results["cases"]
    assert "FAILED" in proc.stdout
    report = (tmp_path / "store" / "latest" / "report.html").read_text()
    assert "counterexample" in report.lower()


def test_ctrl_c_mid_run_heals_and_removes_everything(built_images: images.BuildReport, tmp_path: Path) -> None:
    project = new_project()
    proc = subprocess.Popen(run_cmd("scenarios/leader-isolation.yaml", project=project, store=tmp_path / "store"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        seen = ""
        while time.monotonic() < deadline and "cluster up" not in seen:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen += line
        assert "cluster up" in seen, seen + (proc.stderr.read() if proc.stderr else "")
        time.sleep(8)  # into the workload, with the first partition applied (at 5s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (seen + out + err)[-4000:]
    assert "healing and tearing down" in err
    assert leftovers(project) == []
    faults = jsonl((tmp_path / "store" / "latest" / "faults.jsonl").resolve())
    assert any(r["action"] == "heal-all" for r in faults), faults


SHORT = textwrap.dedent("""
    description: A short fault-free run, to start after a leftover cluster of the same project.
    seed: 1
    cluster: {size: 3}
    workload: {duration: 4s, concurrency: 2, rate: 20, keys: 2}
""")


def test_a_leftover_cluster_of_the_same_project_is_removed_and_the_run_goes_on(
        built_images: images.BuildReport, tmp_path: Path) -> None:
    project, base = new_project(), free_port_base(3)
    # what a run killed with SIGKILL leaves: a whole cluster of the project, on the run's ports
    Cluster(ClusterSpec(n=3, project=project, port_base=base), workdir=tmp_path / "compose").up()
    assert leftovers(project)
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SHORT)
    try:
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), "--project", project,
                               "--port-base", str(base), "--store", str(tmp_path / "store")],
                              cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    finally:
        assert leftovers(project) == [], f"run left {leftovers(project)} behind"
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert f"removed a leftover cluster of project {project}" in proc.stdout, proc.stdout[-2000:]
    assert "PASSED" in proc.stdout
