"""The log's own invariants: a chosen slot never changes, an accepted ballot never goes down."""

from __future__ import annotations

import pytest

from replica_image.errors import InternalError
from replica_image.paxos.log import PaxosLog
from tests.replica.helpers import b, batch, make


def test_a_chosen_slot_never_changes() -> None:
    log = PaxosLog()
    assert log.choose(0, batch(1)) is True
    assert log.choose(0, batch(1)) is False  # learning it again is fine
    with pytest.raises(InternalError, match="chosen value changed"):
        log.choose(0, batch(2))


def test_an_accepted_ballot_never_goes_down_and_one_ballot_has_one_value() -> None:
    log = PaxosLog()
    log.accept(3, b(2, 1), batch(1))
    with pytest.raises(InternalError, match="went down"):
        log.accept(3, b(1, 1), batch(1))
    with pytest.raises(InternalError, match="two values"):
        log.accept(3, b(2, 1), batch(2))


def test_the_promised_ballot_never_decreases() -> None:
    rep = make(1)
    rep._promise_ballot(b(5, 2))  # noqa: SLF001 - the invariant guards this private transition
    with pytest.raises(InternalError, match="promised ballot would go down"):
        rep._promise_ballot(b(4, 3))


def test_first_unchosen_advances_over_contiguous_chosen_slots_only() -> None:
    log = PaxosLog()
    log.choose(1, batch(1))
    assert log.first_unchosen == 0
    log.choose(0, batch(0))
    assert log.first_unchosen == 2


def test_promise_entries_report_accepted_and_chosen_slots_from_the_floor() -> None:
    log = PaxosLog()
    log.accept(0, b(1, 1), batch(0))
    log.accept(2, b(1, 1), batch(2))
    log.choose(0, batch(0))
    log.choose(3, batch(3))
    entries = log.promise_entries(0)
    assert [(e.slot, e.chosen) for e in entries] == [(2, False), (3, True)]
    assert log.promise_entries(3)[0].slot == 3


def test_truncation_keeps_slots_after_the_snapshot_for_catch_up() -> None:
    log = PaxosLog()
    for s in range(5):
        log.choose(s, batch(s))
    with pytest.raises(InternalError):
        log.truncate(5, "{}")  # slot 5 is not chosen
    log.truncate(2, "{}")
    assert log.snapshot_last == 2 and sorted(log.chosen) == [3, 4]
    assert [p.slot for p in log.chosen_from(0, 10)] == [3, 4]
