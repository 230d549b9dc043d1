"""The simulator's fault schedule: a seeded, pure plan of timed faults, drawn before the run starts.

The vocabulary is the Docker suite's (docs/faults.md), in virtual time: network partitions (a random
split, the current leader or a follower cut off, or a bridge: two sides that reach each other only
through one node, the partial partition of Jepsen's `partition-majorities-ring` family), process crashes (`kill`: the page cache survives) and power
losses (`power`: only synced records survive, plus a torn prefix of the rest), each with a restart,
and one the Docker suite cannot aim: a crash point, where a replica dies right after its next Ready
that persisted a record of a given kind (a promise, an accept, or any) and sent its replies (half of
the bridges come with one on the bridge node, armed for its next promise) (the way TigerBeetle's simulator and FoundationDB's BUGGIFY
reach the instants a wall-clock nemesis almost never hits).

Faults overlap freely: the partitions in force at a moment are combined (a link is cut if any of them
cuts it). Targets named `leader` or `follower` are resolved when the fault starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["FAULT_KINDS", "CrashRecord", "Fault", "FaultKind", "Target", "plan_faults"]

FaultKind = Literal["split", "bridge", "isolate", "kill", "power", "crash-point"]
Target = Literal["leader", "follower", "random"]
CrashRecord = Literal["promise", "accept", "any"]
_KINDS: tuple[tuple[FaultKind, float], ...] = (
    ("split", 2.0), ("bridge", 2.0), ("isolate", 3.0), ("kill", 2.0), ("power", 1.0), ("crash-point", 3.0),
)
FAULT_KINDS: tuple[FaultKind, ...] = tuple(k for k, _ in _KINDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One fault: `kind` starts at `at_us` on `target` and ends (heal / restart) `for_us` later.

    `groups` is the split of a `split` partition (node ids), and for a `bridge` the two sides, with the
    bridge node in neither; a crash point that never fires ends unfired.
    """

    kind: FaultKind
    at_us: int
    for_us: int
    target: Target = "random"
    groups: tuple[tuple[int, ...], ...] = ()
    record: CrashRecord = "any"  # crash-point: the kind of durable record after which the node dies
    node: int | None = None      # a fixed target node (hand-written schedules), instead of `target`

    def describe(self) -> str:
        sides = " | ".join(",".join(map(str, g)) for g in self.groups)
        who = f"node {self.node}" if self.node is not None else f"the {self.target}"
        what = {"split": f"partition {sides}", "bridge": f"partition {sides}, bridged by the rest",
                "isolate": f"isolate {who}",
                "kill": f"kill -9 {who}",
                "power": f"power loss on {who}",
                "crash-point": f"crash {who} once it has synced a {self.record} record"}[self.kind]
        return f"{what} at {self.at_us / 1000:.0f} ms for {self.for_us / 1000:.0f} ms"


def plan_faults(rng: random.Random, *, ids: list[int], duration_us: int, mean_gap_us: int = 350_000,
                kinds: tuple[FaultKind, ...] = FAULT_KINDS) -> list[Fault]:
    """Faults starting within [0, duration_us), about one per `mean_gap_us`, sorted by start time,
    of the `kinds` given (a swarm seed leaves some out; a bridge in a cluster of two is an isolate)."""
    faults: list[Fault] = []
    t = rng.randint(0, mean_gap_us)
    weights = [w for k, w in _KINDS if k in kinds]
    kinds = tuple(k for k, _ in _KINDS if k in kinds)
    if not kinds:
        return faults
    while t < duration_us:
        kind = rng.choices(kinds, weights)[0]
        length = rng.randint(50_000, 2_000_000)
        target: Target = rng.choice(("leader", "follower", "random"))
        groups: tuple[tuple[int, ...], ...] = ()
        if kind == "split":
            shuffled = ids[:]
            rng.shuffle(shuffled)
            cut = rng.randint(1, len(ids) - 1)
            groups = (tuple(sorted(shuffled[:cut])), tuple(sorted(shuffled[cut:])))
            target = "random"
        elif kind == "bridge" and len(ids) >= 3:
            shuffled = ids[:]
            rng.shuffle(shuffled)
            rest = shuffled[1:]  # shuffled[0] is the bridge
            cut = rng.randint(1, len(rest) - 1)
            groups = (tuple(sorted(rest[:cut])), tuple(sorted(rest[cut:])))
            target = "random"
        elif kind == "bridge":  # fewer than three nodes have no bridge: cut one off instead
            kind = "isolate"
        elif kind == "isolate":
            target = rng.choice(("leader", "leader", "follower"))
        record: CrashRecord = rng.choice(("promise", "accept", "any")) if kind == "crash-point" else "any"
        faults.append(Fault(kind=kind, at_us=t, for_us=length, target=target, groups=groups, record=record))
        if kind == "bridge" and "crash-point" in kinds and rng.random() < 0.5:
            # the bridge hears both sides' leaders: crash it right after it promises the new one, back
            # within 10-300 ms, while the old one still sends to it (the shape that a forgotten or
            # unsynced promise needs to matter: docs/simulator.md)
            faults.append(Fault(kind="crash-point", at_us=t, for_us=rng.randint(10_000, 300_000), node=shuffled[0],
                                record="promise"))
        t += rng.randint(mean_gap_us // 4, 2 * mean_gap_us)
    return faults
