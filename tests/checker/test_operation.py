"""The one pairing of invokes with completions (harness/checker/operation.py), read by the checker and the
report alike: what pairs with what, what stays open, and how a malformed history is told."""

from __future__ import annotations

import pytest

from harness.checker import operations, pair
from targets.errors import HistoryFormatError
from workloads.history import Event


def ev(index: int, process: int, type: str, f: str = "put", key: str = "k", value: str | None = "v") -> Event:
    return Event(index=index, time=index * 1000, process=process, type=type, f=f, key=key, value=value)


def test_each_invoke_pairs_with_the_next_completion_of_its_process() -> None:
    h = [ev(0, 0, "invoke"), ev(1, 1, "invoke", "get", value=None), ev(2, 1, "ok", "get", value="v"),
         ev(3, 0, "info"), ev(4, 2, "invoke"), ev(5, 0, "invoke", "append")]
    p = pair(h)
    assert [(i.index, c.index) for i, c in p.pairs] == [(1, 2), (0, 3)]  # in completion order
    assert [i.index for i in p.open] == [4, 5] and p.problems == []


def test_the_checker_keeps_what_can_have_happened() -> None:
    h = [ev(0, 0, "invoke"), ev(1, 0, "fail"), ev(2, 1, "invoke", "get", value=None),
         ev(3, 1, "info", "get", value=None), ev(4, 2, "invoke"), ev(5, 2, "info"), ev(6, 3, "invoke")]
    ops = operations(h)
    assert [(o.call, o.ret, o.status) for o in ops] == [(4, None, "info"), (6, None, "pending")]


@pytest.mark.parametrize("history,message", [
    ([ev(0, 0, "ok")], "event 0: ok put of process 0 completes nothing"),
    ([ev(0, 0, "invoke"), ev(1, 0, "invoke")], "event 1: process 0 invokes put while its put from event 0"),
    ([ev(0, 0, "invoke"), ev(1, 0, "ok", key="j")], "event 1: completion put 'j' does not match the invoke"),
])
def test_a_malformed_history_is_refused_by_the_checker_and_shown_by_the_report(
        history: list[Event], message: str) -> None:
    p = pair(history)
    assert p.problems and p.problems[0].startswith(message)
    with pytest.raises(HistoryFormatError, match="^" + message.split(":")[0]):
        operations(history)


def test_after_a_problem_the_pairing_goes_on() -> None:
    h = [ev(0, 0, "ok"), ev(1, 0, "invoke"), ev(2, 0, "invoke", "append"), ev(3, 0, "ok", "append")]
    p = pair(h)
    assert len(p.problems) == 2
    assert [(i.index, c.index) for i, c in p.pairs] == [(2, 3)] and p.open == []
