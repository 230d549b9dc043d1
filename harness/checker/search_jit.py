"""Just-in-time linearization (Lowe, "Testing for linearizability", 2017), depth first, memoized.

The search walks the events of one partition in real-time order and places an operation only when it
must: at the return of an operation that is not placed yet. There it branches over which pending
operations (invoked, not yet returned, not yet placed) take effect first, ending with the returning
one. Configurations (event position, set of placed pending operations, state) are memoized: reaching
one again means it was already explored and failed.

Two reductions keep the branching small, both sound for any model:
- Pending operations occupy "slots" (a slot is reused once its operation returns), so the placed set
  is a small int bitset over slots; with the event position it names the set of placed operations.
- Reads (`Model.readonly`) are forced: a read that is legal in a configuration can be placed first in
  some completion of it if the configuration has any (it changes no state, and everything that had to
  precede it is already placed), so legal pending reads are placed at once, with no alternatives.

- Monotone pruning (when the model has monotone operations, e.g. append): if no operation that could
  reset the state (neither read-only nor monotone) can be placed before a read's return, the read's
  value must be reachable from the current state by monotone steps (`Model.reaches`); if it is not,
  the configuration is dead. This stops the search from exploring every order of concurrent appends
  after a wrong choice that a later read already contradicts.

Operations with an unknown outcome have no return: they stay pending to the end, may be placed at any
later return, or never.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Hashable, Sequence
from typing import Any

from harness.checker.model import Model
from harness.checker.operation import Operation
from harness.checker.searchstate import SLICE, Stuck

_LOOKAHEAD_READS = 16  # future reads checked by monotone pruning at each choice point


class JITSearch:
    """One single-use run over one partition (see harness.checker.searchstate.Search)."""

    def __init__(self, ops: Sequence[Operation], steps: Sequence[Callable[[Any], tuple[bool, Any]]],
                 init: Hashable, readonly: list[bool], model: Model[Any] | None = None) -> None:
        self.ops, self.steps, self.init, self.readonly = ops, steps, init, readonly
        self.monotone = [model.monotone(op) for op in ops] if model is not None else [False] * len(ops)
        self.reaches = model.reaches if model is not None else None
        self.explored = 0
        self.furthest = -1
        self.stuck_at: Stuck | None = None

    def _build(self) -> tuple[list[int], list[bool], list[tuple[int, ...]], list[int], list[int]]:
        """Events in order: op, is-return, pending others at each return, history index; op -> slot bit."""
        evs: list[tuple[int, int, bool]] = []
        for i, op in enumerate(self.ops):
            evs.append((op.call, i, False))
            if op.ret is not None:
                evs.append((op.ret, i, True))
        evs.sort()
        free: list[int] = []
        n_slots = 0
        slot = [0] * len(self.ops)
        active: dict[int, None] = {}  # insertion-ordered: candidates are tried in invocation order
        ev_op, ev_ret, pending, ev_index = [], [], [], []
        for index, i, is_ret in evs:
            if is_ret:
                del active[i]
                pending.append(tuple(active))
                heapq.heappush(free, slot[i])
            else:
                if free:
                    slot[i] = heapq.heappop(free)
                else:
                    slot[i], n_slots = n_slots, n_slots + 1
                active[i] = None
                pending.append(())
            ev_op.append(i)
            ev_ret.append(is_ret)
            ev_index.append(index)
        return ev_op, ev_ret, pending, ev_index, [1 << s for s in slot]

    def _prune_tables(self, ev_op: list[int], ev_ret: list[bool]) -> tuple[list[int], list[int], list[int], list[int]]:
        """For monotone pruning: ret position per op, next resetting call at/after each position, reads
        in invocation order, and the index of the first read invoked at/after each position."""
        n_ev, inf = len(ev_op), len(ev_op) + 1
        ret_pos = [inf] * len(self.ops)
        reads: list[int] = []
        next_read = [0] * (n_ev + 1)
        for p in range(n_ev):
            i = ev_op[p]
            next_read[p] = len(reads)
            if ev_ret[p]:
                ret_pos[i] = p
            elif self.readonly[i]:
                reads.append(i)
        next_read[n_ev] = len(reads)
        reset_after = [inf] * (n_ev + 1)
        for p in range(n_ev - 1, -1, -1):
            i = ev_op[p]
            resets = not ev_ret[p] and not self.readonly[i] and not self.monotone[i]
            reset_after[p] = p if resets else reset_after[p + 1]
        return ret_pos, reset_after, reads, next_read

    def _dead(self, pos: int, state: Hashable, placed: int, cands: tuple[int, ...], bit: list[int],
              tables: tuple[list[int], list[int], list[int], list[int]]) -> bool:
        """Monotone pruning (module docstring): some read's value is out of reach from `state`."""
        ret_pos, reset_after, reads, next_read = tables
        readonly, monotone, ops, reaches = self.readonly, self.monotone, self.ops, self.reaches
        assert reaches is not None
        for c in cands:
            if not readonly[c] and not monotone[c] and not placed & bit[c]:
                return False  # a pending reset could be placed first: anything is reachable
        limit = reset_after[pos]
        for c in cands:
            if readonly[c] and not placed & bit[c] and ret_pos[c] < limit and not reaches(state, ops[c].output):
                return True
        j, end = next_read[pos], min(len(reads), next_read[pos] + _LOOKAHEAD_READS)
        while j < end:
            r = reads[j]
            if ret_pos[r] >= limit:
                break
            if not reaches(state, ops[r].output):
                return True
            j += 1
        return False

    def run(self, *, max_states: int, stop_at: int | None) -> Generator[None, None, str]:
        """Yields every SLICE iterations; returns 'valid', 'invalid', 'stopped' (at the return with history
        index `stop_at`) or the reason for unknown."""
        ev_op, ev_ret, pending, ev_index, bit = self._build()
        steps, readonly = self.steps, self.readonly
        prune = self.reaches is not None and any(self.monotone)
        tables = self._prune_tables(ev_op, ev_ret) if prune else ([], [], [], [])
        n_ev = len(ev_op)
        cache: set[tuple[int, int, Hashable]] = set()
        order: list[tuple[int, Hashable]] = []  # placements along the current path
        stack: list[list[Any]] = []  # choice points: [pos, state, placed, candidates, next, len(order)]
        pos, state, placed = 0, self.init, 0
        budget = SLICE
        while True:
            budget -= 1
            if not budget:
                budget = SLICE
                self.explored = len(cache)
                yield
            while pos < n_ev:  # deterministic part: invocations, and returns of placed operations
                if ev_ret[pos]:
                    b = bit[ev_op[pos]]
                    if not placed & b:
                        break
                    placed ^= b
                pos += 1
            else:
                self.explored = len(cache)
                return "valid"
            # the operation returning at pos is not placed: a choice point
            o = ev_op[pos]
            cands = (o,) + pending[pos]
            for c in cands:  # forced reads (see module docstring); they do not change `state`
                if readonly[c] and not placed & bit[c] and steps[c](state)[0]:
                    order.append((c, state))
                    if c == o:
                        break
                    placed |= bit[c]
            else:
                c = -1
            if c == o:  # the returning read itself was legal: placed, go on
                pos += 1
                continue
            if ev_index[pos] > self.furthest:
                self.furthest = ev_index[pos]
            if ev_index[pos] == stop_at:
                self._capture(order, state, o, cands, placed, bit)
                return "stopped"
            key = (pos, placed, state)
            if key not in cache:
                cache.add(key)
                if len(cache) > max_states:
                    self.explored = len(cache)
                    return "memory budget exhausted"
                if not (prune and self._dead(pos, state, placed, cands, bit, tables)):
                    writes = tuple(c for c in cands if not readonly[c] and not placed & bit[c])
                    stack.append([pos, state, placed, writes, 0, len(order)])
            # choose the next alternative of the innermost choice point, backtracking as needed
            while stack:
                frame = stack[-1]
                fpos, fstate, fplaced, writes, k, olen = frame
                if k == len(writes):
                    stack.pop()
                    continue
                frame[4] = k + 1
                c = writes[k]
                ok, new_state = steps[c](fstate)
                if not ok:
                    continue
                del order[olen:]
                order.append((c, new_state))
                state = new_state
                if c == ev_op[fpos]:
                    pos, placed = fpos + 1, fplaced
                else:
                    pos, placed = fpos, fplaced | bit[c]
                break
            else:
                self.explored = len(cache)
                return "invalid"

    def _capture(self, order: list[tuple[int, Hashable]], state: Hashable, o: int, cands: tuple[int, ...],
                 placed: int, bit: list[int]) -> None:
        unplaced = [c for c in cands if not placed & bit[c]]
        self.stuck_at = Stuck(prefix=list(order), state=state, unplaced=unplaced, stuck=o)
