"""What the search engines share: the slice length, the captured failure, the engine interface."""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from harness.checker.operation import Operation

SLICE: Final = 2048
"""Search iterations between two yields (the scheduler looks at the deadline and switches keys)."""


@dataclass(slots=True)
class Stuck:
    """The configuration where a search got stuck furthest: ops are indexes into the partition."""

    prefix: list[tuple[int, Hashable]]  # (op, state after it), in linearization order
    state: Hashable  # the state after the prefix
    unplaced: list[int]  # invoked before the stuck return and not placed
    stuck: int  # the op whose return could not be passed


class Search(Protocol):
    """One single-use run of a search engine over one partition."""

    explored: int  # distinct configurations memoized so far
    furthest: int  # history event index of the furthest return the search got stuck at
    stuck_at: Stuck | None  # set by a run with stop_at, when it gets there

    def run(self, *, max_states: int, stop_at: int | None) -> Generator[None, None, str]:
        """Yield every SLICE iterations; return 'valid', 'invalid', 'stopped' or why unknown."""


SearchFactory = Callable[
    [Sequence[Operation], Sequence[Callable[[Any], tuple[bool, Any]]], Hashable, list[bool], Any], Search]
"""(ops, compiled steps, initial state, read-only flags, model) -> a fresh search."""
