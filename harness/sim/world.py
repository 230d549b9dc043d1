"""One simulated run: N real replica cores, a seeded network and nemesis, recording clients, checks.

Everything happens on one virtual clock (microseconds) driven by an event queue; the only sources of
randomness are `random.Random` instances seeded from the run's seed, one per concern (network,
nemesis, each replica incarnation, each client), so one seed gives one history, byte for byte
(`tests/harness/sim/test_world.py`). Nothing here reads a clock, sleeps or does I/O, except the
checker's time budget, which can only turn a verdict into `unknown`.

A run (`simulate`):
1. `duration_ms` of workload: `concurrency` clients run the suite's op generator
   (`workloads.generator`) against random replicas, following leader hints, while the planned faults
   (`harness.sim.nemesis`) come and go;
2. the final heal: partitions lifted, crashed replicas restarted, crash points disarmed; clients
   finish what they have open;
3. final reads of every key through the log, then the checks:
   - linearizability of the history (the same checker as the Docker runs);
   - agreement: every replica applies, slot after slot, the value every other replica applied there
     (the simulator sees every replica's log, which a black-box run cannot);
   - liveness after the heal: one leader, and every replica at the same slot with the same state.

Client rules are the Docker client's (workloads/client.py): a "not leader" / "busy" / refused
connection is definitely not applied and is retried (invisibly) at the hinted leader; a timeout is
`info` and retires the process, unless `retry_unknown` retries it with the same request id.
"""

from __future__ import annotations

import functools
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.checker import CheckResult, Verdict, check, model_for, operations
from harness.errors import InternalError
from harness.history import CasValue, Event, HistoryRecorder, Value
from harness.scenario import DEFAULT_MIX, WorkloadSpec
from harness.sim.nemesis import Fault, plan_faults
from harness.sim.network import NetFaults, Network
from harness.sim.node import Disk, SimNode, Waiter
from replica_image.errors import InvalidMessage, ProtocolViolation, ReplicaError
from replica_image.kv import PRECONDITION_FAILED, STALE, Result
from replica_image.paxos import (
    AcceptRecord, Ballot, Batch, ChosenRecord, Command, CoreConfig, Envelope, PromiseRecord, Record, Role, SnapshotRecord,
)
from workloads.generator import Op, OpGenerator

__all__ = ["SimConfig", "SimResult", "simulate"]

# The record kinds a crash point waits for (harness.sim.nemesis.CrashRecord).
CRASH_RECORDS: dict[str, tuple[type, ...]] = {
    "promise": (PromiseRecord,), "accept": (AcceptRecord,),
    "any": (PromiseRecord, AcceptRecord, ChosenRecord, SnapshotRecord),
}

TICK_US = 10_000           # the replica's TICK_MS
FLUSH_US = 1_000_000       # bug no-fsync: the write-behind period of replica_image/host.py
CLIENT_DELAY_US = (100, 1_000)
RETRY_BACKOFF_US = (5_000, 30_000)
FINAL_READ_ATTEMPTS = 20
EVENTS_MAX = 20_000_000    # a run that needs more events than this is stuck in a loop: stop it


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
        from replica_image.bugs import KNOWN_BUGS

        unknown = sorted(self.bugs - KNOWN_BUGS)
        if unknown:  # the core ignores names it does not know: a typo would test a correct replica
            raise ValueError(f"SimConfig.bugs: unknown bug(s) {unknown}; known: {', '.join(sorted(KNOWN_BUGS))}")
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


@dataclass
class _Worker:
    """One client slot: it runs ops one at a time as `process` (a fresh process after each info)."""

    index: int
    process: int
    gen: OpGenerator | None
    target: int
    script: list[Op] | None = None   # final reads: these ops, then stop
    op: Op | None = None
    request_id: int = 0
    attempt: int = 0
    tries: int = 0
    attempts: int = 3
    maybe_applied: bool = False


