"""Just-in-time linearization (Lowe, "Testing for linearizability", 2017), depth first, memoized.

The search walks the events of one partition in real-time order and places an operation only when it
must: at the return of an operation that is not placed yet. There it branches over which pending
operations (invoked, not yet returned, not yet placed) take effect first, ending with the returning
one. Configurations (event position, set of placed pending operations, state) are memoized: reaching
one again means it was already explored and failed.

These reductions keep the branching small, all sound for any model:
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
later return, or never. Two more reductions are for them, both sound for any model:
- Subsumption: a configuration that has placed a superset of the unknown-outcome ops another failed
  (or is being explored) at the same position, with the same known ops placed and the same state, has
  no completion the other lacks (unknown ops may stay unplaced), so it is skipped. The memo keeps,
  per (position, known placed, state), the sets of placed unknown ops tried, none a superset of another.
  Without it every unknown op placed at a different return is a new configuration until the end of the
  history, and an invalid history has them all explored.
- Symmetry: of identical unknown ops (same f and input) only the earliest unplaced one is a candidate.

Subsumption still explores a configuration again when it comes back with fewer unknown ops placed,
and depth first it often does (an invalid history with 50 unknown deletes on a key: about 500,000
visits). A relaxed run avoids that: there, unknown ops that are neither reads nor monotone may take
effect any number of times after their invocation, so they have no placed bit and nothing to
subsume. It allows more than the real history (every real linearization is a relaxed one), so when
it finds none the history is invalid; when the one it finds places no unknown op twice it is real and
the history is valid; otherwise (RELAXED_VALID) the caller runs the exact search. Monotone ops
(appends) are never relaxed: repeating one would make the states grow without end.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checker.model import Model
from harness.checker.operation import Operation
from harness.checker.searchstate import SLICE, Stuck

_LOOKAHEAD_READS = 16
RELAXED_VALID = "valid only with an unknown-outcome op taking effect twice"
"""What a relaxed run returns when the only linearization it found is not one of the real history."""  # future reads checked by monotone pruning at each choice point


@dataclass(slots=True)
class _Tables:
    """The partition's events in real-time order, and what is pending at each return."""

    ev_op: list[int] = field(default_factory=list)  # the operation of each event
    ev_ret: list[bool] = field(default_factory=list)  # is it a return (else an invocation)
    ev_index: list[int] = field(default_factory=list)  # its index in the whole history
    reads: list[tuple[int, ...]] = field(default_factory=list)  # other pending reads at a return
    writes: list[tuple[int, ...]] = field(default_factory=list)  # other pending writes with a return
    unknown_resets: list[int] = field(default_factory=list)  # slot mask of the unknown resets invoked by each event
    groups: list[list[int]] = field(default_factory=list)  # identical unknown ops, by first invocation
    n_groups: list[int] = field(default_factory=list)  # groups with an op invoked by each event
    call_pos: dict[int, int] = field(default_factory=dict)  # unknown op -> event position of its call
    umask: list[int] = field(default_factory=list)  # slot mask of the unknown ops invoked by each event
    group_calls: dict[int, list[int]] = field(default_factory=dict)  # first of identical unknown ops ->
    # the event positions of their invocations
    bit: list[int] = field(default_factory=list)  # op -> 1 << its slot


