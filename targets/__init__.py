"""Targets: the systems under test, each behind one contract (DESIGN 13, docs/targets.md).

`targets.contract` is the contract (what the harness may know of a target) and `targets.errors` the one
error hierarchy; both sit at the bottom of the import graph, so `faults` and `workloads` can use them
without importing the harness. One folder per target (`paxos`, `etcd`) implements the contract;
`targets.registry` maps a scenario's `cluster.target` to one. Only the harness imports the registry.
"""
