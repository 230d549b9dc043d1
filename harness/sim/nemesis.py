"""The simulator's fault schedule: a seeded, pure plan of timed faults, drawn before the run starts.

The vocabulary is the Docker suite's (docs/faults.md), in virtual time: network partitions (a random
split, the current leader or a follower cut off, or a bridge: two sides that reach each other only
through one node, the partial partition of Jepsen's `partition-majorities-ring` family), process crashes (`kill`: the page cache survives) and power
losses (`power`: only synced records survive, plus a torn prefix of the rest), each with a restart,
and one the Docker suite cannot aim: a crash point, where a replica dies right after its next Ready
that persisted a record of a given kind (a promise, an accept, or any) and sent its replies (half of
the bridges come with one on the bridge node, armed for its next promise) (the way TigerBeetle's simulator and FoundationDB's BUGGIFY
reach the instants a wall-clock nemesis almost never hits).

One more kind is planned from a stream of its own (`plan_stale_leader`, seeded `{seed}/stale-leader`,
so the draws of the kinds above are those they were before it): a stale leader. A follower is cut off
long enough to fall behind and come back as a lagging leader (an isolated follower keeps raising its
round, so it often wins the next election); the first leader that then asks a peer to catch it up is
frozen while the others elect a new leader, choose values in its slots and compact (no other fault
begins meanwhile: the world skips them); when it thaws, the messages carrying the higher ballot (and
the Nacks naming it) are lost for a while, so the catch-up answers, values or a snapshot, reach it
while it still believes it leads. The acknowledgements sent to it while it was frozen are not lost
but delayed: they arrive when it next leads, at a higher ballot. Those are the leader step-down paths
of the core (a leader learning another value in its own slots, or installing a snapshot over them),
which the faults above reach a few times in ten thousand seeds (docs/simulator.md, "Reach").

And one more from a stream of its own (`plan_stale_ack`, seeded `{seed}/stale-ack`, appended after the
stale leader), only with five replicas or more: a stale acknowledgement crossing into the leader's next
term. At the instant a leader L sends new proposals, the network splits L and one follower A from the
rest, and the L-A link turns slow (a Toxiproxy latency toxic, 60-120 ms each way); A's
acknowledgements of L's term are stuck on that link (a request in TCP retransmission backoff: delayed,
not lost). quorum-2 of the rest are frozen (SIGSTOP, a VM stall), and so is A once it has acknowledged
a proposal the split cut off, so no side can choose and no frozen node raises its round; L steps down.
At the instant L sends its next Prepare, the split turns into a partial partition with L as its hub:
the frozen nodes thaw and L reaches them and A (still slow), which reach nobody else, so only L can win;
each of them has just heard its higher ballot, so none starts a rival election first. L leads again and
re-proposes the slots only A accepted; A's old acknowledgements arrive at the instant the new term's
proposals leave, before any new acknowledgement. A correct leader ignores them (another ballot); one
that counts them (the mutant of replica.py `_on_accepted` that survived every other fault,
`m.ballot > self._ballot`) learns such a slot chosen from its own accept, A's of the old ballot and
quorum-2 fast followers' of the new, while A's new accept is still on the slow link: no majority in
any one ballot, which the world's P2 check flags at once (with three replicas, L and A are already a
majority of the old ballot: nothing to catch). Dropped, if L never leads again, when the hub heals.

One fault is not planned here, since it strikes at deliveries rather than at times: forged peer
messages (`harness.sim.forge`, its rate `SimConfig.forge`, from streams of its own).

Faults overlap freely: the partitions in force at a moment are combined (a link is cut if any of them
cuts it). Targets named `leader` or `follower` are resolved when the fault starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["FAULT_KINDS", "CrashRecord", "Fault", "FaultKind", "Target", "plan_faults", "plan_stale_ack",
           "plan_stale_leader"]

FaultKind = Literal["split", "bridge", "isolate", "kill", "power", "crash-point", "stale-leader", "stale-ack"]
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
    bridge node in neither; a crash point that never fires ends unfired. A `stale-leader` cuts a
    follower off for `lag_us`, then watches up to `watch_us` for a leader asking for catch-up, freezes
    it for `for_us` and drops the higher-ballot messages to it for `filter_us` after it thaws (with
    `snapshot_first`, when a peer's snapshot covers a slot it proposed in, the chosen values sent to it
    too, so the snapshot is the answer it acts on first). A
    `stale-ack` watches up to `watch_us` for a leader sending new proposals, splits it and one follower
    off (freezing quorum-2 others) until its next Prepare, `for_us` at most, then makes it the hub of a
    partial partition for `hub_us`; its link to that follower is `slow_us` slower each way throughout.
    """

    kind: FaultKind
    at_us: int
    for_us: int
    target: Target = "random"
    groups: tuple[tuple[int, ...], ...] = ()
    record: CrashRecord = "any"  # crash-point: the kind of durable record after which the node dies
    node: int | None = None      # a fixed target node (hand-written schedules), instead of `target`
    lag_us: int = 0              # stale-leader: how long the follower that falls behind is cut off
    watch_us: int = 0            # stale-leader: how long to wait for a leader that asks for catch-up
    filter_us: int = 0           # stale-leader: how long the higher ballot is kept from it after the thaw
    snapshot_first: bool = False  # stale-leader: a peer's snapshot covers its slots: lose values sent meanwhile
    hub_us: int = 0              # stale-ack: how long the old leader is the hub of a partial partition
    slow_us: int = 0             # stale-ack: the added one-way latency of the leader's link to the follower

    def describe(self) -> str:
        sides = " | ".join(",".join(map(str, g)) for g in self.groups)
        who = f"node {self.node}" if self.node is not None else f"the {self.target}"
        what = {"split": f"partition {sides}", "bridge": f"partition {sides}, bridged by the rest",
                "isolate": f"isolate {who}",
                "kill": f"kill -9 {who}",
                "power": f"power loss on {who}",
                "crash-point": f"crash {who} once it has synced a {self.record} record",
                "stale-leader": (f"stale leader: cut a follower off for {self.lag_us / 1000:.0f} ms, then freeze the "
                                 f"next leader that asks for catch-up"),
                "stale-ack": (f"stale ack: at a leader's next proposals, cut it and a follower off (acks held on a "
                              f"{self.slow_us / 1000:.0f} ms link), then the old leader the hub for "
                              f"{self.hub_us / 1000:.0f} ms")}[self.kind]
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
        if kind == "split" and len(ids) < 2:  # one node has no sides: cut it off (from nobody) instead
            kind = "isolate"
        elif kind == "split":
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


