"""The search on hand-written histories for every operation type, unknown outcomes and budgets."""

from __future__ import annotations

import pytest

from harness.checker import KVModel, RegisterModel, Verdict, check, operations
from harness.checker.linearizable import SKIPPED
from tests.checker.histories import Row, cas, concurrent_puts, h
from workloads.history import Event

V, I = Verdict.VALID, Verdict.INVALID


def verdict(events: list[Event], model: KVModel | RegisterModel | None = None) -> Verdict:
    return check(model or KVModel(), operations(events)).verdict


# --- get / put ---------------------------------------------------------------------------------

def test_get_of_an_absent_key_reads_null() -> None:
    assert verdict(h((0, "invoke", "get", "k", None), (0, "ok", "get", "k", None))) == V
    assert verdict(h((0, "invoke", "get", "k", None), (0, "ok", "get", "k", "x"))) == I


def test_absent_reads_as_empty_string_in_porcupine_kv() -> None:
    events = h((0, "invoke", "get", "k", None), (0, "ok", "get", "k", ""))
    assert verdict(events, KVModel(absent="")) == V
    assert verdict(events) == I


def test_read_after_completed_put_must_see_it() -> None:
    base = [(0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"), (1, "invoke", "get", "k", None)]
    assert verdict(h(*base, (1, "ok", "get", "k", "a"))) == V
    assert verdict(h(*base, (1, "ok", "get", "k", None))) == I


@pytest.mark.parametrize("seen", [None, "a"])
def test_concurrent_get_may_see_before_or_after(seen: str | None) -> None:
    assert verdict(h((0, "invoke", "put", "k", "a"), (1, "invoke", "get", "k", None),
                     (1, "ok", "get", "k", seen), (0, "ok", "put", "k", "a"))) == V


def test_reads_cannot_go_back_in_time() -> None:
    # p1 reads the new value, then p2 (invoked after p1 returned) reads the old one: not linearizable
    # even though the put is still running.
    assert verdict(h((0, "invoke", "put", "k", "a"), (1, "invoke", "get", "k", None),
                     (1, "ok", "get", "k", "a"), (2, "invoke", "get", "k", None),
                     (2, "ok", "get", "k", None), (0, "ok", "put", "k", "a"))) == I


def test_keys_are_independent() -> None:
    assert verdict(h((0, "invoke", "put", "a", "1"), (0, "ok", "put", "a", "1"),
                     (0, "invoke", "get", "b", None), (0, "ok", "get", "b", None))) == V


# --- append / delete -----------------------------------------------------------------------------

def test_sequential_appends_keep_their_order() -> None:
    base = [(0, "invoke", "append", "k", "a"), (0, "ok", "append", "k", "a"),
            (0, "invoke", "append", "k", "b"), (0, "ok", "append", "k", "b"), (1, "invoke", "get", "k", None)]
    assert verdict(h(*base, (1, "ok", "get", "k", "ab"))) == V
    assert verdict(h(*base, (1, "ok", "get", "k", "ba"))) == I
    assert verdict(h(*base, (1, "ok", "get", "k", "abb"))) == I


def test_concurrent_appends_in_either_order() -> None:
    for seen in ("ab", "ba"):
        assert verdict(h((0, "invoke", "append", "k", "a"), (1, "invoke", "append", "k", "b"),
                         (0, "ok", "append", "k", "a"), (1, "ok", "append", "k", "b"),
                         (2, "invoke", "get", "k", None), (2, "ok", "get", "k", seen))) == V


def test_delete_then_append_starts_from_absent() -> None:
    base = [(0, "invoke", "put", "k", "x"), (0, "ok", "put", "k", "x"),
            (0, "invoke", "delete", "k", None), (0, "ok", "delete", "k", None),
            (0, "invoke", "append", "k", "y"), (0, "ok", "append", "k", "y"), (1, "invoke", "get", "k", None)]
    assert verdict(h(*base, (1, "ok", "get", "k", "y"))) == V
    assert verdict(h(*base, (1, "ok", "get", "k", "xy"))) == I


def test_get_after_delete_reads_absent() -> None:
    base = [(0, "invoke", "put", "k", "x"), (0, "ok", "put", "k", "x"),
            (0, "invoke", "delete", "k", None), (0, "ok", "delete", "k", None), (0, "invoke", "get", "k", None)]
    assert verdict(h(*base, (0, "ok", "get", "k", None))) == V
    assert verdict(h(*base, (0, "ok", "get", "k", "x"))) == I


# --- cas -----------------------------------------------------------------------------------------

def test_cas_applies_only_when_expect_matches() -> None:
    base = [(0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
            (0, "invoke", "cas", "k", cas("a", "b")), (0, "ok", "cas", "k", cas("a", "b"))]
    assert verdict(h(*base, (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "b"))) == V
    wrong = [(0, "invoke", "cas", "k", cas("z", "b")), (0, "ok", "cas", "k", cas("z", "b"))]
    assert verdict(h(*base[:2], *wrong)) == I


def test_cas_on_absent_key_expects_null() -> None:
    assert verdict(h((0, "invoke", "cas", "k", cas(None, "a")), (0, "ok", "cas", "k", cas(None, "a")),
                     (0, "invoke", "get", "k", None), (0, "ok", "get", "k", "a"))) == V


def test_two_concurrent_cas_from_the_same_value_cannot_both_succeed() -> None:
    start = [(0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
             (1, "invoke", "cas", "k", cas("a", "b")), (2, "invoke", "cas", "k", cas("a", "c"))]
    assert verdict(h(*start, (1, "ok", "cas", "k", None), (2, "ok", "cas", "k", None))) == I
    assert verdict(h(*start, (1, "ok", "cas", "k", None), (2, "fail", "cas", "k", None, "precondition"),
                     (3, "invoke", "get", "k", None), (3, "ok", "get", "k", "b"))) == V
    # ...unless a concurrent put restores the expected value between them
    assert verdict(h(*start, (3, "invoke", "put", "k", "a"), (1, "ok", "cas", "k", None),
                     (2, "ok", "cas", "k", None), (3, "ok", "put", "k", "a"))) == V


def test_failed_operations_did_not_happen() -> None:
    assert verdict(h((0, "invoke", "put", "k", "x"), (0, "fail", "put", "k", "x", "503"),
                     (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "x"))) == I


# --- unknown outcomes ------------------------------------------------------------------------------

def test_info_write_that_must_have_happened() -> None:
    assert verdict(h((0, "invoke", "put", "k", "x"), (0, "info", "put", "k", None, "timeout"),
                     (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "x"))) == V


def test_info_write_that_must_not_have_happened() -> None:
    assert verdict(h((0, "invoke", "put", "k", "x"), (0, "info", "put", "k", None, "timeout"),
                     (1, "invoke", "get", "k", None), (1, "ok", "get", "k", None))) == V


def test_info_write_happens_once_at_one_point() -> None:
    # seen, then not seen any more: the info put cannot take effect twice.
    assert verdict(h((0, "invoke", "put", "k", "x"), (0, "info", "put", "k", None),
                     (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "x"),
                     (1, "invoke", "get", "k", None), (1, "ok", "get", "k", None))) == I


def test_info_write_cannot_take_effect_before_its_invocation() -> None:
    assert verdict(h((1, "invoke", "get", "k", None), (1, "ok", "get", "k", "x"),
                     (0, "invoke", "put", "k", "x"), (0, "info", "put", "k", None))) == I


def test_info_cas_may_not_happen_even_if_its_precondition_held() -> None:
    assert verdict(h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
                     (1, "invoke", "cas", "k", cas("a", "b")), (1, "info", "cas", "k", None),
                     (2, "invoke", "get", "k", None), (2, "ok", "get", "k", "a"),
                     (2, "invoke", "get", "k", None), (2, "ok", "get", "k", "a"))) == V


def test_info_cas_that_must_have_happened_late() -> None:
    # b is seen only after the put of c: the cas a->b cannot explain it (state was c), so invalid.
    assert verdict(h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
                     (1, "invoke", "cas", "k", cas("a", "b")), (1, "info", "cas", "k", None),
                     (0, "invoke", "put", "k", "c"), (0, "ok", "put", "k", "c"),
                     (2, "invoke", "get", "k", None), (2, "ok", "get", "k", "b"))) == I


def test_process_goes_on_after_info() -> None:
    # p0's put x ended info; p0 then puts y. The earlier put x may still land after put y.
    base = [(0, "invoke", "put", "k", "x"), (0, "info", "put", "k", None),
            (0, "invoke", "put", "k", "y"), (0, "ok", "put", "k", "y"), (1, "invoke", "get", "k", None)]
    assert verdict(h(*base, (1, "ok", "get", "k", "x"))) == V
    assert verdict(h(*base, (1, "ok", "get", "k", "y"))) == V
    assert verdict(h(*base, (1, "ok", "get", "k", "z"))) == I


def test_operation_without_completion_is_unknown() -> None:
    assert verdict(h((0, "invoke", "append", "k", "x"), (1, "invoke", "get", "k", None),
                     (1, "ok", "get", "k", "x"))) == V
    assert verdict(h((0, "invoke", "append", "k", "x"), (1, "invoke", "get", "k", None),
                     (1, "ok", "get", "k", None))) == V


def test_info_reads_constrain_nothing() -> None:
    ops = operations(h((0, "invoke", "get", "k", None), (0, "info", "get", "k", None)))
    assert ops == []


# --- register model ---------------------------------------------------------------------------------

def test_register_read_write_cas() -> None:
    reg = RegisterModel()
    assert verdict(h((0, "invoke", "write", None, 1), (0, "ok", "write", None, 1),
                     (1, "invoke", "cas", None, cas(1, 2)), (1, "ok", "cas", None, cas(1, 2)),
                     (2, "invoke", "read", None, None), (2, "ok", "read", None, 2)), reg) == V
    assert verdict(h((0, "invoke", "write", None, 1), (0, "ok", "write", None, 1),
                     (2, "invoke", "read", None, None), (2, "ok", "read", None, None)), reg) == I


# --- counterexample ----------------------------------------------------------------------------------

def test_counterexample_names_key_window_prefix_and_unplaced() -> None:
    events = h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),          # 0, 1
               (0, "invoke", "put", "k", "b"), (0, "ok", "put", "k", "b"),          # 2, 3
               (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "a"),         # 4, 5  stale
               (1, "invoke", "put", "j", "z"), (1, "ok", "put", "j", "z"))
    result = check(KVModel(), operations(events))
    assert result.verdict == I
    [bad] = [p for p in result.partitions if p.verdict == I]
    assert bad.key == "k"
    cx = bad.counterexample
    assert cx is not None and cx.key == "k"
    assert cx.window == (4, 5)
    assert [p.op for p in cx.prefix] == [0, 1] and cx.prefix[-1].state == "'b'"
    assert cx.unplaced == (2,) and cx.stuck == 2
    assert cx.state_after_prefix == "'b'"
    assert [o.id for o in cx.operations] == [0, 1, 2]  # the stale read, the write it saw, the one it missed
    assert cx.prefix_length == 2
    assert "window" in cx.to_dict()


