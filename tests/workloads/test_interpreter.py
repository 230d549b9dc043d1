"""The interpreter end to end against the fake replica: history invariants and a linearizable verdict.

The fake replica is linearizable by construction but answers with every failure mode (seeded), so
these tests show that the recorded history is honest: every invoke completes exactly once, a process
never runs two ops at once and never runs again after an info, values are unique, and the checker
finds the history linearizable.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import aiohttp

from harness.checker import KVModel, Verdict, check, operations
from harness.scenario import WorkloadSpec
from targets.paxos import PAXOS
from tests.workloads.fake_replica import FakeCluster, FakeReplica
from workloads.client import RecordingClient
from workloads.history import Event, HistoryRecorder
from workloads.interpreter import WorkloadStats, final_reads, run_workload


def drive(spec: WorkloadSpec, state: FakeReplica, *, seed: int = 7,
          final: bool = False) -> tuple[WorkloadStats, list[Event], dict[str, str | None]]:
    async def main() -> tuple[WorkloadStats, list[Event], dict[str, str | None]]:
        async with FakeCluster(state) as cluster, aiohttp.ClientSession() as session:
            rec = HistoryRecorder(clock_ns=lambda: 0)
            stats = await run_workload(spec, adapter=PAXOS.adapter({}), seed=seed, urls=cluster.urls, recorder=rec, session=session)
            reads: dict[str, str | None] = {}
            if final:
                state.chaos = None
                client = RecordingClient(adapter=PAXOS.adapter({}), session=session, urls=cluster.urls, recorder=rec, timeout_s=1.0)
                reads = await final_reads(spec.keys, client=client, first_process=stats.processes,
                                          nodes=sorted(cluster.urls))
            return stats, rec.events, reads

    return asyncio.run(main())


def assert_honest(events: list[Event]) -> None:
    open_op: dict[int, Event] = {}
    retired: set[int] = set()
    first_seen: list[int] = []
    for e in events:
        assert e.process not in retired, f"process {e.process} used after its info"
        if e.type == "invoke":
            assert e.process not in open_op, f"process {e.process} has two open ops"
            open_op[e.process] = e
            if e.process not in first_seen:
                first_seen.append(e.process)
        else:
            inv = open_op.pop(e.process)
            assert (inv.f, inv.key) == (e.f, e.key)
            if e.type == "info":
                retired.add(e.process)
    assert not open_op, "every invoke must be completed when the workload returns"
    assert sorted(first_seen) == list(range(len(first_seen))), "process ids are 0, 1, 2, ... with no gap"
    written = [e.value for e in events if e.type == "invoke" and e.f in ("put", "append")]
    written += [e.value.value for e in events if e.type == "invoke" and e.f == "cas"]  # type: ignore[union-attr]
    assert len(written) == len(set(written)), "written values must be unique"


def test_chaotic_replica_gives_an_honest_linearizable_history() -> None:
    spec = WorkloadSpec(duration_s=1.5, concurrency=4, keys=3, timeout_s=0.15, attempts=3)
    state = FakeReplica(chaos=random.Random(3), slow_s=0.3)
    stats, events, reads = drive(spec, state, final=True)
    assert_honest(events)
    kinds = Counter(e.type for e in events)
    assert kinds["ok"] > 0 and kinds["info"] > 0 and kinds["fail"] > 0
    assert stats.ops + spec.keys == kinds["ok"] + kinds["fail"] + kinds["info"]  # + one final read per key
    assert stats.processes > spec.concurrency, "info outcomes must have retired processes"
    assert reads == {k: state.data.get(k) for k in ("k0", "k1", "k2")}
    result = check(KVModel(), operations(events))
    assert result.verdict == Verdict.VALID


def test_a_lost_write_is_caught_by_the_checker() -> None:
    # The same pipeline must be able to fail: a replica that acknowledges puts without applying them.
    spec = WorkloadSpec(duration_s=0.6, concurrency=2, keys=1, mix=(("put", 1.0), ("get", 1.0)))
    state = FakeReplica()
    real_apply = state.apply

    def lossy(op: str, key: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        if op == "put" and len(state.writes) >= 3:
            return 200, {}  # acknowledged, never applied
        return real_apply(op, key, body)

    state.apply = lossy  # type: ignore[method-assign]
    _, events, _ = drive(spec, state)
    assert_honest(events)
    assert check(KVModel(), operations(events)).verdict == Verdict.INVALID


def test_rate_limit_bounds_the_number_of_ops() -> None:
    spec = WorkloadSpec(duration_s=1.0, concurrency=2, rate_per_s=20.0, keys=2)
    stats, events, _ = drive(spec, FakeReplica())
    assert_honest(events)
    assert 0 < stats.ops <= 20 * 1.0 + spec.concurrency


def test_same_seed_same_ops_per_worker() -> None:
    spec = WorkloadSpec(duration_s=0.3, concurrency=2, rate_per_s=30.0, keys=4)

    def worker0_ops(seed: int) -> list[tuple[str, str | None]]:
        _, events, _ = drive(spec, FakeReplica(), seed=seed)
        return [(e.f, e.key) for e in events if e.type == "invoke" and e.process == 0]

    a, b = worker0_ops(11), worker0_ops(11)
    n = min(len(a), len(b))
    assert n > 2 and a[:n] == b[:n]


def test_stop_ends_the_run_early_with_every_op_completed() -> None:
    spec = WorkloadSpec(duration_s=30.0, concurrency=3, rate_per_s=30.0, keys=2)

    async def main() -> tuple[float, list[Event]]:
        async with FakeCluster(FakeReplica()) as cluster, aiohttp.ClientSession() as session:
            rec = HistoryRecorder(clock_ns=lambda: 0)
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(0.5, stop.set)
            t0 = asyncio.get_running_loop().time()
            await run_workload(spec, adapter=PAXOS.adapter({}), seed=1, urls=cluster.urls, recorder=rec, session=session, stop=stop)
            return asyncio.get_running_loop().time() - t0, rec.events

    elapsed, events = asyncio.run(main())
    assert elapsed < 30.0, "the 30 s workload must end when stop is set"
    assert events
    assert_honest(events)
