"""Disk faults end to end: power loss under powerfs and corruption of a stopped node's files.

Real Docker, the real images, real FUSE (powerfs in each container) and real fsync; no mocks. The
faults are applied through `faults.docker.DockerProcesses`, what the nemesis uses in a run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.docker import DockerProcesses
from faults.schema import PowerfsModel
from harness import images, smoke
from harness.cluster import Cluster
from targets.contract import Answer, Op
from tests.e2e.conftest import FAST, make_cluster, running
from tests.e2e.test_cluster import read, value_of, write
from tests.e2e.test_targets import attempt, until

KEYS = 5


def procs(cluster: Cluster) -> DockerProcesses:
    return DockerProcesses(nodes=list(cluster.nodes), lookup=cluster.container)


def power_cycle_all(cluster: Cluster) -> None:
    """Every node loses power at once, then all start again."""
    async def main() -> None:
        p = procs(cluster)
        await asyncio.gather(*(p.power_loss(i) for i in cluster.nodes))
        for i in cluster.nodes:
            await p.start(i)

    asyncio.run(main())
    cluster.wait_healthy(timeout_s=90)


def write_keys(cluster: Cluster, prefix: str = "durable", first_request: int = 0) -> None:
    cluster.leader(timeout_s=30)
    for rid in range(KEYS):
        write(cluster, 1 + rid % 3, f"{prefix}-{rid}", f"v{rid}", request_id=first_request + rid)


def read_keys(cluster: Cluster, prefix: str = "durable") -> list[object]:
    cluster.leader(timeout_s=60)
    out = []
    for rid in range(KEYS):
        status, body = smoke.get(cluster, 1 + (rid + 1) % 3, f"{prefix}-{rid}")
        out.append(value_of(body) if status == 200 else None)
    return out


@pytest.fixture
def skip_fsync(built_images: images.BuildReport, tmp_path: Path) -> Iterator[Cluster]:
    with running(make_cluster(3, tmp_path=tmp_path, env={**FAST, "BUGS": "skip-fsync"}, powerfs="strict")) as c:
        yield c


@pytest.fixture
def correct(built_images: images.BuildReport, tmp_path: Path) -> Iterator[Cluster]:
    with running(make_cluster(3, tmp_path=tmp_path, env=FAST, powerfs="strict")) as c:
        yield c


def test_power_loss_drops_what_skip_fsync_never_synced(skip_fsync: Cluster) -> None:
    write_keys(skip_fsync, "crash")
    # A kill -9 keeps it all (the page cache is the kernel's): the bug is invisible to a crash...
    for i in skip_fsync.nodes:
        skip_fsync.container(i).kill(signal="SIGKILL")
        skip_fsync.container(i).start()
    skip_fsync.wait_healthy(timeout_s=90)
    assert read_keys(skip_fsync, "crash") == [f"v{rid}" for rid in range(KEYS)]
    # ...and a power loss is not: nothing written since was fsynced, so those acknowledged writes are
    # gone. (What a node found at its start counts as durable: powerfs's model, docs/powerfs.md.)
    write_keys(skip_fsync, "power", first_request=KEYS)
    power_cycle_all(skip_fsync)
    assert read_keys(skip_fsync, "power") == [None] * KEYS
    assert read_keys(skip_fsync, "crash") == [f"v{rid}" for rid in range(KEYS)]


def test_a_correct_replica_keeps_every_acknowledged_write_and_handles_corruption(correct: Cluster) -> None:
    write_keys(correct)
    power_cycle_all(correct)
    assert read_keys(correct) == [f"v{rid}" for rid in range(KEYS)]

    p = procs(correct)

    async def damage(node: int, where: str) -> tuple[dict[str, object], str | None]:
        done = await p.corrupt(node, where=where, salt=7, data_dir="/data")
        await p.start(node)
        return done, await p.refused_start(node, within_s=8)

    # A torn tail: the partial record is cut and the node rejoins with the rest.
    done, refused = asyncio.run(damage(1, "tail"))
    assert done["where"] == "tail" and isinstance(done["cut_bytes"], int) and done["cut_bytes"] >= 1
    assert refused is None, refused
    correct.wait_healthy(timeout_s=60)
    # A flipped byte: the node refuses to start rather than serve from damaged state.
    done, refused = asyncio.run(damage(2, "random"))
    assert done["where"] == "random" and done["old"] != done["new"]
    assert refused is not None and "corrupt" in refused, refused
    # The majority (n1, n3) still has every acknowledged write, and serves.
    for rid in range(KEYS):
        assert read(correct, 1 if rid % 2 else 3, f"durable-{rid}") == f"v{rid}"


@pytest.mark.parametrize("model", ["ext4", "strict"])
def test_etcd_as_shipped_through_a_first_life_power_loss(model: PowerfsModel, built_images: images.BuildReport,
                                                         tmp_path: Path) -> None:
    """etcd 3.4 never fsyncs its data directory after creating `member/` in it. On ext4 (any fsync commits
    the journal) every acknowledged write survives; under strict POSIX rules the whole member directory
    is gone and the cluster comes back empty (the class of etcd-io/etcd#6368 and #22340)."""
    with running(make_cluster(3, tmp_path=tmp_path, target="etcd", powerfs=model)) as etcd:
        leader = etcd.leader(timeout_s=30)
        for k in range(KEYS):
            assert attempt(etcd, leader, Op(f="put", key=f"k{k}", value=f"v{k}")).kind == "ok"
        power_cycle_all(etcd)
        want = [Answer(kind="ok", read=f"v{k}" if model == "ext4" else None) for k in range(KEYS)]
        for k in range(KEYS):
            until(lambda k=k: attempt(etcd, 1 + k % 3, Op(f="get", key=f"k{k}")) == want[k],
                  timeout_s=60, what=f"k{k} read back after the power loss as {want[k]}")
