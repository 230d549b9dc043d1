"""The client outcome rules (workloads/outcome.py), pure: the HTTP client and the simulator's clients run
every op through them, so these are the rules of both."""

from __future__ import annotations

import pytest

from targets.contract import Answer
from workloads.generator import Op
from workloads.history import CasValue, HistoryRecorder
from workloads.outcome import Completion, OpAttempts, Retry, next_node, record_completion, record_invoke

NOT_APPLIED = Answer(kind="not-applied", error="503 no leader")
UNKNOWN = Answer(kind="unknown", error="timeout")


def rules(*, attempts: int = 3, retry_unknown: bool = False, node: int = 1) -> OpAttempts:
    return OpAttempts(node=node, nodes=[1, 2, 3], attempts=attempts, retry_unknown=retry_unknown)


def test_ok_and_fail_end_the_op_at_once() -> None:
    r = rules()
    assert r.begin() == 1
    assert r.answer(Answer(kind="ok", read="v"), node=1, time_left=True) == Completion(type="ok", node=1, read="v")
    r = rules()
    r.begin()
    done = r.answer(Answer(kind="fail", error="precondition"), node=1, time_left=True)
    assert done == Completion(type="fail", node=1, error="precondition") and not done.retire


def test_not_applied_is_retried_at_the_hinted_leader_else_at_the_next_node() -> None:
    r = rules()
    r.begin()
    assert r.answer(Answer(kind="not-applied", leader=3), node=1, time_left=True) == Retry(3)
    assert r.begin() == 3
    # a hint naming the node that answered, or no node of the cluster, is no hint: move on
    assert r.answer(Answer(kind="not-applied", leader=3), node=3, time_left=True) == Retry(1)
    r = rules()
    r.begin()
    assert r.answer(Answer(kind="not-applied", leader=9), node=1, time_left=True) == Retry(2)


def test_not_applied_every_time_is_a_fail_after_the_attempts_or_the_time() -> None:
    r = rules(attempts=2)
    r.begin()
    assert isinstance(r.answer(NOT_APPLIED, node=1, time_left=True), Retry)
    r.begin()
    assert r.answer(NOT_APPLIED, node=2, time_left=True) == Completion(type="fail", node=2, error="503 no leader")
    r = rules(attempts=5)
    r.begin()
    assert r.answer(NOT_APPLIED, node=1, time_left=False) == Completion(type="fail", node=1, error="503 no leader")


def test_unknown_is_info_and_not_retried_by_default() -> None:
    r = rules()
    r.begin()
    done = r.answer(UNKNOWN, node=1, time_left=True)
    assert done == Completion(type="info", node=1, error="timeout") and done.retire


def test_retry_unknown_retries_at_the_next_node_and_never_turns_maybe_applied_into_fail() -> None:
    r = rules(retry_unknown=True)
    r.begin()
    assert r.answer(UNKNOWN, node=1, time_left=True) == Retry(2)
    r.begin()
    assert r.answer(NOT_APPLIED, node=2, time_left=True) == Retry(3)
    r.begin()
    done = r.answer(NOT_APPLIED, node=3, time_left=True)
    assert done == Completion(type="info", node=3, error="timeout; then 503 no leader")
    r = rules(retry_unknown=True, attempts=1)
    r.begin()
    assert r.answer(UNKNOWN, node=1, time_left=True) == Completion(type="info", node=1, error="timeout")


def test_the_next_node_is_the_next_id_round_the_ring_whatever_the_order_given() -> None:
    assert [next_node([3, 1, 2], n) for n in (1, 2, 3)] == [2, 3, 1]
    assert next_node([5, 7], 9) == 5  # not a node of the cluster: start at the first


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        OpAttempts(node=4, nodes=[1, 2, 3], attempts=1, retry_unknown=False)
    with pytest.raises(ValueError):
        OpAttempts(node=1, nodes=[1], attempts=0, retry_unknown=False)


def test_the_history_records_a_cas_with_its_expectation_and_a_get_with_what_it_read() -> None:
    rec = HistoryRecorder()
    cas = Op(f="cas", key="k", expect="a", value="b")
    get = Op(f="get", key="k")
    record_invoke(rec, cas, process=0, node=1)
    record_completion(rec, cas, Completion(type="info", node=2, error="timeout"), process=0)
    record_invoke(rec, get, process=1)
    record_completion(rec, get, Completion(type="ok", node=3, read="b"), process=1)
    assert [(e.type, e.value, e.node) for e in rec.events] == [
        ("invoke", CasValue(expect="a", value="b"), 1), ("info", CasValue(expect="a", value="b"), 2),
        ("invoke", None, None), ("ok", "b", 3)]
