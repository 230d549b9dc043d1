"""Wing & Gong's search with Lowe's memoization, on Porcupine's linked list (the reference engine).

The history of one partition becomes a doubly linked list of call and return entries in real-time
order, kept in flat int arrays. The search walks the list from the head: at a call it tries to
linearize the operation now (step the model; skip it if the pair (linearized set, state) was seen
before, because that configuration was already explored); on success it lifts the call and its return
out of the list and starts again at the head. Reaching a return means the operation had to take
effect before then and could not: backtrack. The linearized set is an int bitset.

Operations with an unknown outcome have their return at infinity (after every known return), so they
can be placed anywhere after their invocation; the search succeeds as soon as every operation with a
known outcome is placed, which lets unknown ones never happen.

`harness.checker.search_jit` is faster on histories with many concurrent writes; this engine stays as
an independent cross-check (the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Sequence
from typing import Any, Final

from harness.checker.operation import Operation
from harness.checker.searchstate import SLICE, Stuck

_INF: Final = 1 << 62


class WGLSearch:
    """One run of the search over one partition (single use)."""

    def __init__(self, ops: Sequence[Operation], steps: Sequence[Callable[[Any], tuple[bool, Any]]],
                 init: Hashable, readonly: list[bool] | None = None, model: object = None) -> None:
        self.ops = ops
        self.steps = steps
        self.init = init
        self.readonly = [False] * len(ops) if readonly is None else readonly
        self.explored = 0
        self.furthest = -1
        self.stuck_at: Stuck | None = None

    def _build(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """Flat linked list: node 0 is the head, node 2n+1 the tail; returns nxt, prv, op_of, match, pos."""
        entries: list[tuple[int, int, bool]] = []
        for i, op in enumerate(self.ops):
            entries.append((op.call, i, True))
            entries.append((op.ret if op.ret is not None else _INF + i, i, False))
        entries.sort()
        n_nodes = len(entries) + 2
        tail = n_nodes - 1
        nxt = list(range(1, n_nodes)) + [tail]
        prv = [0] + list(range(0, n_nodes - 1))
        op_of = [-1] * n_nodes
        match = [0] * n_nodes
        pos = [0] * n_nodes
        ret_node = [0] * len(self.ops)
        for node, (p, i, _is_call) in enumerate(entries, start=1):
            op_of[node] = i
            pos[node] = p
            if not _is_call:
                ret_node[i] = node
        for node, (_p, i, is_call) in enumerate(entries, start=1):
            if is_call:
                match[node] = ret_node[i]
        return nxt, prv, op_of, match, pos

    def run(self, *, max_states: int, stop_at: int | None) -> Generator[None, None, str]:
        """Yields every SLICE iterations; returns 'valid', 'invalid', 'stopped' (at `stop_at`) or the
        reason for unknown.

        Read pruning: a read-only operation that is legal in configuration C can be placed first in
        some completion of C if C has any (move it forward: it changes no state, and nothing that had
        to precede it is unplaced). So when C+read fails (explored or cached), C fails too, and the
        search backtracks past the read instead of trying C's other candidates.
        """
        nxt, prv, op_of, match, pos = self._build()
        steps = self.steps
        definite = [0 if op.ret is None else 1 for op in self.ops]
        readonly = self.readonly
        left = sum(definite)
        state = self.init
        lin = 0
        calls: list[tuple[int, Hashable, int]] = []
        cache: set[tuple[int, Hashable]] = set()
        node = nxt[0]
        budget = SLICE
        while left:
            budget -= 1
            if not budget:
                budget = SLICE
                self.explored = len(cache)
                yield
            m = match[node]
            if m:  # a call: try to place its operation now
                i = op_of[node]
                ok, new_state = steps[i](state)
                if not ok:
                    node = nxt[node]
                    continue
                new_lin = lin | (1 << i)
                ck = (new_lin, new_state)
                if ck not in cache:
                    cache.add(ck)
                    calls.append((node, state, lin))
                    state, lin = new_state, new_lin
                    left -= definite[i]
                    a = prv[node]; b = nxt[node]; nxt[a] = b; prv[b] = a  # noqa: E702 (lift call,
                    a = prv[m]; b = nxt[m]; nxt[a] = b; prv[b] = a  # noqa: E702  then its return)
                    node = nxt[0]
                    if len(cache) > max_states:
                        self.explored = len(cache)
                        return "memory budget exhausted"
                    continue
                if not readonly[i]:
                    node = nxt[node]
                    continue
                # a legal read whose configuration failed before: this configuration fails too
            else:  # a return: its operation had to be placed by now
                p = pos[node]
                if p > self.furthest:
                    self.furthest = p
                if p == stop_at:
                    self._capture(calls, state, node, nxt, match, op_of)
                    return "stopped"
            while True:  # backtrack; past reads too (see read pruning)
                if not calls:
                    self.explored = len(cache)
                    return "invalid"
                node, state, lin = calls.pop()
                i = op_of[node]
                left += definite[i]
                m = match[node]
                nxt[prv[m]] = m; prv[nxt[m]] = m  # noqa: E702 (unlift: return first, then call)
                nxt[prv[node]] = node; prv[nxt[node]] = node  # noqa: E702
                if not readonly[i]:
                    break
            node = nxt[node]
        self.explored = len(cache)
        return "valid"

    def _capture(self, calls: list[tuple[int, Hashable, int]], state: Hashable, ret: int, nxt: list[int],
                 match: list[int], op_of: list[int]) -> None:
        ids = [op_of[node] for node, _s, _l in calls]
        after = [s for _n, s, _l in calls[1:]] + [state]
        unplaced = []
        node = nxt[0]
        while node != ret:
            if match[node]:
                unplaced.append(op_of[node])
            node = nxt[node]
        self.stuck_at = Stuck(prefix=list(zip(ids, after)), state=state, unplaced=unplaced, stuck=op_of[ret])

