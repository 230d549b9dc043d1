"""Teardown leaves no container, network or volume of the project behind: after a failure inside the
cluster's block, after Ctrl-C, and through `python -m harness.cluster down`. Also the 5-replica file.

The failing program runs in a child process (so this test can watch it fail), and its project name is
chosen here so the check looks at exactly that project.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness import images, smoke
from harness.cluster import Cluster, connect, list_projects
from tests.e2e.conftest import free_port_base, make_cluster, new_project

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import signal, sys, time
    from harness.cluster import Cluster, ClusterSpec
    # Ctrl-C as in a terminal: a job started in the background (`.ci/run &`, nohup) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler of its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    spec = ClusterSpec(n=3, project=sys.argv[1], port_base=int(sys.argv[2]))
    with Cluster(spec) as c:
        c.up(timeout_s=120)
        print("UP", flush=True)
        if sys.argv[3] == "fail":
            raise RuntimeError("a test failed inside the cluster block")
        time.sleep(120)  # wait for Ctrl-C
""")


def leftovers(project: str) -> list[str]:
    client = connect()
    label: dict[str, str | list[str] | bool] = {"label": f"com.docker.compose.project={project}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            + [f"network {n.name}" for n in client.networks.list(filters=label)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=label)])


def run_child(mode: str) -> tuple[str, subprocess.Popen[str]]:
    project = new_project()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, project, str(free_port_base(3)), mode],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return project, proc


def wait_for_up(proc: subprocess.Popen[str], *, timeout_s: float = 150) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "UP":
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"child never came up: {proc.stderr.read() if proc.stderr else ''}")


def test_a_failure_inside_the_block_still_removes_everything(built_images: images.BuildReport) -> None:
    project, proc = run_child("fail")
    wait_for_up(proc)
    assert proc.wait(timeout=120) != 0
    assert proc.stderr is not None and "a test failed inside the cluster block" in proc.stderr.read()
    assert leftovers(project) == []


def test_ctrl_c_removes_everything(built_images: images.BuildReport) -> None:
    project, proc = run_child("sleep")
    wait_for_up(proc)
    assert leftovers(project), "the cluster should exist while the child runs"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert leftovers(project) == []
    assert project not in list_projects(connect())


def test_down_command_removes_a_cluster_left_running(built_images: images.BuildReport,
                                                      tmp_path: Path) -> None:
    cluster: Cluster = make_cluster(5, tmp_path=tmp_path)
    try:
        cluster.up(timeout_s=120)
        assert cluster.compose_file.parent == tmp_path / "compose"  # 5 replicas: generated, not committed
        assert len([s for s in cluster.health() if s.startswith("n")]) == 5
        leader = cluster.leader(timeout_s=30)
        assert smoke.put(cluster, leader, "five", "ok", request_id=1)[0] == 200
    finally:
        proc = subprocess.run([sys.executable, "-m", "harness.cluster", "--project", cluster.spec.project, "down"],
                              cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert leftovers(cluster.spec.project) == []
