"""Throughput of the pure core (3 replicas in one process, no I/O, no fsync) and of the codec.

Usage: .venv/bin/python benchmarks/bench_core.py [--clients 64] [--seconds 3]

It measures what the core and codec cost per command, i.e. the ceiling they put on the server: the
server adds HTTP, JSON bodies, fsync and the event loop on top. Bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from replica_image import codec
from replica_image.kv import KV
from replica_image.paxos import Command, CoreConfig, Envelope, ProposeResult, Replica, Role


def run_core(clients: int, seconds: float) -> tuple[int, float]:
    ids = [1, 2, 3]
    cfg = CoreConfig()
    reps = {i: Replica(i, ids, cfg, random.Random(i)) for i in ids}
    kvs = {i: KV() for i in ids}
    net: list[Envelope] = []

    def pump(i: int) -> int:
        done = 0
        while reps[i].has_ready():
            rd = reps[i].ready()
            net.extend(rd.messages)
            for _slot, batch in rd.committed:
                kvs[i].apply_batch(batch)
                done += len(batch) if i == 1 else 0
            reps[i].advance(rd)
        return done

    while reps[1].role is not Role.LEADER:  # elect node 1 (bounded by the election timeout)
        reps[1].tick()
        pump(1)
        while net:
            env = net.pop(0)
            reps[env.dst].step(env)
            pump(env.dst)
    next_req = [0] * clients
    outstanding = set(range(clients))
    committed = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline and committed < 5_000_000:
        for c in list(outstanding):
            cmd = Command(client_id=f"c{c}", request_id=next_req[c], op="put", key=f"k{c % 16}", value="x" * 32)
            assert reps[1].propose(cmd) is ProposeResult.QUEUED
        outstanding.clear()
        committed += pump(1)
        while net:
            env = net.pop(0)
            reps[env.dst].step(env)
            committed += pump(env.dst)
        # every client whose request was applied on the leader sends its next one
        for c in range(clients):
            if kvs[1].last_result(f"c{c}", next_req[c]) is not None:
                next_req[c] += 1
                outstanding.add(c)
    return committed, time.perf_counter() - start


def run_codec(seconds: float) -> tuple[int, float]:
    batch = tuple(Command(client_id=f"c{i}", request_id=i, op="put", key="k", value="x" * 32) for i in range(64))
    from replica_image.paxos import Accept, Ballot, Proposal

    msg = Accept(ballot=Ballot(round=1, node=1), commit=0, entries=(Proposal(slot=0, batch=batch),))
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and n < 1_000_000:
        wire = json.dumps(codec.encode_message(msg))
        codec.decode_message("accept", json.loads(wire))
        n += 1
    return n * len(batch), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    n, dt = run_core(args.clients, args.seconds)
    print(f"core: {args.clients} clients, 3 replicas in one process: {n} commands in {dt:.2f}s = {n / dt:,.0f} cmd/s")
    n, dt = run_codec(args.seconds)
    print(f"codec: encode+JSON+decode of an Accept with a 64-command batch: {n / dt:,.0f} commands/s")


if __name__ == "__main__":
    main()