class _World:
    def __init__(self, cfg: SimConfig) -> None:
        assert cfg.net is not None and cfg.faults is not None and cfg.snapshot_every is not None
        self.cfg = cfg
        self.ids = list(range(1, cfg.size + 1))
        self.core_config = replica_core_config(cfg.bugs)
        self.now = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.net = Network(random.Random(f"{cfg.seed}/net"), cfg.net)
        self.rng = random.Random(f"{cfg.seed}/world")
        self.disks = {i: Disk() for i in self.ids}
        self.nodes: dict[int, SimNode | None] = {i: None for i in self.ids}
        self.incarnation = {i: 0 for i in self.ids}
        self.expect = {i: 0 for i in self.ids}      # the next slot each replica must apply
        self.chosen: dict[int, Batch] = {}
        self.agreement: str | None = None
        self.error: str | None = None                # the first replica that stopped on an internal error
        self.partitions: dict[int, frozenset[tuple[int, int]]] = {}  # fault number -> links it cuts
        self.fault_log: list[str] = []
        self.recorder = HistoryRecorder(clock_ns=lambda: self.now * 1000)
        self.workers: list[_Worker] = []
        self._next_process = 0
        self.workload_end = cfg.duration_ms * 1000
        self.armed: dict[int, tuple[tuple[type, ...], int]] = {}  # node -> (records, downtime): one-shot
        self._crashing: dict[int, tuple[int, str]] = {}  # node -> (downtime, what it synced): crash now
        self._final_from = 1 << 62                   # first process id of the final reads
        for i in self.ids:
            self._start(i)

    # ------------------------------------------------------------------ the clock
    def at(self, t: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (t, self._seq, fn))
        self._seq += 1

    def after(self, delay: int, fn: Callable[[], None]) -> None:
        self.at(self.now + delay, fn)

    def run_until(self, t: int) -> None:
        for _ in range(EVENTS_MAX):
            if not self._queue or self._queue[0][0] > t:
                self.now = t
                return
            when, _, fn = heapq.heappop(self._queue)
            self.now = when
            fn()
            if self._crashing:
                self._fire_crash_points()
        raise InternalError(f"simulator seed {self.cfg.seed}: more than {EVENTS_MAX} events before {t} us; "
                            "something schedules events without end (report it with the seed)")

    def log(self, text: str) -> None:
        self.fault_log.append(f"{self.now / 1000:9.1f} ms  {text}")

    # ------------------------------------------------------------------ replicas
    def _start(self, i: int) -> None:
        self.expect[i] = 0  # a restarted core hands its snapshot and chosen slots to the host again
        inc = self.incarnation[i]
        self.nodes[i] = SimNode(
            i, self.ids, self.core_config, disk=self.disks[i],
            rng=random.Random(f"{self.cfg.seed}/replica/{i}/{inc}"),
            send=self._send, reply=functools.partial(self._reply, i),
            on_commit=self._on_commit, crash_point=self._crash_point, snapshot_every=self.cfg.snapshot_every or 0)
        self.after(self.rng.randint(1, TICK_US), lambda: self._tick(i, inc))
        if "no-fsync" in self.cfg.bugs:
            self.after(self.rng.randint(1, FLUSH_US), lambda: self._flush(i, inc))

    def _alive(self, i: int, inc: int) -> SimNode | None:
        node = self.nodes[i]
        return node if node is not None and self.incarnation[i] == inc else None

    def _tick(self, i: int, inc: int) -> None:
        node = self._alive(i, inc)
        if node is not None:
            self._guard(i, node.tick)
            self.after(TICK_US, lambda: self._tick(i, inc))

    def _flush(self, i: int, inc: int) -> None:
        node = self._alive(i, inc)
        if node is not None:
            node.flush()
            self.after(FLUSH_US, lambda: self._flush(i, inc))

    def crash(self, i: int, *, power: bool) -> None:
        node = self.nodes[i]
        if node is None:
            return
        self.armed.pop(i, None)
        lost = self.disks[i].lose_power(self.rng) if power else 0
        self.nodes[i] = None
        self.incarnation[i] += 1
        self.log(f"node {i} " + (f"loses power ({lost} unsynced records lost)" if power else "killed (kill -9)"))

    def restart(self, i: int) -> None:
        if self.nodes[i] is None:
            self._start(i)
            self.log(f"node {i} restarted")

    def _crash_point(self, i: int, persisted: tuple[Record, ...]) -> bool:
        """Asked by node i after each Ready it synced: must it crash now? (armed faults, then chance)"""
        if self.now >= self.workload_end:
            return False  # the final heal is on
        kinds = {type(r) for r in persisted}
        what = ", ".join(sorted(k.__name__.removesuffix("Record").lower() for k in kinds))
        armed = self.armed.get(i)
        if armed is not None and kinds & set(armed[0]):
            del self.armed[i]
            self._crashing[i] = (armed[1], what)
        elif ((PromiseRecord in kinds and self.rng.random() < (self.cfg.crash_on_promise or 0.0))
              or (AcceptRecord in kinds and self.rng.random() < (self.cfg.crash_on_accept or 0.0))):
            low, high = self.cfg.restart_ms or (0, 0)
            self._crashing[i] = (round(1000 * low * (high / low) ** self.rng.random()) if low else 0, what)
        else:
            return False
        return True

    def _fire_crash_points(self) -> None:
        for i, (down, what) in sorted(self._crashing.items()):
            self.log(f"node {i} crashes at a crash point: synced {what} records, sent its replies; "
                     f"restarts in {down / 1000:.0f} ms")
            self.crash(i, power=False)
            self.after(down, functools.partial(self.restart, i))
        self._crashing.clear()

    def _send(self, envs: tuple[Envelope, ...]) -> None:
        for env in envs:
            for delay in self.net.plan(env.src, env.dst):
                self.after(delay, functools.partial(self._deliver, env))

    def _deliver(self, env: Envelope) -> None:
        node = self.nodes[env.dst]
        if node is None or not self.net.passes(env.src, env.dst):
            return
        try:
            self._guard(env.dst, functools.partial(node.step, env))
        except ProtocolViolation as exc:
            # the real host logs and drops it (replica_image/host.py); here it is also a finding
            self._disagree(f"node {env.dst} rejected a message from {env.src} as a protocol violation: {exc}")
        except InvalidMessage:
            pass

    def _guard(self, i: int, call: Callable[[], None]) -> None:
        """Run one input of node i. A core that raises anything but InvalidMessage stops its replica
        (the real host loop dies with it): the node is crashed and the error is a finding."""
        try:
            call()
        except InvalidMessage:
            raise
        except ReplicaError as exc:
            if self.error is None:
                self.error = f"at {self.now / 1000:.1f} ms, node {i} stopped: {type(exc).__name__}: {exc}"
            self.crash(i, power=False)

    def _on_commit(self, i: int, slot: int, batch: Batch | None) -> None:
        if batch is None:  # a snapshot through `slot`
            self.expect[i] = slot + 1
            return
        if slot != self.expect[i]:
            self._disagree(f"node {i} applied slot {slot} when slot {self.expect[i]} was next")
        self.expect[i] = slot + 1
        prev = self.chosen.setdefault(slot, batch)
        if prev != batch:
            self._disagree(f"slot {slot}: node {i} applied {_show(batch)}, another replica {_show(prev)}")

    def _disagree(self, text: str) -> None:
        if self.agreement is None:
            self.agreement = f"at {self.now / 1000:.1f} ms, {text}"

    def leader(self) -> int | None:
        best: tuple[Ballot, int] | None = None
        for i in self.ids:
            node = self.nodes[i]
            if node is not None and node.core.role is Role.LEADER:
                key = (node.core.ballot, i)
                if best is None or key > best:
                    best = key
        return None if best is None else best[1]

    # ------------------------------------------------------------------ the nemesis
    def schedule_faults(self, faults: tuple[Fault, ...]) -> None:
        for k, fault in enumerate(faults):
            self.at(fault.at_us, functools.partial(self._begin, k, fault))

    def _resolve(self, fault: Fault) -> int | None:
        if fault.node is not None:
            return fault.node if fault.node in self.nodes else None
        up = [i for i in self.ids if self.nodes[i] is not None]
        leader = self.leader()
        if fault.target == "leader":
            return leader
        if fault.target == "follower":
            others = [i for i in up if i != leader]
            return self.rng.choice(others) if others else None
        return self.rng.choice(self.ids)

    def _begin(self, k: int, fault: Fault) -> None:
        if self.now >= self.workload_end:
            return
        if fault.kind in ("split", "bridge"):
            a, b = fault.groups
            text = f"partition {','.join(map(str, a))} | {','.join(map(str, b))}"
            if fault.kind == "bridge":
                text += " bridged by " + ",".join(str(i) for i in self.ids if i not in a and i not in b)
            self._cut(k, _between(a, b), text, fault.for_us)
            return
        target = self._resolve(fault)
        if target is None:
            self.log(f"{fault.kind} on the {fault.target}: no such node now, skipped")
            return
        if fault.kind == "isolate":
            others = tuple(i for i in self.ids if i != target)
            self._cut(k, _between((target,), others), f"isolate node {target} ({fault.target})", fault.for_us)
        elif fault.kind in ("kill", "power"):
            if self.nodes[target] is None:
                return
            self.crash(target, power=fault.kind == "power")
            self.after(fault.for_us, lambda: self.restart(target))
        else:  # crash-point
            if self.nodes[target] is None or target in self.armed:
                return
            self.armed[target] = (CRASH_RECORDS[fault.record], fault.for_us)
            self.log(f"node {target} ({fault.target}) armed to crash after it next syncs a {fault.record} record")

    def _cut(self, k: int, links: frozenset[tuple[int, int]], text: str, for_us: int) -> None:
        self.partitions[k] = links
        self._apply_partitions()
        self.log(text)

        def lift() -> None:
            if self.partitions.pop(k, None) is not None:
                self._apply_partitions()
                self.log(f"healed: {text}")
        self.after(for_us, lift)

    def _apply_partitions(self) -> None:
        self.net.blocked = set().union(*self.partitions.values())

    def heal_all(self) -> None:
        self.partitions.clear()
        self._apply_partitions()
        self.armed.clear()
        for i in self.ids:
            self.restart(i)
        self.log("final heal: every link restored, every replica up, crash points disarmed")

    # ------------------------------------------------------------------ clients
    def add_worker(self, *, gen: OpGenerator | None, script: list[Op] | None = None, attempts: int) -> _Worker:
        w = _Worker(index=len(self.workers), process=self._fresh_process(), gen=gen,
                    target=self.rng.choice(self.ids), script=script, attempts=attempts)
        self.workers.append(w)
        self.after(self.rng.randint(0, self.cfg.think_ms * 1000), lambda: self._start_op(w))
        return w

    def _fresh_process(self) -> int:
        p = self._next_process
        self._next_process += 1
        return p

    def _start_op(self, w: _Worker) -> None:
        if w.script is not None:
            if not w.script:
                return
            op = w.script.pop(0)
        elif self.now >= self.workload_end or w.gen is None:
            return
        else:
            op = w.gen.next_op()
        w.op, w.tries, w.maybe_applied = op, 0, False
        w.request_id += 1
        self.recorder.record(process=w.process, type="invoke", f=op.f, key=op.key, value=_invoke_value(op))
        self._send_attempt(w)

    def _send_attempt(self, w: _Worker) -> None:
        assert w.op is not None
        w.attempt += 1
        w.tries += 1
        attempt, node_id, op = w.attempt, w.target, w.op
        cmd = Command(client_id=f"sim-p{w.process}", request_id=w.request_id, op=op.f, key=op.key,
                      value=op.value, expect=op.expect)

        def arrive() -> None:
            node = self.nodes[node_id]
            if node is None:  # connection refused: definitely not applied
                self._reply(node_id, Waiter(w.index, attempt), None, None)
            else:
                self._guard(node_id, functools.partial(node.request, cmd, Waiter(w.index, attempt)))
        self.after(self.rng.randint(*CLIENT_DELAY_US), arrive)
        self.after(self.cfg.timeout_ms * 1000, lambda: self._timeout(w, attempt))

    def _reply(self, node_id: int, waiter: Waiter, result: Result | None, leader: int | None) -> None:
        self.after(self.rng.randint(*CLIENT_DELAY_US), lambda: self._answer(node_id, waiter, result, leader))

    def _answer(self, node_id: int, waiter: Waiter, result: Result | None, leader: int | None) -> None:
        w = self.workers[waiter.worker]
        if w.op is None or waiter.attempt != w.attempt:
            return  # an answer to an attempt the client already gave up on
        w.attempt += 1
        if result is not None:
            if result.status == STALE:
                self._complete(w, "fail", node_id, error="400 stale")
            elif result.status == PRECONDITION_FAILED:
                self._complete(w, "fail", node_id, error="precondition")
            else:
                self._complete(w, "ok", node_id, read=result.value if w.op.f == "get" else None)
            return
        if w.tries < w.attempts and self.now < self.workload_end + self.cfg.settle_ms * 1000:
            w.target = leader if leader is not None and leader != node_id else self._next_node(node_id)
            self.after(self.rng.randint(*RETRY_BACKOFF_US), lambda: self._send_attempt(w))
        elif w.maybe_applied:
            self._complete(w, "info", node_id, error="unavailable after an unknown attempt")
        else:
            self._complete(w, "fail", node_id, error="unavailable (not proposed)")

    def _timeout(self, w: _Worker, attempt: int) -> None:
        if w.op is None or attempt != w.attempt:
            return
        w.attempt += 1
        w.maybe_applied = True
        if self.cfg.retry_unknown and w.tries < w.attempts:
            w.target = self._next_node(w.target)
            self._send_attempt(w)
        else:
            self._complete(w, "info", w.target, error="timeout")

    def _next_node(self, node_id: int) -> int:
        return self.ids[node_id % len(self.ids)]

    def _complete(self, w: _Worker, type: str, node_id: int, *, read: str | None = None,
                  error: str | None = None) -> None:
        op = w.op
        assert op is not None
        value: Value = read if op.f == "get" else _invoke_value(op)
        self.recorder.record(process=w.process, type=type, f=op.f, key=op.key, value=value, node=node_id,
                             error=error)
        if w.gen is not None:
            w.gen.observe(op, ok=type == "ok", read=read)
        w.op = None
        if type == "info":
            w.process, w.request_id = self._fresh_process(), 0
        self.after(self.rng.randint(0, self.cfg.think_ms * 1000), lambda: self._start_op(w))

    # ------------------------------------------------------------------ after the run
    def liveness(self) -> str | None:
        if any(w.op is not None for w in self.workers):
            return "operations still open at the end of the settle time"
        leader = self.leader()
        if leader is None:
            return "no leader after the final heal"
        nodes = [self.nodes[i] for i in self.ids]
        firsts = {n.core.first_unchosen for n in nodes if n is not None}
        digests = {n.kv.digest() for n in nodes if n is not None}
        if len(firsts) != 1 or len(digests) != 1:
            return f"replicas did not converge: first unchosen slots {sorted(firsts)}, {len(digests)} states"
        finals = [e for e in self.recorder.events if e.process >= self._final_from and e.type != "invoke"]
        bad = [e for e in finals if e.type != "ok"]
        if bad:
            return f"{len(bad)} of the final reads did not succeed ({bad[0].error})"
        return None


