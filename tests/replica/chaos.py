"""A seeded random schedule over the in-memory Cluster: proposals, partitions, crashes, snapshots."""

from __future__ import annotations

import random

from replica_image.paxos import Command, CoreConfig, ProposeResult
from tests.replica.cluster import Cluster, Faults


def random_run(seed: int, *, n: int = 3, steps: int = 300, snapshot_every: int = 0,
               config: CoreConfig | None = None) -> Cluster:
    """Run one seeded schedule (safety is checked on every commit), then heal and let it settle."""
    rng = random.Random(f"{seed}/schedule")
    faults = Faults(loss=rng.choice([0.0, 0.05, 0.2]), duplicate=rng.choice([0.0, 0.05, 0.2]),
                    reorder=rng.choice([0.0, 0.3, 1.0]))
    c = Cluster(n, seed=seed, faults=faults,
                config=config or CoreConfig(election_timeout_ticks=6, heartbeat_ticks=2, retransmit_ticks=2,
                                            window=8, batch_max=4, entries_per_message_max=4))
    next_req: dict[str, int] = {}
    for _ in range(steps):
        _random_step(c, rng, next_req, snapshot_every)
    c.heal()
    for i in c.ids:
        if not c.nodes[i].up:
            c.restart(i)
    c.run(200)
    c.check_prefixes()
    return c


def _random_step(c: Cluster, rng: random.Random, next_req: dict[str, int], snapshot_every: int) -> None:
    r = rng.random()
    if r < 0.45:
        for _ in range(rng.choice([1, 1, 1, 5])):
            _random_proposal(c, rng, next_req)
    elif r < 0.80:
        c.run(1, deliveries_per_tick=rng.randrange(1, 40))
    elif r < 0.86:
        groups: list[set[int]] = [set(), set()]
        for i in c.ids:
            groups[rng.randrange(2)].add(i)
        c.partition(*groups)
    elif r < 0.90:
        c.heal()
    elif r < 0.94:
        i = rng.choice(c.ids)
        if c.nodes[i].up:
            c.crash(i, torn=rng.random() < 0.5)
    elif r < 0.98:
        i = rng.choice(c.ids)
        if not c.nodes[i].up:
            c.restart(i)
    elif snapshot_every:
        for i in c.ids:
            node = c.nodes[i]
            rep = node.replica
            if node.up and rep.applied_index - rep.snapshot_last >= snapshot_every:
                rep.snapshot_taken(rep.applied_index, node.kv.snapshot())
                c.pump(i)


def _random_proposal(c: Cluster, rng: random.Random, next_req: dict[str, int]) -> None:
    """A client sends its current request to a random replica (maybe again: retries are part of it)."""
    client = f"c{rng.randrange(6)}"
    req = next_req.get(client, 0)
    # mostly the leader, as real clients redirected by 503s would; sometimes a random replica
    leaders = c.leaders()
    target = leaders[0] if leaders and rng.random() < 0.8 else rng.choice(c.ids)
    if not c.nodes[target].up:
        return
    op = rng.choice(["put", "append", "get", "cas", "delete"])
    cmd = Command(client_id=client, request_id=req, op=op, key=f"k{rng.randrange(3)}",
                  value=None if op in ("get", "delete") else str(req),
                  expect=str(req - 1) if op == "cas" else None)
    if c.propose(target, cmd) is ProposeResult.QUEUED and rng.random() < 0.7:
        next_req[client] = req + 1   # else: the client retries the same request later
