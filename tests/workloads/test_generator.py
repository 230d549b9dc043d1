"""The pure op generator: determinism, unique values, mix and key distribution, cas expectations."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.scenario import WorkloadSpec
from workloads.generator import Op, OpGenerator, key_names


def gen(seed: str = "1/workload/0", **spec: object) -> OpGenerator:
    ws = WorkloadSpec(duration_s=1.0, **spec)  # type: ignore[arg-type]
    return OpGenerator(ws, rng=random.Random(seed), tag="w0")


def test_same_seed_same_ops_and_different_seed_different_ops() -> None:
    a = [gen().next_op()]
    g1, g2, g3 = gen(), gen(), gen("2/workload/0")
    ops1 = [g1.next_op() for _ in range(200)]
    ops2 = [g2.next_op() for _ in range(200)]
    ops3 = [g3.next_op() for _ in range(200)]
    assert ops1 == ops2
    assert ops1 != ops3
    assert a[0] == ops1[0]


def test_written_values_are_unique_and_tagged() -> None:
    g = gen(mix=(("put", 1.0), ("append", 1.0), ("cas", 1.0)))
    values = [g.next_op().value for _ in range(500)]
    assert all(v is not None and v.startswith("w0-") for v in values)
    assert len(set(values)) == len(values)
    other = OpGenerator(WorkloadSpec(duration_s=1.0), rng=random.Random(0), tag="w1")
    assert all((other.next_op().value or "w1").startswith("w1") for _ in range(50))


def test_mix_weights_are_followed() -> None:
    g = gen(mix=(("get", 3.0), ("put", 1.0)))
    counts = Counter(g.next_op().f for _ in range(4000))
    assert set(counts) == {"get", "put"}
    assert 2.5 < counts["get"] / counts["put"] < 3.5


def test_only_configured_ops_and_keys_appear() -> None:
    g = gen(mix=(("delete", 1.0),), keys=2)
    ops = [g.next_op() for _ in range(100)]
    assert {o.f for o in ops} == {"delete"}
    assert {o.key for o in ops} == {"k0", "k1"}
    assert key_names(3) == ["k0", "k1", "k2"]


def test_skewed_distribution_prefers_the_first_keys() -> None:
    gu, gs = gen(keys=10), gen(keys=10, distribution="skewed", skew=1.5)
    uniform = Counter(gu.next_op().key for _ in range(5000))
    skewed = Counter(gs.next_op().key for _ in range(5000))
    assert skewed["k0"] > 3 * skewed["k9"]
    assert uniform["k0"] < 2 * uniform["k9"]


def test_cas_expects_what_the_worker_last_saw() -> None:
    g = gen(mix=(("cas", 1.0),), keys=1)
    first = g.next_op()
    assert first.expect is None  # nothing seen yet: expect absent
    g.observe(Op(f="get", key="k0"), ok=True, read="seen")
    assert g.next_op().expect == "seen"
    put = Op(f="put", key="k0", value="w0-99")
    g.observe(put, ok=True)
    assert g.next_op().expect == "w0-99"
    g.observe(Op(f="put", key="k0", value="w0-100"), ok=False)  # a failed put changes nothing
    assert g.next_op().expect == "w0-99"
    g.observe(Op(f="delete", key="k0"), ok=True)
    assert g.next_op().expect is None


def test_op_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="put needs value"):
        Op(f="put", key="k")
    with pytest.raises(ValueError, match="get takes no value"):
        Op(f="get", key="k", value="x")
    with pytest.raises(ValueError, match="only cas takes expect"):
        Op(f="put", key="k", value="x", expect="y")
