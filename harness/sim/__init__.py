"""The deterministic simulator (DESIGN section 11): the real Paxos core, virtual time, seeded faults.

`simulate(SimConfig(seed=...))` runs N `replica_image.paxos.Replica` cores in one process, with the
kv state machine and the host loop of the real replica, a seeded network (delay, loss, duplication,
reordering, partitions), crash-restart that keeps only what a crash keeps, and the suite's workload
generator and checker. The same seed gives the same history, byte for byte. `paxos-chaos sim` sweeps
seeds and replays one.

Belongs here: the virtual world (`world`), what a run is and found (`config`), its network
(`network`), the replica host (`node`), the clients (`clients`), the fault plan (`nemesis`) and the
seed sweep (`sweep`, the `paxos-chaos sim` command). Does not belong here: Docker, sockets, threads, wall-clock time.
"""

from harness.sim.nemesis import Fault, plan_faults
from harness.sim.network import NetFaults
from harness.sim.config import SimConfig, SimResult
from harness.sim.world import simulate

__all__ = ["Fault", "NetFaults", "SimConfig", "SimResult", "plan_faults", "simulate"]
