"""The simulated disk: a kill keeps what was written, a power loss keeps what was synced and a torn
prefix of the rest."""

from __future__ import annotations

import random

import pytest

from harness.sim import simulate
from harness.sim.node import Disk, over_the_wire
from replica_image.paxos.messages import NOOP, Proposal
from targets.paxos.core import Accept, Accepted, AcceptRecord, Ballot, Envelope, PromiseRecord, Record, Replica
from tests.harness.sim.runs import planted, quiet


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


def test_a_restart_reads_back_decoded_copies_of_the_records() -> None:
    disk = Disk()
    accept = AcceptRecord(slot=1_000, ballot=Ballot(round=300, node=2), batch=NOOP)
    written: list[Record] = [PromiseRecord(ballot=Ballot(round=300, node=2)), accept]
    disk.write(written, sync=True)
    back = disk.read_back()
    assert list(back) == written
    assert all(a is not b for a, b in zip(back, written))
    assert isinstance(back[1], AcceptRecord) and back[1].slot is not accept.slot  # what `is` for `==` trips on


def test_a_message_over_the_wire_is_an_equal_copy() -> None:
    ballot = Ballot(round=300, node=1)
    env = Envelope(src=1, dst=2, msg=Accept(ballot=ballot, commit=700, entries=(Proposal(slot=699, batch=NOOP),)))
    copy = over_the_wire(env)
    assert copy == env and copy.msg is not env.msg and copy.msg.ballot is not ballot  # type: ignore[union-attr]


def test_a_mistake_of_identity_shows_on_decoded_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader that counts acknowledgements only of its own ballot *object* (`is not` for `!=`): the
    follower echoes the very object it was sent when messages are shared, so only the wire shows it."""
    real = Replica._on_accepted

    def on_accepted(self: Replica, src: int, m: Accepted) -> None:
        if m.ballot is not self.ballot:  # the mistake
            return
        real(self, src, m)

    r = planted(quiet(2, wire=True), monkeypatch, Replica, "_on_accepted", on_accepted)
    assert r.failed
    assert not simulate(quiet(2, wire=False), check_history=False).failed
