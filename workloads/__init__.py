"""Workloads: the workload spec, the pure op generator, the recording client (through a target's
adapter), the interpreter that runs them, and the history.

What belongs here: making operations (`generator`, pure and seeded), the outcome rules of an op's
attempts (`outcome`, pure, shared with the simulator's clients), executing them against a target and
recording every outcome (`client`, `interpreter`, `history`). What does not: faults (`faults`),
checking histories (`harness.checker`), cluster lifecycle (`harness`). Nothing here imports the harness."""

from workloads.client import Completion, RecordingClient
from workloads.generator import Op, OpGenerator, key_names
from workloads.interpreter import WorkloadStats, final_reads, run_workload

__all__ = [
    "Completion", "Op", "OpGenerator", "RecordingClient", "WorkloadStats", "final_reads", "key_names",
    "run_workload",
]