def _between(a: tuple[int, ...], b: tuple[int, ...]) -> frozenset[tuple[int, int]]:
    """Both directions of every link from a node of `a` to a node of `b`."""
    return frozenset({(x, y) for x in a for y in b} | {(y, x) for x in a for y in b})


def _invoke_value(op: Op) -> Value:
    if op.f == "cas":
        return CasValue(expect=op.expect, value=op.value)
    return op.value


def _show(batch: Batch) -> str:
    return "[" + ", ".join(f"{c.client_id}#{c.request_id} {c.op} {c.key}" for c in batch)[:200] + "]"


def simulate(cfg: SimConfig, *, check_history: bool = True) -> SimResult:
    """Run one seeded simulation (see the module docstring) and check it."""
    cfg = cfg.resolved()
    assert cfg.faults is not None
    world = _World(cfg)
    spec = WorkloadSpec(duration_s=cfg.duration_ms / 1000, concurrency=cfg.concurrency, keys=cfg.keys,
                        mix=DEFAULT_MIX)
    for k in range(cfg.concurrency):
        gen = OpGenerator(spec, rng=random.Random(f"{cfg.seed}/workload/{k}"), tag=f"w{k}")
        world.add_worker(gen=gen, attempts=cfg.attempts)
    world.schedule_faults(cfg.faults)
    world.run_until(world.workload_end)
    world.heal_all()
    settle = cfg.settle_ms * 1000
    world.run_until(world.workload_end + settle // 2)
    world._final_from = world._next_process
    for key in OpGenerator(spec, rng=random.Random(0), tag="final").keys:
        world.add_worker(gen=None, script=[Op(f="get", key=key)], attempts=FINAL_READ_ATTEMPTS)
    world.run_until(world.workload_end + settle)
    liveness = world.liveness()
    result: CheckResult | None = None
    if check_history:
        import time  # the budget only: a verdict never depends on the wall clock, only its absence does
        end = time.monotonic() + cfg.check_budget_s
        result = check(model_for("kv"), operations(world.recorder.events), deadline=lambda: time.monotonic() > end)
    return SimResult(config=cfg, events=tuple(world.recorder.events), check=result, agreement=world.agreement,
                     liveness=liveness, error=world.error, fault_log=tuple(world.fault_log), virtual_ms=world.now // 1000)

