"""What one simulated run is (`SimConfig`, drawn from its seed where left open) and what it found
(`SimResult`). Pure data: nothing here runs anything."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TypeVar

from harness.checker import CheckResult, Verdict
from harness.sim.nemesis import FAULT_KINDS, Fault, plan_faults, plan_stale_ack, plan_stale_leader
from harness.sim.network import NetFaults
from targets.paxos.core import CoreConfig
from workloads.history import Event
from workloads.spec import WorkloadSpec

__all__ = ["SimConfig", "SimResult", "replica_core_config"]

T = TypeVar("T")


def replica_core_config(bugs: frozenset[str]) -> CoreConfig:
    """The replica's default timing (replica_image/config.py: TICK_MS 10, HEARTBEAT_MS 50,
    ELECTION_TIMEOUT_MS 300, RETRANSMIT_MS 100) in ticks, as `replica_image.app.core_config` makes it."""
    return CoreConfig(election_timeout_ticks=30, heartbeat_ticks=5, retransmit_ticks=10, bugs=bugs)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """One simulated run. Fields left None are drawn from the seed (so a sweep of seeds varies them).

    Swarm testing (TigerBeetle's VOPR, Groce et al. 2012): a sweep does not run one configuration with
    different random schedules, it runs a different configuration per seed: cluster size, clients, keys,
    think time, network, the fault kinds in play and the crash points. A mistake that only some
    configurations expose (a quorum count harmless with 3 replicas and fatal with 5) is then reached by
    some seeds of every sweep. `resolved()` draws every field in a fixed order whether or not it is
    pinned, so pinning one field (`--size 5`) leaves every other draw of the seed as it was: the replay
    command, which names the drawn size, gives back the run it came from.

    Attributes:
        seed: reproduces the run exactly.
        size: replicas (drawn: 3, 5 or 7 in three seeds of four, else 1, 2, 4 or 6, where a quorum
            counted from the wrong half of an even n, or a path only a quorum of one takes, shows; any
            n >= 1 works when given).
        bugs: deliberate bugs of replica_image.bugs, as BUGS= gives them to a real replica.
        duration_ms: virtual time of the workload phase.
        concurrency: client processes at once (drawn from 2-8).
        keys: the key set (k0..; drawn from 1-6).
        think_ms: a client waits up to this long between ops (drawn from 5-100).
        timeout_ms: a client gives up on an attempt after this long (the op becomes info).
        attempts: tries per op for definitely-not-applied answers (and unknown ones with retry_unknown).
        retry_unknown: retry timed-out attempts with the same request id (needs dedup in the replica).
        net: the network's misbehaviour.
        faults: the fault schedule (drawn: each fault kind is in play in a seed with probability 3/4,
            and a stale leader, from a stream of its own, in half of the seeds; a stale acknowledgement,
            from another, in half of the seeds of five replicas or more).
        snapshot_every: applied slots between snapshots (0: never).
        crash_on_promise: probability that a replica crashes right after a Ready that persisted a
            promise (its replies sent), all run long: the crash points of dueling elections.
        crash_on_accept: the same after a Ready that persisted an accept.
        crash_power: probability that a crash point, armed or by chance, is a power loss rather than a
            kill: what the Ready wrote and did not sync is then lost (all of it, or all but a torn
            prefix). Crash points strike after any Ready that persisted records, synced or not, so a
            record the core should have synced before its reply and did not is lost with it.
        restart_ms: (low, high) downtime after such a crash, log-uniform: a supervisor restarts a
            process in tens of milliseconds, a container in a second or two.
        core: the cores' config: the replica's timing, and either its limits or (a third of the seeds)
            tight ones: a window of 2-8 slots, 1-4 commands per slot, 4-8 slots per message, 8-64 queued
            commands, 16-64 slots per learn scan and 1-4 per Ready (1-2 slots per message made catching
            up on 40 ms links slower than the settle time: a liveness failure of the limits, not a bug). Same protocol, but a short run then
            reaches the paths of full windows and queues, retransmits cut at the message limit and
            learning in steps, which production sizes reach only under load.
        settle_ms: after the final heal, time for clients to finish and the final reads to run.
        check_budget_s: wall-clock budget of the linearizability check (beyond it: unknown).
        workload: the op mix, keys and distribution of a scenario's workload (None: the default mix over
            `keys` keys); duration and concurrency still come from `duration_ms` and `concurrency`.
        wire: every peer message crosses the real codec as JSON text, so a replica receives decoded
            copies as it does over HTTP (drawn in half of the seeds; the others share the sender's
            objects, which is faster). A restart always reads back decoded copies of its records.
        forge: the forged-message fault (harness.sim.forge): the probability that a delivered message is
            followed by one forged from it, which the replica must refuse and be unchanged by (drawn from
            a stream of its own, `{seed}/forge`, so every other draw of the seed stays what it was; 0: never).
    """

    seed: int = 0
    size: int | None = None
    bugs: frozenset[str] = frozenset()
    duration_ms: int = 4_000
    concurrency: int | None = None
    keys: int | None = None
    think_ms: int | None = None
    timeout_ms: int = 1_000
    attempts: int = 3
    retry_unknown: bool | None = None
    net: NetFaults | None = None
    faults: tuple[Fault, ...] | None = None
    snapshot_every: int | None = None
    crash_on_promise: float | None = None
    crash_on_accept: float | None = None
    crash_power: float | None = None
    restart_ms: tuple[int, int] | None = None
    core: CoreConfig | None = None
    settle_ms: int = 4_000
    check_budget_s: float = 30.0
    workload: WorkloadSpec | None = None
    wire: bool | None = None
    forge: float | None = None

    def __post_init__(self) -> None:
        from targets.paxos.core import UnknownBug, parse_bugs

        # The core ignores names it does not know: a typo would test a correct replica. Sorted, so the
        # name reported among several unknown ones does not depend on the hash seed.
        try:
            names = frozenset(parse_bugs(sorted(self.bugs, key=repr)))
        except UnknownBug as exc:
            raise ValueError(f"SimConfig.bugs: {exc}") from None
        if names != self.bugs:  # " no-dedup" or "": the same names as BUGS= would read them
            object.__setattr__(self, "bugs", names)
        for name in ("size", "concurrency", "keys", "think_ms"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "think_ms" else 1):
                raise ValueError(f"SimConfig.{name} must be at least {0 if name == 'think_ms' else 1}, got {value}")
        if self.attempts < 1:
            raise ValueError("SimConfig: attempts must be at least 1")
        if self.forge is not None and not 0.0 <= self.forge <= 1.0:
            raise ValueError(f"SimConfig.forge must be a probability in [0, 1], got {self.forge!r}")

    def resolved(self) -> SimConfig:
        """This config with every None drawn from the seed (deterministically).

        Every value is drawn, in this fixed order, whether the field is pinned or not: a pinned field
        only replaces its own draw, and the other fields of the seed stay what they were.
        """
        rng = random.Random(f"{self.seed}/config")
        net = NetFaults(delay_us=(rng.choice((100, 500)), rng.choice((2_000, 10_000, 40_000))),
                        loss=rng.choice((0.0, 0.0, 0.02, 0.1)),
                        duplicate=rng.choice((0.0, 0.02, 0.1)),
                        slow=rng.choice((0.0, 0.01, 0.05)))
        retry, snap = rng.random() < 0.5, rng.choice((0, 0, 20, 100))
        on_promise, on_accept = rng.choice((0.0, 0.0, 0.1, 0.3)), rng.choice((0.0, 0.0, 0.001, 0.005))
        restart = rng.choice(((10, 300), (10, 2_000), (500, 2_000)))
        # the swarm: drawn after the ones above, which keep the values they had before it
        size = _pin(self.size, rng.choice((3, 3, 5, 5, 7)))
        concurrency, keys = rng.choice((2, 3, 5, 5, 8)), rng.choice((1, 2, 3, 3, 6))
        think = rng.choice((5, 20, 20, 100))
        kinds = tuple(k for k in FAULT_KINDS if rng.random() < 0.75) or (rng.choice(FAULT_KINDS),)
        power = rng.choice((0.0, 0.5, 1.0))
        core = replica_core_config(self.bugs)
        tight = replace(core, window=rng.choice((2, 4, 8)), batch_max=rng.choice((1, 2, 4)),
                        entries_per_message_max=rng.choice((4, 8)), queue_max=rng.choice((8, 64)),
                        learn_scan_max=rng.choice((16, 64)), committed_per_ready_max=rng.choice((1, 4)))
        if rng.random() < 1 / 3:
            core = tight
        # drawn after every draw above, so that a seed keeps them: the sizes only some mistakes fail at
        odd_size, drawn_size = rng.random() < 1 / 4, rng.choice((1, 2, 4, 6))
        if odd_size:
            size = _pin(self.size, drawn_size)
        wire = rng.random() < 0.5
        faults = self.faults
        if faults is None:
            faults = tuple(plan_faults(random.Random(f"{self.seed}/nemesis"), ids=list(range(1, size + 1)),
                                       duration_us=self.duration_ms * 1000, kinds=kinds))
            # appended, from a stream of its own: the faults above keep their draws and their numbers
            faults += tuple(plan_stale_leader(random.Random(f"{self.seed}/stale-leader"),
                                              duration_us=self.duration_ms * 1000))
            faults += tuple(plan_stale_ack(random.Random(f"{self.seed}/stale-ack"), size=size,
                                           duration_us=self.duration_ms * 1000))
        # a stream of its own: the draws above are those they were before the forged-message fault
        forge = random.Random(f"{self.seed}/forge").choice((0.005, 0.02, 0.05))
        return replace(self, size=size, net=self.net or net, faults=faults, forge=_pin(self.forge, forge),
                       retry_unknown=_pin(self.retry_unknown, retry), snapshot_every=_pin(self.snapshot_every, snap),
                       crash_on_promise=_pin(self.crash_on_promise, on_promise),
                       crash_on_accept=_pin(self.crash_on_accept, on_accept), crash_power=_pin(self.crash_power, power),
                       restart_ms=_pin(self.restart_ms, restart), concurrency=_pin(self.concurrency, concurrency),
                       keys=_pin(self.keys, keys), think_ms=_pin(self.think_ms, think), core=_pin(self.core, core),
                       wire=_pin(self.wire, wire))

    @property
    def n(self) -> int:
        """The cluster size of a resolved config."""
        if self.size is None:
            raise ValueError("SimConfig.size is drawn by resolved(): resolve the config first")
        return self.size


def _pin(pinned: T | None, drawn: T) -> T:
    """A field's value: what was pinned, else what the seed drew."""
    return drawn if pinned is None else pinned


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    """What one run found. `failed` is True when any check failed."""

    config: SimConfig               # resolved: every field set
    events: tuple[Event, ...]       # the history
    check: CheckResult | None       # linearizability (None when the history was not checked)
    agreement: str | None           # the first disagreement between replicas' logs, if any
    liveness: str | None            # what was still wrong after the final heal, if anything
    error: str | None               # a core that raised (it stopped), or a reply or message off its contract
    fault_log: tuple[str, ...]      # what the nemesis did, with virtual times
    virtual_ms: int

    @property
    def safety_violation(self) -> str | None:
        """A safety finding (history not linearizable, or replicas disagree), or None."""
        if self.agreement is not None:
            return f"replicas disagree: {self.agreement}"
        if self.check is not None and self.check.verdict is Verdict.INVALID:
            return "history is not linearizable"
        return None

    @property
    def failed(self) -> bool:
        return (self.safety_violation is not None or self.liveness is not None or self.error is not None
                or (self.check is not None and self.check.verdict is not Verdict.VALID))

    @property
    def ops(self) -> int:
        return sum(1 for e in self.events if e.type == "invoke")

    def summary(self) -> str:
        verdict = "-" if self.check is None else self.check.verdict.name.lower()
        parts = [f"seed {self.config.seed}: {self.ops} ops, linearizable: {verdict}"]
        if self.agreement:
            parts.append(f"agreement: {self.agreement}")
        if self.liveness:
            parts.append(f"liveness: {self.liveness}")
        if self.error:
            parts.append(f"error: {self.error}")
        return "; ".join(parts)
