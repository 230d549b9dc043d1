"""Test helpers: compact hand-written histories and generated executions of a linearizable store.

Not a test module (no `test_` prefix); imported by the checker tests and benchmarks/checker.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from workloads.history import CasValue, Event, Scalar, Value

Row = tuple[Any, ...]
"""(process, type, f, key, value[, error])"""


def h(*rows: Row) -> list[Event]:
    """Events from rows (process, type, f, key, value[, error]); indexes are the row positions."""
    out = []
    for i, row in enumerate(rows):
        proc, typ, f, key, value = row[:5]
        error = row[5] if len(row) > 5 else None
        out.append(Event(index=i, time=i * 1000, process=proc, type=typ, f=f, key=key, value=value,
                         error=error))
    return out


def concurrent_puts(n: int, final_read: str, *, key: str = "k", first_process: int = 0) -> list[Row]:
    """n concurrent puts (returning in invocation order), then a read of `final_read`.

    With final_read="never" no order explains the read: invalid, and the search has to try about
    2**n configurations. With final_read="<0>" it is valid, but only if the first put to return took
    effect last, which the search tries late: a valid history that still takes 2**n-ish steps.
    """
    procs = range(first_process, first_process + n)
    rows: list[Row] = [(p, "invoke", "put", key, f"<{p - first_process}>") for p in procs]
    rows += [(p, "ok", "put", key, f"<{p - first_process}>") for p in procs]
    reader = first_process + n
    rows += [(reader, "invoke", "get", key, None), (reader, "ok", "get", key, final_read)]
    return rows


def cas(expect: Scalar, value: Scalar) -> CasValue:
    return CasValue(expect=expect, value=value)


@dataclass
class _Active:
    process: int
    f: str
    key: str
    value: Value
    applied: bool = False
    result: Value = None
    outcome: str = "ok"


@dataclass
class Execution:
    """A seeded concurrent execution against an in-memory linearizable store.

    Each operation takes effect atomically at one scheduler step strictly between its invoke and its
    completion, so the recorded history is linearizable by construction. Some operations fail
    (not applied), some end `info` (applied or not, at random) and retire their process, and a few
    are left pending at the end. Every written value is unique, so the injections below are
    detectable whatever the unknown operations did.
    """

    seed: int
    processes: int = 5
    keys: int = 3
    ops: int = 200
    p_fail: float = 0.03
    p_info: float = 0.03
    events: list[Event] = field(default_factory=list)
    store: dict[str, Value] = field(default_factory=dict)

    def run(self) -> list[Event]:
        rng = random.Random(f"checker-gen/{self.seed}")
        slots: list[int] = list(range(self.processes))  # slot -> current process id
        active: dict[int, _Active] = {}
        next_proc, started, uniq = self.processes, 0, 0
        while started < self.ops or active:
            slot = rng.randrange(self.processes)
            proc = slots[slot]
            op = active.get(proc)
            if op is None:
                if started >= self.ops:
                    continue
                uniq += 1
                started += 1
                active[proc] = self._invoke(rng, proc, uniq)
            elif not op.applied:
                self._apply(rng, op)
            else:
                del active[proc]
                self._complete(op)
                if op.outcome == "info":
                    slots[slot], next_proc = next_proc, next_proc + 1
        return self.events

    def _emit(self, proc: int, typ: str, f: str, key: str, value: Value, error: str | None = None) -> None:
        self.events.append(Event(index=len(self.events), time=len(self.events) * 1000, process=proc,
                                 type=typ, f=f, key=key, value=value, error=error))

    def _invoke(self, rng: random.Random, proc: int, uniq: int) -> _Active:
        key = f"k{rng.randrange(self.keys)}"
        f = rng.choice(("get", "get", "put", "append", "delete", "cas"))
        value: Value = None
        if f == "put":
            value = f"p{uniq}"
        elif f == "append":
            value = f"[{uniq}]"
        elif f == "cas":
            current = self.store.get(key)
            expect: Scalar = current if rng.random() < 0.7 and not isinstance(current, CasValue) else f"nope{uniq}"
            value = cas(expect, f"c{uniq}")
        self._emit(proc, "invoke", f, key, value)
        return _Active(process=proc, f=f, key=key, value=value)

    def _apply(self, rng: random.Random, op: _Active) -> None:
        op.applied = True
        roll = rng.random()
        if roll < self.p_fail:
            op.outcome = "fail"
            return
        if roll < self.p_fail + self.p_info:
            op.outcome = "info"
            if rng.random() < 0.5:
                return  # unknown outcome, and it did not happen
        self._effect(op)

    def _effect(self, op: _Active) -> None:
        cur = self.store.get(op.key)
        if op.f in ("get", "read"):
            op.result = cur
        elif op.f in ("put", "write"):
            self.store[op.key] = op.value
        elif op.f == "append":
            self.store[op.key] = op.value if cur is None else f"{cur}{op.value}"
        elif op.f == "delete":
            self.store.pop(op.key, None)
        elif op.f == "cas":
            assert isinstance(op.value, CasValue)
            if cur == op.value.expect:
                self.store[op.key] = op.value.value
            elif op.outcome == "ok":
                op.outcome = "precondition"

    def _complete(self, op: _Active) -> None:
        if op.outcome == "precondition":
            self._emit(op.process, "fail", op.f, op.key, op.value, "precondition")
        elif op.outcome in ("fail", "info"):
            self._emit(op.process, op.outcome, op.f, op.key, op.value, "timeout" if op.outcome == "info" else "503")
        else:
            self._emit(op.process, "ok", op.f, op.key, op.result if op.f in ("get", "read") else op.value)

    # --- a quiescent tail, with or without one injected anomaly -----------------------------------
    def tail(self, anomaly: str | None) -> list[Event]:
        """Append a sequential tail on a key; `anomaly` in stale-read|lost-write|duplicated-append|None."""
        p = max(e.process for e in self.events) + 1
        key = "k0"

        def seq(f: str, value: Value, result: Value = None) -> None:
            self._emit(p, "invoke", f, key, value)
            self._emit(p, "ok", f, key, result if f == "get" else value)

        seq("put", "old")
        if anomaly == "stale-read":
            seq("put", "new")
            seq("get", None, "old")
        elif anomaly == "lost-write":
            seq("append", "+lost")
            seq("get", None, "old")
        elif anomaly == "duplicated-append":
            seq("append", "+dup")
            seq("get", None, "old+dup+dup")
        else:
            seq("append", "+x")
            seq("get", None, "old+x")
        return self.events


@dataclass
class SmallRegister(Execution):
    """A single cas-register with few values, shaped like the Jepsen etcd logs in Porcupine's test data.

    Those logs (about 90 operations each, 5 live clients, values 0-4, reads/writes/cas, about a fifth
    of the operations timing out as `info` and retiring their client) are hard not by length but
    because small values repeat and unknown outcomes stay open to the end.
    """

    processes: int = 5
    keys: int = 1
    ops: int = 90
    p_fail: float = 0.0
    p_info: float = 0.18
    values: int = 5

    def _invoke(self, rng: random.Random, proc: int, uniq: int) -> _Active:
        f = rng.choice(("read", "write", "cas"))
        value: Value = None
        if f == "write":
            value = rng.randrange(self.values)
        elif f == "cas":
            value = cas(rng.randrange(self.values), rng.randrange(self.values))
        self._emit(proc, "invoke", f, "r", value)
        return _Active(process=proc, f=f, key="r", value=value)
