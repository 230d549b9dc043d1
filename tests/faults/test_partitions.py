"""Grudges by shape: who can hear whom, checked as properties over many seeds and every cluster size."""

from __future__ import annotations

import random

import pytest

from faults.partitions import (
    bridge, complete_grudge, cut_links, halves, isolate, majorities_ring, majority, proxy_name,
)

SIZES = [3, 5, 7]
SEEDS = range(25)


def hears(grudge: dict[int, frozenset[int]], nodes: list[int], a: int) -> set[int]:
    """Who `a` hears (itself included)."""
    return {b for b in nodes if b not in grudge.get(a, frozenset())}


def symmetric(grudge: dict[int, frozenset[int]]) -> bool:
    return all(d in grudge.get(s, frozenset()) for d, srcs in grudge.items() for s in srcs)


@pytest.mark.parametrize("n", SIZES)
def test_halves_is_a_symmetric_cut_into_minority_and_majority(n: int) -> None:
    nodes = list(range(1, n + 1))
    for seed in SEEDS:
        g = halves(nodes, random.Random(seed))
        assert symmetric(g)
        sizes = sorted({frozenset(hears(g, nodes, a)) for a in nodes}, key=len)
        assert [len(s) for s in sizes] == [n // 2, n - n // 2]
        assert sizes[0] | sizes[1] == set(nodes) and not sizes[0] & sizes[1]


def test_halves_depends_on_the_seed_only() -> None:
    nodes = [1, 2, 3, 4, 5]
    assert halves(nodes, random.Random(1)) == halves(nodes, random.Random(1))
    assert len({frozenset(halves(nodes, random.Random(s)).items()) for s in SEEDS}) > 1


@pytest.mark.parametrize("n", SIZES)
def test_isolate_cuts_one_node_from_all_others(n: int) -> None:
    nodes = list(range(1, n + 1))
    g = isolate(nodes, 2)
    assert g[2] == frozenset(nodes) - {2}
    assert all(g[a] == {2} for a in nodes if a != 2)
    one_way = isolate(nodes, 2, one_way=True)
    assert one_way == {2: frozenset(nodes) - {2}}  # n2 is deaf, the others still hear it


def test_isolate_unknown_node_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot isolate n9"):
        isolate([1, 2, 3], 9)


@pytest.mark.parametrize("n", SIZES)
def test_majorities_ring_every_node_hears_a_distinct_majority(n: int) -> None:
    nodes = list(range(1, n + 1))
    for seed in SEEDS:
        g = majorities_ring(nodes, random.Random(seed))
        seen = [frozenset(hears(g, nodes, a)) for a in nodes]
        assert all(len(s) == majority(n) for s in seen)
        assert all(a in s for a, s in zip(nodes, seen))
        assert len(set(seen)) == n, "no two nodes hear the same majority"


@pytest.mark.parametrize("n", SIZES)
def test_bridge_keeps_one_node_connected_to_two_cut_halves(n: int) -> None:
    nodes = list(range(1, n + 1))
    for seed in SEEDS:
        g = bridge(nodes, random.Random(seed))
        assert symmetric(g)
        full = [a for a in nodes if hears(g, nodes, a) == set(nodes)]
        assert len(full) == 1, "exactly one bridge hears everyone"
        others = [a for a in nodes if a not in full]
        # without the bridge the rest is two groups that cannot hear each other
        groups = {frozenset(hears(g, nodes, a) - set(full)) for a in others}
        assert len(groups) == 2 and sum(len(x) for x in groups) == n - 1


def test_explicit_groups_and_one_way() -> None:
    g = complete_grudge([[1, 2], [3], [4, 5]])
    assert g[1] == {3, 4, 5} and g[3] == {1, 2, 4, 5} and g[5] == {1, 2, 3}
    one = complete_grudge([[1, 2], [3]], one_way=True)
    assert one == {1: frozenset({3}), 2: frozenset({3})}
    assert complete_grudge([[1, 2, 3]]) == {}


def test_cut_links_name_the_proxies_to_cut() -> None:
    g = complete_grudge([[1], [2, 3]], one_way=True)  # n1 cannot hear n2, n3
    assert cut_links(g) == [(2, 1), (3, 1)]
    assert [proxy_name(s, d) for s, d in cut_links(g)] == ["n2-n1", "n3-n1"]


def test_too_small_clusters_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        bridge([1, 2], random.Random(0))
    with pytest.raises(ValueError, match="at least 3"):
        majorities_ring([1, 2], random.Random(0))
