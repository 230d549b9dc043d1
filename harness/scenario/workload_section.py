"""The validator's `workload:` and `checks:` sections: YAML nodes -> `WorkloadSpec`, `ChecksSpec`."""

from __future__ import annotations

from yaml.nodes import Node

from harness.scenario.model import (
    _CHECKS_KEYS,
    _DISTRIBUTIONS,
    _WORKLOAD_KEYS,
    _WORKLOAD_REQUIRED,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_KEYS,
    MAX_OP_TIMEOUT_S,
    MAX_RATE,
    MAX_SKEW,
    MAX_WEIGHT,
    ChecksSpec,
)
from harness.scenario.nodes import _BAD, _Missing
from harness.scenario.reader import Reader
from workloads.spec import OPS, WorkloadSpec

__all__ = ["WorkloadSection"]


class WorkloadSection(Reader):
    """`workload:` (the op mix, keys, concurrency, rate, timeouts) and `checks:`."""

    def workload(self, node: Node, path: str) -> WorkloadSpec | _Missing:
        keys = self.mapping(node, path, _WORKLOAD_KEYS, required=_WORKLOAD_REQUIRED)
        if keys is None or "duration" not in keys:
            return _BAD
        vals: dict[str, object] = {
            "duration_s": self.duration(keys["duration"], f"{path}.duration", positive=True),
            "concurrency": self.optional(keys, "concurrency", path, 5,
                                         lambda n, p: self.integer(n, p, 1, MAX_CONCURRENCY)),
            "rate_per_s": self.optional(keys, "rate", path, None,
                                        lambda n, p: self.number(n, p, 0, MAX_RATE, lo_open=True)),
            "keys": self.optional(keys, "keys", path, 5, lambda n, p: self.integer(n, p, 1, MAX_KEYS)),
            "distribution": self.optional(keys, "distribution", path, "uniform",
                                          lambda n, p: self.choice(n, p, _DISTRIBUTIONS)),
            "skew": self.optional(keys, "skew", path, 1.0,
                                  lambda n, p: self.number(n, p, 0, MAX_SKEW, lo_open=True)),
            "mix": self.optional(keys, "mix", path, self.system.default_mix, self.mix),
            "timeout_s": self.optional(keys, "timeout", path, 2.0,
                                       lambda n, p: self.duration(n, p, positive=True, hi=MAX_OP_TIMEOUT_S)),
            "attempts": self.optional(keys, "attempts", path, 3,
                                      lambda n, p: self.integer(n, p, 1, MAX_ATTEMPTS)),
            "retry_unknown": self.optional(keys, "retry_unknown", path, False, self.boolean),
        }
        if any(isinstance(x, _Missing) for x in vals.values()):
            return _BAD
        if vals["retry_unknown"] is True and not self.system.dedup:
            self.problem(keys["retry_unknown"], f"{path}.retry_unknown",
                         f"target {self.system.name} does not apply a retried request once, so retrying an "
                         "op of unknown outcome could apply it twice; remove it")
            return _BAD
        if "skew" in keys and vals["distribution"] != "skewed":
            self.problem(keys["skew"], f"{path}.skew", "only applies to `distribution: skewed`; "
                                                       "remove it or set the distribution")
            return _BAD
        return WorkloadSpec(**vals)  # type: ignore[arg-type]  # each value checked above

    def mix(self, node: Node, path: str) -> tuple[tuple[str, float], ...] | _Missing:
        keys = self.mapping(node, path, OPS)
        if keys is None:
            return _BAD
        weights = {op: self.number(n, f"{path}.{op}", 0, MAX_WEIGHT) for op, n in keys.items()}
        unsupported = [op for op, w in weights.items() if op not in self.system.ops and w != 0]
        for op in unsupported:
            self.problem(keys[op], f"{path}.{op}", f"target {self.system.name} has no {op}; its ops are "
                                                   f"{', '.join(self.system.ops)}: remove it or set it to 0")
        if unsupported:
            return _BAD
        good = {op: w for op, w in weights.items() if isinstance(w, float)}
        if len(good) != len(weights):
            return _BAD
        if not any(w > 0 for w in good.values()):
            self.problem(node, path, "needs at least one operation with a weight above 0, "
                                     "e.g. {get: 1, put: 1}")
            return _BAD
        return tuple((op, good[op]) for op in OPS if good.get(op, 0) > 0)

    def checks(self, node: Node, path: str) -> ChecksSpec | _Missing:
        keys = self.mapping(node, path, _CHECKS_KEYS)
        if keys is None:
            return _BAD
        lin = self.optional(keys, "linearizable", path, True, self.boolean)
        timeout = self.optional(keys, "timeout", path, 60.0,
                                lambda n, p: self.duration(n, p, positive=True))
        recovery = self.optional(keys, "recovery", path, 15.0,
                                 lambda n, p: self.duration(n, p, positive=True, hi=3600))
        if isinstance(lin, _Missing) or isinstance(timeout, _Missing) or isinstance(recovery, _Missing):
            return _BAD
        return ChecksSpec(linearizable=lin, timeout_s=timeout, recovery_s=recovery)