# --- budgets ------------------------------------------------------------------------------------------

def _hard(n: int = 14) -> list[Event]:
    """A history the search needs ~2**n steps to refute (see concurrent_puts)."""
    return h(*concurrent_puts(n, "never"))


def test_time_budget_exhausted_is_unknown_never_valid() -> None:
    calls = iter(range(10**9))
    result = check(KVModel(), operations(_hard()), deadline=lambda: next(calls) >= 2)
    assert result.verdict == Verdict.UNKNOWN
    assert result.partitions[0].reason == "time budget exhausted"


def test_memory_budget_exhausted_is_unknown() -> None:
    result = check(KVModel(), operations(_hard()), memory_bytes=1)
    assert result.verdict == Verdict.UNKNOWN
    assert result.partitions[0].reason == "memory budget exhausted"


def test_hard_history_is_invalid_given_enough_budget() -> None:
    assert check(KVModel(), operations(_hard(8))).verdict == I
    assert check(KVModel(), operations(h(*concurrent_puts(8, "<0>")))).verdict == V


def test_invalid_key_stops_the_others_unless_exhaustive() -> None:
    slow = concurrent_puts(12, "<0>")  # key k: valid, but thousands of configurations to find out
    quick = [(100, "invoke", "get", "q", None), (100, "ok", "get", "q", "x")]
    events = h(*slow, *quick)
    result = check(KVModel(), operations(events))
    by_key = {p.key: p for p in result.partitions}
    assert result.verdict == I and by_key["q"].verdict == I
    assert by_key["k"].verdict == Verdict.UNKNOWN and by_key["k"].reason == SKIPPED
    full = check(KVModel(), operations(events), exhaustive=True)
    assert {p.key: p.verdict for p in full.partitions} == {"k": V, "q": I}
