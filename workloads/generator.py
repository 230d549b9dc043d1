"""The pure op generator: seeded operations over a key set (STYLE R10).

A generator makes the next `Op` for one worker from an injected `random.Random` and what that worker has
seen so far (`observe`). It never sleeps, reads a clock or does I/O: pacing and execution are the
interpreter's job, so the simulator and the Docker run drive the same generator.

Written values are unique in a run: `<tag>-<n>` for put and cas, `<tag>-<n>;` for append (the `;` keeps
appended values apart in a read), where `tag` names the worker. A lost or duplicated write is therefore
visible in the history.
"""

from __future__ import annotations

import bisect
import itertools
import random

from targets.contract import Op, OpName
from workloads.spec import WorkloadSpec

__all__ = ["Op", "OpGenerator", "key_names"]

def key_names(count: int) -> list[str]:
    """The key set of a workload with `count` keys: k0, k1, ..."""
    return [f"k{i}" for i in range(count)]


class OpGenerator:
    """Makes ops for one worker. Deterministic in (spec, rng seed, tag, sequence of observe calls).

    Args:
        spec: the scenario's workload (mix, keys, distribution).
        rng: the worker's own Random, e.g. `random.Random(f"{seed}/workload/{worker}")`.
        tag: a prefix unique to the worker, so values are unique across workers.
    """

    def __init__(self, spec: WorkloadSpec, *, rng: random.Random, tag: str) -> None:
        if not spec.mix:
            raise ValueError("the op mix is empty")
        self._rng = rng
        self._tag = tag
        self._counter = itertools.count(1)
        self._ops: list[OpName] = [f for f, _ in spec.mix]  # type: ignore[misc]  # validated names
        self._op_cum = list(itertools.accumulate(w for _, w in spec.mix))
        self.keys = key_names(spec.keys)
        weights = ([1.0] * spec.keys if spec.distribution == "uniform"
                   else [1.0 / (rank ** spec.skew) for rank in range(1, spec.keys + 1)])
        self._key_cum = list(itertools.accumulate(weights))
        self._known: dict[str, str | None] = {}  # the last value this worker saw for a key

    def _pick(self, cum: list[float]) -> int:
        return min(bisect.bisect_right(cum, self._rng.random() * cum[-1]), len(cum) - 1)

    def _fresh(self) -> str:
        return f"{self._tag}-{next(self._counter)}"

    def next_op(self) -> Op:
        """The next operation. A cas expects the last value this worker saw for the key (or absent)."""
        f = self._ops[self._pick(self._op_cum)]
        key = self.keys[self._pick(self._key_cum)]
        match f:
            case "get" | "delete":
                return Op(f=f, key=key)
            case "append":
                return Op(f=f, key=key, value=self._fresh() + ";")
            case "cas":
                return Op(f=f, key=key, value=self._fresh(), expect=self._known.get(key))
            case _:
                return Op(f="put", key=key, value=self._fresh())

    def observe(self, op: Op, *, ok: bool, read: str | None = None) -> None:
        """Tell the generator how `op` ended, so later cas ops expect a plausible value.

        Args:
            op: an op this generator made.
            ok: True if it definitely happened.
            read: the value a successful get returned (None = absent).
        """
        if not ok:
            return
        match op.f:
            case "get":
                self._known[op.key] = read
            case "put" | "cas":
                self._known[op.key] = op.value
            case "delete":
                self._known[op.key] = None
            case "append":
                self._known.pop(op.key, None)  # the full value is unknown without a read
