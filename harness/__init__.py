"""The chaos harness: CLI, cluster lifecycle, scenario runner, histories, the checker and reports.

It drives `faults` and `workloads` and imports `replica_image.paxos` only for the simulator; nothing in
`replica_image` imports the harness.
"""
