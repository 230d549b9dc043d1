"""The two search engines (JIT with pruning, plain WGL) must agree on every verdict.

WGL is the textbook algorithm; JIT adds forced reads and monotone pruning. Random small histories,
most of them not linearizable, exercise those shortcuts against the reference.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.checker import KVModel, RegisterModel, Verdict, check, operations
from tests.checker.histories import Execution, cas
from workloads.history import Event, Scalar


def _random_history(seed: int, *, register: bool = False) -> list[Event]:
    rng = random.Random(f"engines/{seed}")
    procs = rng.randint(2, 4)
    n_ops = rng.randint(4, 11)
    values: list[Scalar] = [None, "a", "b", "ab", "ba", "aa", "b"] if not register else [None, 1, 2, 3]
    events: list[Event] = []
    open_: dict[int, tuple[str, object]] = {}
    next_proc = procs
    live = list(range(procs))
    started = 0

    def emit(p: int, typ: str, f: str, value: object, error: str | None = None) -> None:
        events.append(Event(index=len(events), time=None, process=p, type=typ, f=f,
                            key=None if register else "k", value=value, error=error))  # type: ignore[arg-type]

    while started < n_ops or open_:
        slot = rng.randrange(len(live))
        p = live[slot]
        if p not in open_:
            if started >= n_ops:
                if rng.random() < 0.1:
                    break  # leave the rest pending
                continue
            started += 1
            fs = ("read", "write", "cas") if register else ("get", "put", "append", "delete", "cas")
            f = rng.choice(fs)
            if f in ("get", "read", "delete"):
                value: object = None
            elif f == "cas":
                value = cas(rng.choice(values), rng.choice(values[1:]))
            elif f == "append":
                value = rng.choice(("a", "b"))
            else:
                value = rng.choice(values[1:])
            open_[p] = (f, value)
            emit(p, "invoke", f, value)
            continue
        f, value = open_.pop(p)
        roll = rng.random()
        if roll < 0.1:
            emit(p, "info", f, None, "timeout")
            live[slot], next_proc = next_proc, next_proc + 1
        elif roll < 0.15:
            emit(p, "fail", f, value, "503")
        elif f in ("get", "read"):
            emit(p, "ok", f, rng.choice(values))
        else:
            emit(p, "ok", f, value)
    return events


def _both(events: list[Event], model: KVModel | RegisterModel) -> tuple[Verdict, Verdict]:
    ops = operations(events)
    return (check(model, ops, engine="jit").verdict, check(model, ops, engine="wgl").verdict)


def test_engines_agree_on_random_kv_histories() -> None:
    tally: Counter[Verdict] = Counter()
    for seed in range(400):
        jit, wgl = _both(_random_history(seed), KVModel())
        assert jit == wgl, f"seed {seed}: jit {jit.name}, wgl {wgl.name}"
        tally[jit] += 1
    assert tally[Verdict.VALID] > 40 and tally[Verdict.INVALID] > 40, tally  # both outcomes exercised


def test_engines_agree_on_random_register_histories() -> None:
    for seed in range(200):
        jit, wgl = _both(_random_history(seed, register=True), RegisterModel())
        assert jit == wgl, f"seed {seed}: jit {jit.name}, wgl {wgl.name}"


@pytest.mark.parametrize("anomaly", [None, "stale-read", "lost-write", "duplicated-append"])
def test_engines_agree_on_generated_executions(anomaly: str | None) -> None:
    for seed in range(5):
        ex = Execution(seed=seed, processes=4, keys=2, ops=120)
        ex.run()
        events = ex.tail(anomaly)
        jit, wgl = _both(events, KVModel())
        assert jit == wgl == (Verdict.VALID if anomaly is None else Verdict.INVALID)


def test_engines_agree_on_the_counterexample_window() -> None:
    ex = Execution(seed=7, processes=4, keys=2, ops=120)
    ex.run()
    ops = operations(ex.tail("stale-read"))
    a = check(KVModel(), ops, engine="jit").counterexamples
    b = check(KVModel(), ops, engine="wgl").counterexamples
    assert [c.window[1] for c in a] == [c.window[1] for c in b]
