"""Pure partition plans: grudges.

A grudge maps each node to the set of nodes it cannot hear from (Jepsen's convention). Node ids are the
replica ids 1..N. A two-way partition is a symmetric grudge; a one-way partition keeps one direction
only. Nothing here does I/O: the Toxiproxy nemesis turns a grudge into toxics on the `nj-ni` proxies
(`nj-ni` carries what j sends to i, so "i cannot hear from j" cuts `nj-ni`).

Every shape that involves chance takes an injected `random.Random` (STYLE R3), so one seed gives one
partition.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "Grudge", "bridge", "complete_grudge", "cut_links", "halves", "isolate", "majorities_ring",
    "majority", "proxy_name",
]

Grudge = Mapping[int, frozenset[int]]


def majority(n: int) -> int:
    """The smallest majority of n nodes."""
    return n // 2 + 1


def complete_grudge(components: Sequence[Iterable[int]], *, one_way: bool = False) -> dict[int, frozenset[int]]:
    """Cut every link between different components; links inside a component stay.

    Args:
        components: disjoint groups of nodes.
        one_way: if set, only the first component is deaf (it cannot hear from the others, but the
            others still hear it), the one-way partition of DESIGN 5.

    Returns:
        The grudge; nodes that keep hearing everyone are left out.
    """
    comps = [frozenset(c) for c in components]
    everyone = frozenset().union(*comps)
    grudge: dict[int, frozenset[int]] = {}
    for i, comp in enumerate(comps):
        if one_way and i > 0:
            break
        for node in comp:
            if everyone - comp:
                grudge[node] = everyone - comp
    return grudge


def halves(nodes: Sequence[int], rng: random.Random, *, one_way: bool = False) -> dict[int, frozenset[int]]:
    """Split shuffled nodes into a smaller half (the minority) and a larger half."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = len(shuffled) // 2
    return complete_grudge([shuffled[:cut], shuffled[cut:]], one_way=one_way)


def isolate(nodes: Sequence[int], loner: int, *, one_way: bool = False) -> dict[int, frozenset[int]]:
    """Cut `loner` off from every other node (one-way: `loner` still sends but hears nothing)."""
    if loner not in nodes:
        raise ValueError(f"cannot isolate n{loner}: not one of {_names(nodes)}")
    return complete_grudge([[loner], [n for n in nodes if n != loner]], one_way=one_way)


def bridge(nodes: Sequence[int], rng: random.Random, *, one_way: bool = False) -> dict[int, frozenset[int]]:
    """Two halves that cannot talk, plus one bridge node that talks to both (Jepsen `bridge`).

    Needs at least 3 nodes. The bridge keeps full two-way connectivity.
    """
    if len(nodes) < 3:
        raise ValueError(f"a bridge needs at least 3 nodes, got {len(nodes)}")
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = len(shuffled) // 2
    left, right = shuffled[:cut], shuffled[cut:]
    return complete_grudge([left, right[1:]], one_way=one_way)


def majorities_ring(nodes: Sequence[int], rng: random.Random) -> dict[int, frozenset[int]]:
    """Every node hears a majority (itself included), and no two nodes hear the same majority.

    Nodes sit on a shuffled ring; each window of `majority(n)` consecutive nodes is what its middle
    node hears (Jepsen `majorities-ring-perfect`). For 3 nodes the result is asymmetric: each node
    hears one neighbour only, in a cycle.
    """
    n = len(nodes)
    if n < 3:
        raise ValueError(f"a majorities ring needs at least 3 nodes, got {n}")
    ring = list(nodes)
    rng.shuffle(ring)
    m = majority(n)
    everyone = frozenset(ring)
    grudge: dict[int, frozenset[int]] = {}
    for start in range(n):
        window = [ring[(start + k) % n] for k in range(m)]
        middle = window[m // 2]
        grudge[middle] = everyone - frozenset(window)
    return grudge


def proxy_name(src: int, dst: int) -> str:
    """The Toxiproxy proxy carrying what replica `src` sends to replica `dst` (DESIGN 4)."""
    return f"n{src}-n{dst}"


def cut_links(grudge: Grudge) -> list[tuple[int, int]]:
    """The (src, dst) links to cut for `grudge`, sorted: dst cannot hear from src."""
    return sorted((src, dst) for dst, srcs in grudge.items() for src in srcs if src != dst)


def _names(nodes: Iterable[int]) -> str:
    return ", ".join(f"n{n}" for n in nodes)
