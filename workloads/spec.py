"""The workload spec: what a scenario's `workload:` section means (read by `harness.scenario`).

It lives with the workloads, below the harness, so that the generator and the interpreter need nothing
of `harness` (DESIGN 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from targets.contract import OPS

__all__ = ["DEFAULT_MIX", "OPS", "WorkloadSpec"]

DEFAULT_MIX = (("get", 40.0), ("put", 25.0), ("append", 20.0), ("cas", 10.0), ("delete", 5.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadSpec:
    """The client load. `rate_per_s` None means as fast as `concurrency` processes go."""

    duration_s: float
    concurrency: int = 5
    rate_per_s: float | None = None
    keys: int = 5
    distribution: Literal["uniform", "skewed"] = "uniform"
    skew: float = 1.0
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    timeout_s: float = 2.0
    attempts: int = 3
    retry_unknown: bool = False  # retry indeterminate attempts with the same request id (needs dedup)
