"""The interpreter: runs the pure generators against real replicas through the recording client.

`concurrency` workers run in one asyncio loop. Each worker owns one logical process at a time and one
generator (`random.Random(f"{seed}/workload/{worker}")`). After an `info` the worker retires its process
and continues under a fresh id from a shared counter (so a process never has two open ops, and process
ids are handed out in increasing order). With a rate limit the workers share the rate evenly, each
keeping its own schedule (a late op does not cause a burst).

Everything is bounded: the run stops taking new ops at `duration_s` (or when `stop` is set), an op in
flight then finishes within the client's own bound, and `max_ops` caps the total.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from targets.contract import ClientAdapter
from workloads.client import RecordingClient
from workloads.generator import Op, OpGenerator, key_names
from workloads.history import HistoryRecorder
from workloads.spec import WorkloadSpec

__all__ = ["WorkloadStats", "final_reads", "run_workload"]

MAX_OPS_DEFAULT = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadStats:
    """What the workload did: op counts by outcome and how many processes were used."""

    ok: int
    fail: int
    info: int
    processes: int

    @property
    def ops(self) -> int:
        return self.ok + self.fail + self.info


class _Run:
    """Shared state of one workload run: the process counter and the outcome tally."""

    def __init__(self, *, concurrency: int, deadline: float, stop: asyncio.Event,
                 clock: Callable[[], float], max_ops: int) -> None:
        self.next_process = itertools.count(concurrency)
        self.tally: Counter[str] = Counter()
        self.processes = concurrency
        self.deadline = deadline
        self.stop = stop
        self.clock = clock
        self.budget = max_ops

    def running(self) -> bool:
        return not self.stop.is_set() and self.clock() < self.deadline and self.budget > 0

    def fresh_process(self) -> int:
        self.processes += 1
        return next(self.next_process)


async def run_workload(spec: WorkloadSpec, *, adapter: ClientAdapter, seed: int, urls: Mapping[int, str],
                       recorder: HistoryRecorder, session: aiohttp.ClientSession,
                       stop: asyncio.Event | None = None, client_prefix: str = "chaos",
                       clock: Callable[[], float] = time.monotonic,
                       max_ops: int = MAX_OPS_DEFAULT) -> WorkloadStats:
    """Drive `spec` against the replicas at `urls` until `spec.duration_s` has passed.

    Args:
        spec: the scenario's workload.
        adapter: the target's client adapter.
        seed: the run's root seed; each worker's generator derives its own Random from it.
        urls: replica id -> client endpoint base URL (the `client-ni` proxies). Process p talks to
            the replica `sorted(urls)[p % len(urls)]`, so load is spread and stays put per process.
        recorder: where every invoke and completion goes.
        session: the aiohttp session (owned by the caller).
        stop: set it to end the run early (e.g. Ctrl-C); ops in flight complete.
        client_prefix: prefix of client ids, unique per run.
        clock: seconds, monotonic; injected for tests.
        max_ops: a hard cap on the number of ops.

    Returns:
        Counts by outcome. Every op started has been completed in the history when this returns.
    """
    client = RecordingClient(adapter=adapter, session=session, urls=urls, recorder=recorder, timeout_s=spec.timeout_s,
                             attempts=spec.attempts, client_prefix=client_prefix,
                             retry_unknown=spec.retry_unknown)
    run = _Run(concurrency=spec.concurrency, deadline=clock() + spec.duration_s,
               stop=stop or asyncio.Event(), clock=clock, max_ops=max_ops)
    nodes = sorted(urls)
    interval = spec.concurrency / spec.rate_per_s if spec.rate_per_s else 0.0
    workers = [_worker(w, spec=spec, seed=seed, client=client, run=run, nodes=nodes, interval_s=interval)
               for w in range(spec.concurrency)]
    await asyncio.gather(*workers)
    return WorkloadStats(ok=run.tally["ok"], fail=run.tally["fail"], info=run.tally["info"],
                         processes=run.processes)


async def _worker(w: int, *, spec: WorkloadSpec, seed: int, client: RecordingClient, run: _Run,
                  nodes: list[int], interval_s: float) -> None:
    gen = OpGenerator(spec, rng=random.Random(f"{seed}/workload/{w}"), tag=f"w{w}")
    process: int | None = w
    next_at = run.clock() + (interval_s * w / max(spec.concurrency, 1))  # stagger the first ops
    while run.running():
        if interval_s:
            delay = next_at - run.clock()
            if delay > 0:
                await asyncio.sleep(min(delay, max(run.deadline - run.clock(), 0.0)))
                if not run.running():
                    break
            next_at = max(next_at + interval_s, run.clock() - interval_s)
        if process is None:
            process = run.fresh_process()  # taken only when used, so ids have no gaps
        run.budget -= 1
        op = gen.next_op()
        done = await client.perform(op, process=process, node=nodes[process % len(nodes)])
        run.tally[done.type] += 1
        gen.observe(op, ok=done.type == "ok", read=done.read)
        if done.retire:
            process = None


FINAL_READ_ROUNDS = 2
FINAL_READ_PAUSE_S = 0.5


async def final_reads(keys: int, *, client: RecordingClient, first_process: int,
                      nodes: list[int]) -> dict[str, str | None]:
    """Read every key after the final heal (lost writes show up), as Jepsen's final reads do: a read
    that does not end `ok` is tried again on the next node, up to FINAL_READ_ROUNDS rounds over all
    nodes, each try from a fresh process (a node just restarted may not know its leader yet).

    Returns the values read successfully (keys no try could read are left out).
    """
    out: dict[str, str | None] = {}
    process = first_process
    for i, key in enumerate(key_names(keys)):
        for t in range(FINAL_READ_ROUNDS * len(nodes)):
            done = await client.perform(Op(f="get", key=key), process=process,
                                        node=nodes[(first_process + i + t) % len(nodes)])
            process += 1
            if done.type == "ok":
                out[key] = done.read
                break
            await asyncio.sleep(FINAL_READ_PAUSE_S)
    return out
