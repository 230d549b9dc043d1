"""Splitting a suite across machines: `run --shard K/N` and `list --shards N`.

A CI job matrix runs one shard per job, so a nightly's wall time is the slowest shard's rather than the
sum of every scenario's. Both commands must agree on which scenario lands in which shard without talking
to each other, so the rule is pure and depends only on the scenario names: sort them, then deal them out
round-robin (the i-th name, counting from 0, goes to shard i mod N + 1). The same suite therefore always
gives the same slices, on any machine, whatever order the files were found in.

What does not belong here: loading or validating scenarios (harness.scenario) and running them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from targets.errors import UsageError

__all__ = ["MAX_SHARDS", "Shard", "parse_shard", "shard_count", "split"]

# A job matrix on GitHub Actions holds at most 256 jobs; more shards than that is a typo, not a plan.
MAX_SHARDS = 256

_SHARD = re.compile(r"(\d{1,4})/(\d{1,4})")

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    """Slice `index` (1-based) of `count`; written `index/count` on the command line and in matrices."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or not 1 <= self.index <= self.count:
            raise UsageError(f"shard {self.index}/{self.count}: use K/N with 1 <= K <= N <= {MAX_SHARDS}, "
                             "e.g. --shard 2/4")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`K/N` -> Shard(index=K, count=N). Raises UsageError with an example on anything else."""
    m = _SHARD.fullmatch(text.strip())
    if m is None:
        shown = text if len(text) <= 20 else f"{text[:17]}..."
        raise UsageError(f"--shard {shown!r} is not K/N; use e.g. --shard 2/4 (the second of four slices)")
    return Shard(index=int(m.group(1)), count=int(m.group(2)))


def shard_count(text: str) -> int:
    """`--shards N` as an integer in 1..MAX_SHARDS. Raises UsageError."""
    t = text.strip()
    if not (t.isascii() and t.isdigit() and len(t) <= 4 and 1 <= int(t) <= MAX_SHARDS):
        shown = text if len(text) <= 20 else f"{text[:17]}..."
        raise UsageError(f"--shards {shown!r}: use a whole number of shards from 1 to {MAX_SHARDS}")
    return int(t)


def split(items: Sequence[T], names: Sequence[str], count: int) -> list[list[T]]:
    """`items` dealt into `count` slices by the sorted order of their `names` (one name per item).

    Slice k (0-based) holds the items whose position in that order is k, k+count, k+2*count, ...;
    a slice is empty when there are fewer items than slices. Equal names keep their given order.

    Raises:
        ValueError: `names` does not have one name per item (a caller's bug).
    """
    if len(names) != len(items):
        raise ValueError(f"split: {len(items)} items but {len(names)} names")
    order = sorted(range(len(items)), key=lambda i: names[i])
    slices: list[list[T]] = [[] for _ in range(count)]
    for position, i in enumerate(order):
        slices[position % count].append(items[i])
    return slices
