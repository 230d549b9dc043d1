"""Workloads: the pure op generator, the recording HTTP client, and the interpreter that runs them.

What belongs here: making operations (`generator`, pure and seeded), executing them against the
replica API and recording every outcome in the history (`client`, `interpreter`). What does not:
faults (`faults`), checking histories (`harness.checker`), cluster lifecycle (`harness`).
"""

from workloads.client import Completion, RecordingClient
from workloads.generator import Op, OpGenerator, key_names
from workloads.interpreter import WorkloadStats, final_reads, run_workload

__all__ = [
    "Completion", "Op", "OpGenerator", "RecordingClient", "WorkloadStats", "final_reads", "key_names",
    "run_workload",
]
