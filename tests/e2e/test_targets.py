"""Targets end to end: etcd 3.4 behind Toxiproxy (every directed peer link its own proxy), and the
bad-input paths every target shares (an image that fails to build, a node that fails to start).

Real Docker, the real etcd from Debian, the real Toxiproxy-API server. Nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness import images, smoke
from harness.cluster import Cluster, ClusterSpec
from targets.contract import Answer, Op
from targets.errors import InfraError
from targets.paxos import PaxosTarget
from targets.registry import get_target
from tests.e2e.conftest import _created, free_port_base, make_cluster, new_project, running
from tests.e2e.test_runner import run
from tests.e2e.test_teardown import leftovers

ETCD = get_target("etcd")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def etcd(built_images: images.BuildReport, tmp_path: Path) -> Iterator[Cluster]:
    with running(make_cluster(3, tmp_path=tmp_path, target="etcd")) as c:
        yield c
    assert leftovers(c.spec.project) == []


def attempt(cluster: Cluster, node: int, op: Op, *, options: Mapping[str, str] | None = None,
            timeout_s: float = 5.0) -> Answer:
    async def main() -> Answer:
        async with aiohttp.ClientSession() as session:
            try:
                return await ETCD.adapter(options or {}).attempt(
                    session, cluster.client_url(node), op, client_id="t", request_id=0,
                    timeout=aiohttp.ClientTimeout(total=timeout_s))
            except asyncio.TimeoutError:
                return Answer(kind="unknown", error="timeout")

    return asyncio.run(main())


def until(check: Any, *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not within {timeout_s:.0f} s (last: {last})")


def test_etcd_serves_every_op_through_the_client_proxies(etcd: Cluster) -> None:
    leader = etcd.leader(timeout_s=30)
    assert leader in (1, 2, 3)
    assert attempt(etcd, 1, Op(f="put", key="k", value="a")).kind == "ok"
    assert attempt(etcd, 2, Op(f="get", key="k")) == Answer(kind="ok", read="a")
    assert attempt(etcd, 3, Op(f="cas", key="k", expect="a", value="b")).kind == "ok"
    assert attempt(etcd, 3, Op(f="cas", key="k", expect="a", value="c")) == Answer(kind="fail", error="precondition")
    assert attempt(etcd, 1, Op(f="cas", key="new", expect=None, value="x")).kind == "ok"
    assert attempt(etcd, 1, Op(f="cas", key="new", expect=None, value="y")).kind == "fail"
    assert attempt(etcd, 2, Op(f="delete", key="k")).kind == "ok"
    assert attempt(etcd, 1, Op(f="get", key="k")) == Answer(kind="ok", read=None)
    states = until(lambda: (s := etcd.common_states()) and len({x.digest for x in s}) == 1
                   and None not in {x.digest for x in s} and s, timeout_s=20, what="one hash at a common revision")
    assert {s.index for s in states} == {states[0].index}


def test_an_isolated_leader_is_replaced_refuses_writes_and_catches_up(etcd: Cluster) -> None:
    old = etcd.leader(timeout_s=30)
    assert attempt(etcd, old, Op(f="put", key="k", value="before")).kind == "ok"
    touched = smoke.isolate(etcd, old)
    assert len(touched) == 4  # both directions to both others: the DNAT sends peer traffic through them
    rest = [i for i in etcd.nodes if i != old]
    new = etcd.leader(timeout_s=60, among=rest)
    assert new != old
    assert attempt(etcd, new, Op(f="put", key="k", value="majority")).kind == "ok"
    # The old leader cannot commit: its write never ends ok, and a linearizable read there fails.
    assert attempt(etcd, old, Op(f="put", key="k", value="minority"), timeout_s=3).kind != "ok"
    assert attempt(etcd, old, Op(f="get", key="k"), timeout_s=3).kind != "ok"
    # A serializable read there is answered from its own state: stale (the finding the suite reproduces).
    stale = attempt(etcd, old, Op(f="get", key="k"), options={"reads": "serializable"}, timeout_s=3)
    assert stale == Answer(kind="ok", read="before")
    smoke.heal(etcd)
    until(lambda: attempt(etcd, old, Op(f="get", key="k")) == Answer(kind="ok", read="majority"),
          timeout_s=30, what="the old leader catching up")


def test_kill_9_and_restart_keeps_the_data_and_the_routing(etcd: Cluster) -> None:
    leader = etcd.leader(timeout_s=30)
    assert attempt(etcd, leader, Op(f="put", key="durable", value="v")).kind == "ok"
    # A follower: killing the leader would make the next write wait out an election (it may then end
    # `unknown`, rightly); what is tested here is the restarted member's data and routing.
    victim = next(i for i in etcd.nodes if i != leader)
    etcd.container(victim).kill(signal="SIGKILL")
    assert attempt(etcd, leader, Op(f="put", key="while-down", value="w")).kind == "ok"
    etcd.container(victim).start()
    etcd.wait_healthy(timeout_s=60)
    until(lambda: attempt(etcd, victim, Op(f="get", key="while-down")) == Answer(kind="ok", read="w"),
          timeout_s=30, what="the restarted member catching up")
    # Its peer links still run through Toxiproxy after the restart: cut them and it loses the cluster.
    smoke.isolate(etcd, victim)
    assert attempt(etcd, victim, Op(f="get", key="durable"), timeout_s=3).kind != "ok"
    smoke.heal(etcd)


def test_a_shipped_scenario_passes_on_etcd(built_images: images.BuildReport, tmp_path: Path) -> None:
    proc, _ = run(str(ROOT / "scenarios" / "leader-isolation.yaml"), "--target", "etcd", store=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 etcd nodes" in proc.stdout


def test_serializable_reads_are_caught_with_a_stale_read(built_images: images.BuildReport, tmp_path: Path) -> None:
    proc, _ = run(str(ROOT / "scenarios" / "etcd" / "serializable-reads.yaml"), store=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    found = list(tmp_path.rglob("results.json"))
    assert len(found) == 1
    results = json.loads(found[0].read_text())
    assert results["target"] == "etcd" and results["options"] == {"reads": "serializable"}
    assert results["check"]["verdict"] == "invalid"
    examples = [p["counterexample"] for p in results["check"]["partitions"] if p["counterexample"]]
    # the counterexample is a read that returned a value the majority had already replaced
    assert examples and any(op["f"] == "get" for ex in examples for op in ex["operations"])


class _Broken(PaxosTarget):
    """A target whose Dockerfile cannot build: what a user sees when their image fails."""

    name = "broken"
    image = "paxos-chaos/broken-test:latest"

    def build_context(self, ctx: Path, *, base: str, project_base: bool) -> None:
        (ctx / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN exit 7\n", encoding="utf-8")


def test_an_image_that_fails_to_build_names_the_target_and_the_log(built_images: images.BuildReport) -> None:
    client = images.connect()
    with pytest.raises(InfraError) as err:
        images.build_target(client, _Broken(), built_images.python_base, force=True)
    text = str(err.value)
    assert text.startswith("target broken:") and "RUN exit 7" in text and "returned a non-zero code: 7" in text


def test_a_node_that_fails_to_start_names_the_target_the_node_and_its_log(built_images: images.BuildReport,
                                                                          tmp_path: Path) -> None:
    spec = ClusterSpec(n=3, project=new_project(), port_base=free_port_base(3), env={"TICK_MS": "-5"})
    cluster = Cluster(spec, workdir=tmp_path / "compose")
    with pytest.raises(InfraError) as err:
        cluster.up(timeout_s=120)
    text = str(err.value)
    assert "target paxos" in text and "n1" in text and "TICK_MS" in text, text
    assert leftovers(spec.project) == []
    _created.discard(spec.project)
