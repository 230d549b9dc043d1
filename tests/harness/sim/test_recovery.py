"""What a restart must give back (`harness.sim.recovery`): the core built from a replica's durable
records holds what they describe, and a recovery that drops one is named at the restart."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import pytest

from harness.sim import SimConfig
from harness.sim.recovery import recovery_problem
from targets.paxos.core import (
    AcceptRecord, Ballot, ChosenRecord, Command, CoreConfig, PromiseRecord, Record, Replica, SnapshotRecord,
)
from tests.harness.sim.runs import planted

LOW, HIGH = Ballot(round=1, node=2), Ballot(round=3, node=1)
A = (Command(client_id="c", request_id=1, op="put", key="k", value="a"),)
B = (Command(client_id="c", request_id=2, op="put", key="k", value="b"),)


def _core(records: Iterable[Record]) -> Replica:
    return Replica(1, [1, 2, 3], CoreConfig(), random.Random(0), recovered=tuple(records))


def _records() -> list[Record]:
    return [PromiseRecord(ballot=LOW), AcceptRecord(slot=0, ballot=LOW, batch=A), ChosenRecord(slot=0, batch=A),
            AcceptRecord(slot=1, ballot=LOW, batch=A), AcceptRecord(slot=1, ballot=HIGH, batch=B),
            AcceptRecord(slot=2, ballot=HIGH, batch=B), ChosenRecord(slot=3, batch=B)]


def test_a_correct_restart_holds_what_its_records_describe() -> None:
    records = _records()
    assert recovery_problem(_core(records), records) is None
    snapshotted = [*records, ChosenRecord(slot=1, batch=B), SnapshotRecord(last_slot=1, data="{}")]
    assert recovery_problem(_core(snapshotted), snapshotted) is None


def _dropping_newer_accepts() -> Callable[[Replica, Iterable[Record]], None]:
    """The mistake (replica.py `_recover`, `is` for `<=`): a slot's later accept is kept only if its
    ballot *is* the earlier one's, so a re-accept at a higher ballot is lost at every restart."""
    real = Replica._recover

    def recover(self: Replica, records: Iterable[Record]) -> None:
        seen: dict[int, Ballot] = {}
        kept: list[Record] = []
        for r in records:
            if isinstance(r, AcceptRecord):
                if r.slot in seen and seen[r.slot] is not r.ballot:
                    continue
                seen[r.slot] = r.ballot
            kept.append(r)
        real(self, kept)

    return recover


def test_a_restart_that_drops_a_newer_accept_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    records = _records()
    monkeypatch.setattr(Replica, "_recover", _dropping_newer_accepts())
    problem = recovery_problem(_core(records), records)
    assert problem == "slot 1 was durably accepted at ballot 3.1, but it restarted holding ballot 1.2 there"


def test_a_restart_that_forgets_its_snapshot_or_chosen_slots_is_named() -> None:
    records = [*_records(), ChosenRecord(slot=1, batch=B), SnapshotRecord(last_slot=1, data="{}")]
    assert "snapshot ends at slot 1, but it restarted at snapshot_last -1" in (
        recovery_problem(_core(records[:-1]), records) or "")
    assert "chosen slots run to slot 1, but it restarted with first unchosen slot 1" in (
        recovery_problem(_core(_records()), [*_records(), ChosenRecord(slot=1, batch=B)]) or "")


def test_the_simulator_names_a_lost_accept_at_the_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed 1 kills a node that had accepted slot 1 in two ballots: the mistake above shows at its
    restart, before any history could."""
    r = planted(SimConfig(seed=1), monkeypatch, Replica, "_recover", _dropping_newer_accepts())
    assert r.error is not None and "durably accepted at ballot" in r.error and "(re)started from" in r.error
