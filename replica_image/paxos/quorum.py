"""Quorums: any two majorities of the fixed replica set intersect, which is what makes Paxos safe."""

from __future__ import annotations

__all__ = ["majority"]


def majority(cluster_size: int) -> int:
    """The smallest number of replicas that intersects every other such set: floor(n/2) + 1."""
    if type(cluster_size) is not int or cluster_size < 1:
        raise ValueError(f"cluster_size must be an int >= 1, got {cluster_size!r}")
    return cluster_size // 2 + 1
