"""Generated histories: real concurrent executions of an in-memory linearizable store.

Unmodified they must always be valid; with one stale read, lost write or duplicated append injected
they must always be invalid, and the counterexample must point at the injected read.
"""

from __future__ import annotations

import pytest

from harness.checker import KVModel, Verdict, check, operations
from tests.checker.histories import Execution

SEEDS = range(25)


@pytest.mark.parametrize("seed", SEEDS)
def test_real_concurrent_execution_is_valid(seed: int) -> None:
    ex = Execution(seed=seed, processes=6, keys=3, ops=250)
    events = ex.run()
    ex.tail(None)
    result = check(KVModel(), operations(events))
    assert result.verdict == Verdict.VALID, [p.to_dict() for p in result.partitions if p.verdict]


@pytest.mark.parametrize("anomaly", ["stale-read", "lost-write", "duplicated-append"])
@pytest.mark.parametrize("seed", SEEDS)
def test_one_injected_anomaly_is_always_invalid(seed: int, anomaly: str) -> None:
    ex = Execution(seed=seed, processes=6, keys=3, ops=250)
    ex.run()
    events = ex.tail(anomaly)
    result = check(KVModel(), operations(events))
    assert result.verdict == Verdict.INVALID
    [cx] = result.counterexamples
    assert cx.key == "k0"
    last = events[-1]
    assert cx.window[1] == last.index, "the failing window ends at the injected read's return"


def test_generator_exercises_every_outcome_and_operation() -> None:
    events = Execution(seed=1, processes=8, keys=2, ops=2000).run()
    assert {e.type for e in events} == {"invoke", "ok", "fail", "info"}
    assert {e.f for e in events} == {"get", "put", "append", "delete", "cas"}
    assert any(e.error == "precondition" for e in events)
    procs = {e.process for e in events}
    assert len(procs) > 8, "processes are retired after info"