def plan_stale_leader(rng: random.Random, *, duration_us: int, chance: float = 0.5) -> list[Fault]:
    """At most one stale-leader fault (see the module docstring), with probability `chance`, starting
    early enough in [0, duration_us) for its phases to end before the workload does."""
    if duration_us < 2_000_000 or rng.random() >= chance:
        return []
    # frozen for 1-2.5 s: its clients wait out their timeout (1 s) before they move on to the new leader,
    # and a snapshot (every 20 or 100 slots) must pass its slots for it to be sent one. A peer answers a
    # catch-up with its snapshot and the values after it, which may arrive in either order: one of the
    # two step-down paths each (values: `_learn`; a snapshot: `_on_snapshot`), so half of the faults
    # lose the values while the higher ballot is kept from it (drawn last: the other draws stay)
    at_us, for_us = rng.randint(100_000, duration_us // 4), rng.randint(1_000_000, 2_500_000)
    lag_us, filter_us = rng.randint(300_000, 700_000), rng.randint(150_000, 300_000)
    return [Fault(kind="stale-leader", at_us=at_us, for_us=for_us, lag_us=lag_us, watch_us=800_000,
                  filter_us=filter_us, snapshot_first=rng.random() < 0.5)]


def plan_stale_ack(rng: random.Random, *, size: int, duration_us: int, chance: float = 0.5) -> list[Fault]:
    """At most one stale-ack fault (see the module docstring), with probability `chance`, for a cluster
    of `size` replicas (none below five: the shape needs an old-ballot minority of two), early enough in
    [0, duration_us) for its phases to end before the workload does."""
    if size < 5 or duration_us < 2_000_000 or rng.random() >= chance:
        return []
    # the split waits for the old leader's election (it steps down within 600 ms: it checks what it heard
    # every election timeout) with a ballot above quorum-2 others, up to 1.2-1.8 s; then the hub lasts
    # long enough for its election; the slow link's round trip stays under the 300 ms a candidate waits,
    # so the slow follower's promise counts, and far above a fast follower's, so its new accept lands last
    return [Fault(kind="stale-ack", at_us=rng.randint(100_000, duration_us // 8),
                  for_us=rng.randint(1_200_000, 1_800_000), watch_us=500_000,
                  hub_us=rng.randint(600_000, 1_000_000), slow_us=rng.randint(60_000, 120_000))]
