"""Ballots order lexicographically; messages are frozen, slotted, keyword-only and validate on creation."""

from __future__ import annotations

import dataclasses

import pytest

from replica_image.errors import InvalidMessage
from replica_image.paxos import Accept, Ballot, Command, Envelope, Prepare, Proposal


def test_ballots_order_by_round_then_node() -> None:
    assert Ballot(round=1, node=3) < Ballot(round=2, node=1) < Ballot(round=2, node=2)
    assert Ballot.ZERO < Ballot(round=1, node=1)
    assert max(Ballot(round=1, node=3), Ballot(round=1, node=2)) == Ballot(round=1, node=3)


def test_messages_are_frozen_slotted_and_keyword_only() -> None:
    p = Prepare(ballot=Ballot.ZERO, first_slot=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.first_slot = 1  # type: ignore[misc]
    assert not hasattr(p, "__dict__")
    with pytest.raises(TypeError):
        Prepare(Ballot.ZERO, 0)  # type: ignore[call-arg]


@pytest.mark.parametrize("make,field", [
    (lambda: Ballot(round=-1, node=1), "Ballot.round"),
    (lambda: Prepare(ballot=(1, 1), first_slot=0), "Prepare.ballot"),  # type: ignore[arg-type]
    (lambda: Proposal(slot=0, batch=["x"]), "Proposal.batch"),  # type: ignore[arg-type]
    (lambda: Proposal(slot=0, batch=("x",)), r"Proposal.batch\[0\]"),  # type: ignore[arg-type]
    (lambda: Command(client_id="c", request_id=1, op="get", key="k", value="v"), "Command.value"),
    (lambda: Command(client_id="c", request_id=1, op="put", key="k", expect="v", value="w"), "Command.expect"),
    (lambda: Command(client_id="c", request_id=1, op="put", key="", value="w"), "Command.key"),
    (lambda: Accept(ballot=Ballot.ZERO, commit=0, entries=tuple(Proposal(slot=i, batch=()) for i in range(5000))),
     "at most"),
    (lambda: Envelope(src=1, dst=2, msg="hello"), "Envelope.msg"),  # type: ignore[arg-type]
])
def test_invalid_fields_are_rejected_by_name(make: object, field: str) -> None:
    with pytest.raises(InvalidMessage, match=field):
        make()  # type: ignore[operator]


def test_majorities_of_the_same_cluster_always_intersect() -> None:
    from itertools import combinations

    from replica_image.paxos.quorum import majority

    for n in range(1, 8):
        q = majority(n)
        assert all(set(a) & set(b) for a in combinations(range(n), q) for b in combinations(range(n), q))
        if n >= 2:  # one fewer would not do: two disjoint sets of q - 1 replicas exist
            assert any(not set(a) & set(b) for a in combinations(range(n), q - 1)
                       for b in combinations(range(n), q - 1))
    assert [majority(n) for n in (1, 3, 5, 7)] == [1, 2, 3, 4]
