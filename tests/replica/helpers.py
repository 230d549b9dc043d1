"""Small helpers for driving one Replica core by hand in unit tests."""

from __future__ import annotations

import random
from typing import TypeVar

from replica_image.paxos import (
    Ballot, Batch, Command, CoreConfig, Envelope, Message, Ready, Record, Replica,
)

M = TypeVar("M")

CFG = CoreConfig(election_timeout_ticks=10, heartbeat_ticks=2, retransmit_ticks=3, batch_max=4, window=8,
                 entries_per_message_max=4)


def make(node_id: int = 1, n: int = 3, *, seed: int = 0, config: CoreConfig = CFG,
         recovered: tuple[Record, ...] = ()) -> Replica:
    return Replica(node_id, list(range(1, n + 1)), config, random.Random(seed), recovered=recovered)


def drain(rep: Replica) -> Ready:
    """Take and acknowledge one Ready (the host carries it out instantly)."""
    rd = rep.ready()
    rep.advance(rd)
    return rd


def sent(rd: Ready, kind: type[M], dst: int | None = None) -> list[M]:
    return [e.msg for e in rd.messages if isinstance(e.msg, kind) and (dst is None or e.dst == dst)]


def deliver(rep: Replica, src: int, msg: Message) -> Ready:
    rep.step(Envelope(src=src, dst=rep.node_id, msg=msg))
    return drain(rep)


def cmd(i: int, *, client: str = "c", op: str = "put", key: str = "k") -> Command:
    return Command(client_id=client, request_id=i, op=op, key=key, value=None if op in ("get", "delete") else str(i))


def batch(*ids: int) -> Batch:
    return tuple(cmd(i) for i in ids)


def b(round_: int, node: int) -> Ballot:
    return Ballot(round=round_, node=node)


def tick_until_candidate(rep: Replica, *, limit: int = 100) -> Ready:
    """Tick until the replica sends prepares; return that Ready."""
    from replica_image.paxos import Prepare

    for _ in range(limit):
        rep.tick()
        rd = drain(rep)
        if sent(rd, Prepare):
            return rd
    raise AssertionError("replica never started an election")
