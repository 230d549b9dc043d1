"""The simulated network and disk: what is lost, delayed, duplicated, and what a crash keeps."""

from __future__ import annotations

import random

import pytest

from harness.sim.network import NetFaults, Network
from harness.sim.node import Disk
from replica_image.paxos import Ballot, PromiseRecord


def test_a_cut_link_loses_messages_both_when_sent_and_when_they_would_arrive() -> None:
    net = Network(random.Random(1), NetFaults(delay_us=(10, 20)))
    assert len(net.plan(1, 2)) == 1 and net.passes(1, 2)
    net.blocked = {(1, 2)}
    assert net.plan(1, 2) == [] and not net.passes(1, 2)
    assert net.plan(2, 1) != [] and net.passes(2, 1)  # a cut is per direction; partitions cut both
    net.heal()
    assert net.plan(1, 2) != []


def test_delays_stay_in_range_and_loss_and_duplication_happen_at_their_rates() -> None:
    net = Network(random.Random(2), NetFaults(delay_us=(100, 200), loss=0.25, duplicate=0.5))
    plans = [net.plan(1, 2) for _ in range(4000)]
    lost = sum(not p for p in plans) / len(plans)
    doubled = sum(len(p) == 2 for p in plans) / sum(bool(p) for p in plans)
    assert 0.2 < lost < 0.3 and 0.45 < doubled < 0.55
    assert all(100 <= p[0] <= 200 for p in plans if p)
    assert all(p[1] >= p[0] for p in plans if len(p) == 2)  # the copy comes later


@pytest.mark.parametrize("bad", [dict(delay_us=(5, 1)), dict(loss=1.5), dict(duplicate=-0.1)])
def test_nonsense_network_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NetFaults(**bad)  # type: ignore[arg-type]


def _records(n: int) -> list[PromiseRecord]:
    return [PromiseRecord(ballot=Ballot(round=k + 1, node=1)) for k in range(n)]


def test_power_loss_keeps_the_synced_records_and_a_prefix_of_the_rest() -> None:
    kept = set()
    for seed in range(50):
        disk = Disk()
        recs = _records(6)
        disk.write(recs[:2], sync=True)
        disk.write(recs[2:], sync=False)
        lost = disk.lose_power(random.Random(seed))
        assert disk.records == recs[:6 - lost] and disk.synced == len(disk.records) >= 2
        kept.add(len(disk.records))
    assert kept == {2, 3, 4, 5, 6}  # every torn tail happens
