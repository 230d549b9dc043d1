"""The chaos harness: CLI, scenario loading, cluster lifecycle, runner, nemesis, checker/, report/, sim/.

It drives `targets`, `faults` and `workloads` (DESIGN 2); the simulator reaches `replica_image` only
through `targets.paxos.core`. Nothing below the harness imports it (tests/test_layering.py).
"""
