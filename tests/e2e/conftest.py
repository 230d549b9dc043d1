"""Fixtures for end-to-end tests: real Docker, the real images, a real Toxiproxy-API server. No mocks.

Every test cluster is its own compose project, `pxc-e2e-<pid>-<random>`, on its own free PORT_BASE, so
tests of parallel engineers (and parallel sessions) cannot collide. Teardown is label-based and runs
on success, on failure and on Ctrl-C (fixture finalizer), and again at interpreter exit (atexit) for
anything this process created. At session start, projects left by e2e sessions whose process is gone
(killed with SIGKILL) are removed too. Nothing that is not ours is ever touched.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.schema import PowerfsModel
from harness import images
from harness.cluster import Cluster, ClusterSpec, connect, list_projects, port_is_free, remove_project

PREFIX = "pxc-e2e-"
_created: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(projects: set[str]) -> None:
    client = connect()
    for project in projects:
        remove_project(client, project)


def _stale_projects() -> set[str]:
    """e2e projects whose creating process no longer exists."""
    stale = set()
    for project in list_projects(connect()):
        if project.startswith(PREFIX):
            pid = project[len(PREFIX):].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                stale.add(project)
    return stale


@atexit.register
def _cleanup_at_exit() -> None:
    if _created:
        try:
            _sweep(set(_created))
        except Exception:  # at exit there is no one left to report to; the next session sweeps
            pass


@pytest.fixture(scope="session")
def built_images() -> images.BuildReport:
    """Every image, built once per session (a no-op when `make images` already ran)."""
    _sweep(_stale_projects())
    return images.build_all()


def free_port_base(n: int, *, attempts: int = 50) -> int:
    """A PORT_BASE whose API port and n client ports are all free on 127.0.0.1 right now."""
    rng = random.Random()
    for _ in range(attempts):
        # Below the kernel's ephemeral range (32768+), where outgoing connections would squat ports.
        base = rng.randrange(10000, 32000, 10)
        spec = ClusterSpec(n=n, project="probe", port_base=base)
        if all(port_is_free(p) for p in spec.host_ports()):
            return base
    raise RuntimeError(f"no free PORT_BASE found in {attempts} attempts")


def new_project() -> str:
    name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}"
    _created.add(name)
    return name


def make_cluster(n: int, *, tmp_path: Path, env: dict[str, str] | None = None, target: str = "paxos",
                 powerfs: PowerfsModel | None = None) -> Cluster:
    """An un-started cluster with its own project and ports (paxos N=3 uses the committed file)."""
    spec = ClusterSpec(n=n, project=new_project(), port_base=free_port_base(n), env=env or {}, target=target,
                       powerfs=powerfs)
    committed = n == 3 and target == "paxos" and powerfs is None
    return Cluster(spec, workdir=None if committed else tmp_path / "compose")


@contextlib.contextmanager
def running(cluster: Cluster) -> Iterator[Cluster]:
    """Up (healthy within 120 s), then removed whatever happens."""
    try:
        cluster.up(timeout_s=120)
        yield cluster
    finally:
        cluster.down()
        _created.discard(cluster.spec.project)


# Short election timeouts keep failover tests quick; correctness never depends on them.
FAST = {"ELECTION_TIMEOUT_MS": "300", "HEARTBEAT_MS": "50"}


@pytest.fixture
def cluster(built_images: images.BuildReport, tmp_path: Path) -> Iterator[Cluster]:
    """A healthy 3-replica cluster behind Toxiproxy, removed afterwards whatever happens."""
    with running(make_cluster(3, tmp_path=tmp_path, env=FAST)) as c:
        yield c


def socket_refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0
