"""The simulated disk: a kill keeps what was written, a power loss keeps what was synced and a torn
prefix of the rest."""

from __future__ import annotations

import random

from harness.sim.node import Disk
from targets.paxos.core import Ballot, PromiseRecord


def _promise(round_: int) -> PromiseRecord:
    return PromiseRecord(ballot=Ballot(round=round_, node=1))


def test_a_power_loss_keeps_every_synced_record_and_drops_a_suffix_of_the_unsynced_ones() -> None:
    kept_all = dropped_all = 0
    for seed in range(40):
        disk = Disk()
        disk.write([_promise(1), _promise(2)], sync=True)
        disk.write([_promise(3), _promise(4)], sync=False)
        lost = disk.lose_power(random.Random(seed))
        assert disk.records == [_promise(r) for r in range(1, 5 - lost)] and disk.synced == len(disk.records)
        kept_all += lost == 0
        dropped_all += lost == 2
    assert kept_all and dropped_all  # each outcome of the torn tail happens


def test_a_sync_covers_the_records_written_before_it() -> None:
    disk = Disk()
    disk.write([_promise(1)], sync=False)
    disk.write([_promise(2)], sync=True)
    assert disk.lose_power(random.Random(0)) == 0 and len(disk.records) == 2
