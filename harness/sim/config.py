"""What one simulated run is (`SimConfig`, drawn from its seed where left open) and what it found
(`SimResult`). Pure data: nothing here runs anything."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from harness.checker import CheckResult, Verdict
from harness.sim.nemesis import Fault, plan_faults
from harness.sim.network import NetFaults
from targets.paxos.core import CoreConfig
from workloads.history import Event

__all__ = ["SimConfig", "SimResult", "replica_core_config"]


def replica_core_config(bugs: frozenset[str]) -> CoreConfig:
    """The replica's default timing (replica_image/config.py: TICK_MS 10, HEARTBEAT_MS 50,
    ELECTION_TIMEOUT_MS 300, RETRANSMIT_MS 100) in ticks, as `replica_image.app.core_config` makes it."""
    return CoreConfig(election_timeout_ticks=30, heartbeat_ticks=5, retransmit_ticks=10, bugs=bugs)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """One simulated run. Fields left None are drawn from the seed (so a sweep of seeds varies them).

    Attributes:
        seed: reproduces the run exactly.
        size: replicas (3, 5 or 7 in the suite; any n >= 1 works).
        bugs: deliberate bugs of replica_image.bugs, as BUGS= gives them to a real replica.
        duration_ms: virtual time of the workload phase.
        concurrency: client processes at once.
        keys: the key set (k0..).
        think_ms: a client waits up to this long between ops.
        timeout_ms: a client gives up on an attempt after this long (the op becomes info).
        attempts: tries per op for definitely-not-applied answers (and unknown ones with retry_unknown).
        retry_unknown: retry timed-out attempts with the same request id (needs dedup in the replica).
        net: the network's misbehaviour.
        faults: the fault schedule.
        snapshot_every: applied slots between snapshots (0: never).
        crash_on_promise: probability that a replica crashes right after a Ready that made a promise
            durable (its replies sent), all run long: the crash points of dueling elections.
        crash_on_accept: the same after a Ready that made an accept durable.
        restart_ms: (low, high) downtime after such a crash, log-uniform: a supervisor restarts a
            process in tens of milliseconds, a container in a second or two.
        settle_ms: after the final heal, time for clients to finish and the final reads to run.
        check_budget_s: wall-clock budget of the linearizability check (beyond it: unknown).
    """

    seed: int = 0
    size: int = 3
    bugs: frozenset[str] = frozenset()
    duration_ms: int = 4_000
    concurrency: int = 5
    keys: int = 3
    think_ms: int = 20
    timeout_ms: int = 1_000
    attempts: int = 3
    retry_unknown: bool | None = None
    net: NetFaults | None = None
    faults: tuple[Fault, ...] | None = None
    snapshot_every: int | None = None
    crash_on_promise: float | None = None
    crash_on_accept: float | None = None
    restart_ms: tuple[int, int] | None = None
    settle_ms: int = 4_000
    check_budget_s: float = 30.0

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
        if self.size < 1 or self.concurrency < 1 or self.keys < 1 or self.attempts < 1:
            raise ValueError("SimConfig: size, concurrency, keys and attempts must be at least 1")

    def resolved(self) -> SimConfig:
        """This config with every None drawn from the seed (deterministically)."""
        rng = random.Random(f"{self.seed}/config")
        net = self.net or NetFaults(delay_us=(rng.choice((100, 500)), rng.choice((2_000, 10_000, 40_000))),
                                    loss=rng.choice((0.0, 0.0, 0.02, 0.1)),
                                    duplicate=rng.choice((0.0, 0.02, 0.1)),
                                    slow=rng.choice((0.0, 0.01, 0.05)))
        retry = rng.random() < 0.5 if self.retry_unknown is None else self.retry_unknown
        snap = rng.choice((0, 0, 20, 100)) if self.snapshot_every is None else self.snapshot_every
        on_promise = rng.choice((0.0, 0.0, 0.1, 0.3)) if self.crash_on_promise is None else self.crash_on_promise
        on_accept = rng.choice((0.0, 0.0, 0.001, 0.005)) if self.crash_on_accept is None else self.crash_on_accept
        restart = self.restart_ms or rng.choice(((10, 300), (10, 2_000), (500, 2_000)))
        faults = self.faults
        if faults is None:
            faults = tuple(plan_faults(random.Random(f"{self.seed}/nemesis"), ids=list(range(1, self.size + 1)),
                                       duration_us=self.duration_ms * 1000))
        return replace(self, net=net, retry_unknown=retry, snapshot_every=snap, faults=faults,
                       crash_on_promise=on_promise, crash_on_accept=on_accept, restart_ms=restart)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    """What one run found. `failed` is True when any check failed."""

    config: SimConfig               # resolved: every field set
    events: tuple[Event, ...]       # the history
    check: CheckResult | None       # linearizability (None when the history was not checked)
    agreement: str | None           # the first disagreement between replicas' logs, if any
    liveness: str | None            # what was still wrong after the final heal, if anything
    error: str | None               # a replica core that raised an internal error (it stopped)
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