class JITSearch:
    """One single-use run over one partition (see harness.checker.searchstate.Search)."""

    def __init__(self, ops: Sequence[Operation], steps: Sequence[Callable[[Any], tuple[bool, Any]]],
                 init: Hashable, readonly: list[bool], model: Model[Any] | None = None, *,
                 relaxed: bool = False) -> None:
        self.ops, self.steps, self.init, self.readonly = ops, steps, init, readonly
        self.monotone = [model.monotone(op) for op in ops] if model is not None else [False] * len(ops)
        # relaxed: unknown-outcome ops that are neither reads nor monotone may take effect any number
        # of times (their placed bit is never set); see the module docstring
        self.repeatable = [relaxed and op.ret is None and not readonly[i] and not self.monotone[i]
                           for i, op in enumerate(ops)]
        self.reaches = model.reaches if model is not None else None
        self.explored = 0
        self.furthest = -1
        self.stuck_at: Stuck | None = None

    def _build(self) -> _Tables:
        """Slots: a pending operation holds one from invocation to return (unknown outcomes: forever),
        so the placed set is a bitset over few slots."""
        evs: list[tuple[int, int, bool]] = []
        for i, op in enumerate(self.ops):
            evs.append((op.call, i, False))
            if op.ret is not None:
                evs.append((op.ret, i, True))
        evs.sort()
        t = _Tables()
        readonly, monotone = self.readonly, self.monotone
        free: list[int] = []
        n_slots = 0
        slot = [0] * len(self.ops)
        active: dict[int, None] = {}  # insertion-ordered: candidates are tried in invocation order
        resets = umask = 0
        group_of: dict[tuple[str, object], list[int]] = {}
        for index, i, is_ret in evs:
            if is_ret:
                del active[i]
                t.reads.append(tuple(c for c in active if readonly[c]))
                t.writes.append(tuple(c for c in active if not readonly[c]))
                heapq.heappush(free, slot[i])
            else:
                if free:
                    slot[i] = heapq.heappop(free)
                else:
                    slot[i], n_slots = n_slots, n_slots + 1
                if self.ops[i].ret is None:
                    sig = (self.ops[i].f, self.ops[i].input)
                    members = group_of.get(sig)
                    if members is None:
                        members = group_of[sig] = []
                        t.groups.append(members)
                    members.append(i)
                    t.call_pos[i] = len(t.ev_op)
                    t.group_calls.setdefault(members[0], []).append(len(t.ev_op))
                    if not self.repeatable[i]:
                        umask |= 1 << slot[i]
                    if not readonly[i] and not monotone[i]:
                        resets |= 1 << slot[i]
                else:
                    active[i] = None
                t.reads.append(())
                t.writes.append(())
            t.ev_op.append(i)
            t.ev_ret.append(is_ret)
            t.ev_index.append(index)
            t.unknown_resets.append(resets)
            t.umask.append(umask)
            t.n_groups.append(len(t.groups))
        t.bit = [1 << s for s in slot]
        return t

    def _alternatives(self, t: _Tables, pos: int, placed: int) -> tuple[int, ...]:
        """Pending writes other than the returning one, not placed yet: known outcomes, then unknown.

        Of identical unknown-outcome ops (same f and input) only the earliest unplaced one is offered:
        once invoked, such ops have no return and no other difference, so placing a later twin leads
        to the same futures as placing the earlier one (symmetry). So the placed ones of a group are
        always its first few, and the candidate is the next one, if it has been invoked."""
        bit, call_pos = t.bit, t.call_pos
        known = tuple(c for c in t.writes[pos] if not placed & bit[c])
        unknown = []
        groups = t.groups
        for g in range(t.n_groups[pos]):
            for c in groups[g]:
                if call_pos[c] > pos:
                    break
                if not placed & bit[c]:
                    unknown.append(c)
                    break
        if len(unknown) > 1:  # by invocation: by group, a valid 100,000-op history took 4x the states
            unknown.sort(key=call_pos.__getitem__)
        return known + tuple(unknown)

    def _prune_tables(self, t: _Tables) -> tuple[list[int], list[int], list[int], list[int]]:
        """For monotone pruning: ret position per op, next resetting call at/after each position, reads
        in invocation order, and the index of the first read invoked at/after each position."""
        ev_op, ev_ret = t.ev_op, t.ev_ret
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

    def _dead(self, t: _Tables, pos: int, state: Hashable, placed: int,
              prune: tuple[list[int], list[int], list[int], list[int]]) -> bool:
        """Monotone pruning (module docstring): some read's value is out of reach from `state`."""
        ret_pos, reset_after, reads, next_read = prune
        monotone, ops, reaches, bit = self.monotone, self.ops, self.reaches, t.bit
        assert reaches is not None
        if t.unknown_resets[pos] & ~placed:
            return False  # an unknown-outcome reset may still take effect: anything is reachable
        o = t.ev_op[pos]
        if not self.readonly[o] and not monotone[o]:
            return False  # the returning operation itself resets
        for c in t.writes[pos]:
            if not monotone[c] and not placed & bit[c]:
                return False  # a pending reset could be placed first
        limit = reset_after[pos]
        for c in (o, *t.reads[pos]) if self.readonly[o] else t.reads[pos]:
            if not placed & bit[c] and ret_pos[c] < limit and not reaches(state, ops[c].output):
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
        t = self._build()
        ev_op, ev_ret, ev_index, p_reads, bit = t.ev_op, t.ev_ret, t.ev_index, t.reads, t.bit
        steps, readonly, repeatable = self.steps, self.readonly, self.repeatable
        prune = self.reaches is not None and any(self.monotone)
        prune_tables = self._prune_tables(t) if prune else ([], [], [], [])
        n_ev = len(ev_op)
        cache: set[tuple[int, int, Hashable]] = set()
        # with unknown-outcome ops invoked: (pos, placed known, state) -> the sets of placed unknown
        # ops tried there, none a superset of another (a superset is subsumed by its subset)
        subsumed: dict[tuple[int, int, Hashable], list[int]] = {}
        n_sub = 0  # entries in those lists beyond the first
        umask = t.umask
        order: list[tuple[int, Hashable]] = []  # placements along the current path
        at: list[int] = []  # the event position of each placement in `order`
        stack: list[list[Any]] = []  # choice points: [pos, state, placed, alternatives, next, len(order)]
        pos, state, placed = 0, self.init, 0
        budget = SLICE
        while True:
            budget -= 1
            if not budget:
                budget = SLICE
                self.explored = len(cache) + len(subsumed) + n_sub
                yield
            while pos < n_ev:  # deterministic part: invocations, and returns of placed operations
                if ev_ret[pos]:
                    b = bit[ev_op[pos]]
                    if not placed & b:
                        break
                    placed ^= b
                pos += 1
            else:
                self.explored = len(cache) + len(subsumed) + n_sub
                return RELAXED_VALID if self._repeats(t, order, at) else "valid"
            # the operation returning at pos is not placed yet: place forced reads, then choose
            o = ev_op[pos]
            if readonly[o] and steps[o](state)[0]:
                order.append((o, state))
                at.append(pos)
                pos += 1
                continue
            for c in p_reads[pos]:
                if not placed & bit[c] and steps[c](state)[0]:
                    order.append((c, state))
                    at.append(pos)
                    placed |= bit[c]
            if ev_index[pos] > self.furthest:
                self.furthest = ev_index[pos]
            if ev_index[pos] == stop_at:
                self._capture(t, pos, order, state, placed)
                return "stopped"
            um = umask[pos]
            if not um:
                key = (pos, placed, state)
                fresh = key not in cache
                if fresh:
                    cache.add(key)
            else:  # subsumption: see the module docstring
                ukey = (pos, placed & ~um, state)
                done = placed & um
                tried = subsumed.get(ukey)
                if tried is None:
                    subsumed[ukey] = [done]
                    fresh = True
                else:
                    fresh = all(m & ~done for m in tried)
                    if fresh:
                        tried[:] = [m for m in tried if done & ~m]
                        tried.append(done)
                        n_sub += 1
            if fresh:
                if len(cache) + len(subsumed) + n_sub > max_states:
                    self.explored = len(cache) + len(subsumed) + n_sub
                    return "memory budget exhausted"
                if not (prune and self._dead(t, pos, state, placed, prune_tables)):
                    stack.append([pos, state, placed, None, 0, len(order)])
            while stack:  # the next alternative of the innermost choice point, backtracking as needed
                frame = stack[-1]
                fpos, fstate, fplaced, others, k, olen = frame
                if k == 0:  # first choice: the returning operation itself, at once
                    frame[4] = 1
                    c = ev_op[fpos]
                    if readonly[c]:
                        continue
                else:
                    if others is None:
                        others = frame[3] = self._alternatives(t, fpos, fplaced)
                    if k > len(others):
                        stack.pop()
                        continue
                    frame[4] = k + 1
                    c = others[k - 1]
                ok, new_state = steps[c](fstate)
                if not ok:
                    continue
                del order[olen:], at[olen:]
                order.append((c, new_state))
                at.append(fpos)
                state = new_state
                if k == 0:
                    pos, placed = fpos + 1, fplaced
                else:
                    pos, placed = fpos, fplaced if repeatable[c] else fplaced | bit[c]
                break
            else:
                self.explored = len(cache) + len(subsumed) + n_sub
                return "invalid"

    def _repeats(self, t: _Tables, order: list[tuple[int, Hashable]], at: list[int]) -> bool:
        """Whether the relaxed linearization found is not a real one: it places some group of identical
        unknown ops (always as the group's first op, by symmetry) more often than the group's ops
        invoked by then can account for. Matching the k-th placement to the k-th op invoked is enough
        (Hall's condition for intervals that all extend to the end)."""
        repeatable = self.repeatable
        placed: dict[int, list[int]] = {}
        for (i, _s), p in zip(order, at):
            if repeatable[i]:
                placed.setdefault(i, []).append(p)
        for root, where in placed.items():
            calls = t.group_calls[root]
            if len(where) > len(calls) or any(p < c for p, c in zip(where, calls)):
                return True
        return False

    def _capture(self, t: _Tables, pos: int, order: list[tuple[int, Hashable]], state: Hashable,
                 placed: int) -> None:
        o = t.ev_op[pos]
        unplaced = [o] + [c for c in t.reads[pos] if not placed & t.bit[c]]
        unplaced += self._alternatives(t, pos, placed)
        self.stuck_at = Stuck(prefix=list(order), state=state, unplaced=unplaced, stuck=o)
