"""Tests named after the rules of "Paxos Made Simple" (the seed), on the pure core.

Each test drives real `Replica` objects by hand (or the in-memory Cluster) and checks the rule's
observable consequence: what is persisted, what is sent, what is chosen.
"""

from __future__ import annotations

import functools

from replica_image.paxos import (
    NOOP, Accept, Accepted, AcceptRecord, Nack, Prepare, Promise, PromiseEntry, PromiseRecord, Proposal, Role,
)
from tests.replica.cluster import Cluster
from tests.replica.helpers import b, batch, cmd, deliver, drain, make, sent, tick_until_candidate


# ---------------------------------------------------------------- P1 / P1a: the acceptor
def test_P1_an_acceptor_accepts_the_first_proposal_it_receives() -> None:
    acc = make(2)
    rd = deliver(acc, 1, Accept(ballot=b(1, 1), commit=0, entries=(Proposal(slot=0, batch=batch(7)),)))
    assert sent(rd, Accepted, dst=1) == [Accepted(ballot=b(1, 1), slots=(0,), first_unchosen=0)]
    assert AcceptRecord(slot=0, ballot=b(1, 1), batch=batch(7)) in rd.persist


def test_P1a_promise_only_a_ballot_higher_than_every_promise() -> None:
    acc = make(2)
    rd = deliver(acc, 3, Prepare(ballot=b(5, 3), first_slot=0))
    assert [p.ballot for p in sent(rd, Promise, dst=3)] == [b(5, 3)]
    rd = deliver(acc, 1, Prepare(ballot=b(4, 1), first_slot=0))
    assert sent(rd, Promise) == []
    assert sent(rd, Nack, dst=1) == [Nack(ballot=b(5, 3), rejected=b(4, 1))]
    assert acc.ballot == b(5, 3)
    rd = deliver(acc, 1, Prepare(ballot=b(6, 1), first_slot=0))
    assert [p.ballot for p in sent(rd, Promise, dst=1)] == [b(6, 1)]
    assert acc.ballot == b(6, 1)


def test_P1a_accept_iff_not_below_the_promise() -> None:
    acc = make(2)
    deliver(acc, 3, Prepare(ballot=b(5, 3), first_slot=0))
    below = deliver(acc, 1, Accept(ballot=b(4, 1), commit=0, entries=(Proposal(slot=0, batch=batch(1)),)))
    assert sent(below, Accepted) == [] and not any(isinstance(r, AcceptRecord) for r in below.persist)
    assert sent(below, Nack, dst=1) == [Nack(ballot=b(5, 3), rejected=b(4, 1))]
    equal = deliver(acc, 3, Accept(ballot=b(5, 3), commit=0, entries=(Proposal(slot=0, batch=batch(2)),)))
    assert sent(equal, Accepted, dst=3)[0].slots == (0,)
    higher = deliver(acc, 1, Accept(ballot=b(6, 1), commit=0, entries=(Proposal(slot=0, batch=batch(3)),)))
    assert sent(higher, Accepted, dst=1)[0].slots == (0,)
    assert acc.ballot == b(6, 1)  # accepting a higher ballot also raises the promise


def test_promises_and_accepts_are_on_stable_storage_before_the_reply() -> None:
    acc = make(2)
    rd = deliver(acc, 3, Prepare(ballot=b(5, 3), first_slot=0))
    assert rd.must_sync and PromiseRecord(ballot=b(5, 3)) in rd.persist and sent(rd, Promise)
    rd = deliver(acc, 3, Accept(ballot=b(5, 3), commit=0, entries=(Proposal(slot=0, batch=batch(1)),)))
    assert rd.must_sync and any(isinstance(r, AcceptRecord) for r in rd.persist) and sent(rd, Accepted)


def test_a_restarted_acceptor_remembers_its_promise_and_refuses_a_lower_ballot() -> None:
    acc = make(2)
    first = deliver(acc, 3, Prepare(ballot=b(5, 3), first_slot=0))
    again = make(2, recovered=first.persist)  # storage gave back exactly what was persisted
    assert again.ballot == b(5, 3)
    rd = deliver(again, 1, Prepare(ballot=b(4, 1), first_slot=0))
    assert sent(rd, Promise) == [] and sent(rd, Nack, dst=1)[0].ballot == b(5, 3)
    rd = deliver(again, 1, Accept(ballot=b(4, 1), commit=0, entries=(Proposal(slot=0, batch=batch(1)),)))
    assert sent(rd, Accepted) == []


def test_a_restarted_acceptor_still_reports_what_it_accepted() -> None:
    acc = make(2)
    rd = deliver(acc, 3, Accept(ballot=b(5, 3), commit=0, entries=(Proposal(slot=4, batch=batch(9)),)))
    again = make(2, recovered=rd.persist)
    promise = sent(deliver(again, 1, Prepare(ballot=b(6, 1), first_slot=0)), Promise)[0]
    assert promise.entries == (PromiseEntry(slot=4, ballot=b(5, 3), batch=batch(9)),)


# ---------------------------------------------------------------- unique proposal numbers
def test_proposal_numbers_are_unique_per_proposer_and_increase() -> None:
    c = Cluster(3, seed=3)
    seen = []
    for node in (1, 2, 3, 1, 2):
        c.elect(node)
        ballot = c.nodes[node].replica.ballot
        assert ballot.node == node
        seen.append(ballot)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


# ---------------------------------------------------------------- phase 1 for all instances
def test_phase1_runs_once_for_every_slot_from_the_first_unchosen() -> None:
    acc = make(2)
    deliver(acc, 3, Accept(ballot=b(1, 3), commit=0,
                           entries=(Proposal(slot=0, batch=batch(1)), Proposal(slot=1, batch=batch(2)),
                                    Proposal(slot=5, batch=batch(5)))))
    deliver(acc, 3, Accept(ballot=b(1, 3), commit=2, entries=()))  # slots 0 and 1 now known chosen
    assert acc.first_unchosen == 2
    promise = sent(deliver(acc, 1, Prepare(ballot=b(2, 1), first_slot=0)), Promise)[0]
    assert promise.chosen_through == 2
    assert [e.slot for e in promise.entries] == [5]  # chosen slots below are not re-reported


def test_P2c_the_new_leader_proposes_the_value_a_promise_reported() -> None:
    leader = make(1)
    prep = sent(tick_until_candidate(leader), Prepare)[0]
    rd = deliver(leader, 3, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0,
                                    entries=(PromiseEntry(slot=0, ballot=b(2, 3), batch=batch(20)),
                                             PromiseEntry(slot=1, ballot=b(1, 2), batch=batch(11)))))
    assert leader.role is Role.LEADER  # itself + node 3 is a majority of 3
    proposed = {e.slot: e.batch for a in sent(rd, Accept, dst=2) for e in a.entries}
    assert proposed == {0: batch(20), 1: batch(11)}
    assert all(a.ballot == prep.ballot for a in sent(rd, Accept))


def test_P2c_a_late_promise_does_not_change_what_was_proposed() -> None:
    leader = make(1)
    prep = sent(tick_until_candidate(leader), Prepare)[0]
    deliver(leader, 2, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0, entries=()))
    late = deliver(leader, 3, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0,
                                      entries=(PromiseEntry(slot=0, ballot=b(1, 3), batch=batch(5)),)))
    assert leader.role is Role.LEADER and sent(late, Accept) == []


def test_P2c_with_two_promises_the_highest_ballot_wins_in_each_slot() -> None:
    leader = make(1, n=5)
    prep = sent(tick_until_candidate(leader), Prepare)[0]
    deliver(leader, 2, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0,
                               entries=(PromiseEntry(slot=0, ballot=b(1, 2), batch=batch(10)),
                                        PromiseEntry(slot=1, ballot=b(3, 3), batch=batch(31)))))
    rd = deliver(leader, 3, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0,
                                    entries=(PromiseEntry(slot=0, ballot=b(2, 3), batch=batch(20)),
                                             PromiseEntry(slot=1, ballot=b(1, 2), batch=batch(11)))))
    assert leader.role is Role.LEADER
    proposed = {e.slot: e.batch for a in sent(rd, Accept, dst=4) for e in a.entries}
    assert proposed == {0: batch(20), 1: batch(31)}


def test_gaps_below_the_highest_reported_slot_are_filled_with_noops() -> None:
    leader = make(1)
    prep = sent(tick_until_candidate(leader), Prepare)[0]
    rd = deliver(leader, 2, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0,
                                    entries=(PromiseEntry(slot=3, ballot=b(1, 2), batch=batch(3)),)))
    proposed = {e.slot: e.batch for a in sent(rd, Accept, dst=3) for e in a.entries}
    assert proposed == {0: NOOP, 1: NOOP, 2: NOOP, 3: batch(3)}
    leader.propose(cmd(99))
    new = {e.slot: e.batch for a in sent(drain(leader), Accept, dst=2) for e in a.entries}
    assert new == {4: (cmd(99),)}  # client commands go above every constrained slot


def test_P2_a_value_chosen_by_a_leader_that_died_after_a_minority_accepted_is_completed() -> None:
    """Leader 1 gets its value to node 2 only (1 + 2 is a majority: chosen), then dies; 3 must keep it."""
    c = Cluster(3, seed=5)
    c.elect(1)
    c.partition({1, 2}, {3})
    c.propose(1, cmd(1))
    c.deliver_all()
    assert c.nodes[1].replica.first_unchosen == 1
    c.crash(1)
    c.heal()
    c.elect(3)
    c.run(30)
    assert c.nodes[3].replica.chosen_value(0) == (cmd(1),)
    c.check_prefixes()


def test_P2_a_value_accepted_by_only_a_minority_may_be_replaced_but_never_split() -> None:
    """Leader 1's accept reaches only itself; the next leader may choose anything, once, everywhere."""
    c = Cluster(3, seed=6)
    c.elect(1)
    c.partition({1}, {2, 3})
    c.propose(1, cmd(1))
    c.deliver_all()
    c.crash(1)
    c.elect(2)
    c.propose(2, cmd(2))
    c.deliver_all()
    c.heal()
    c.restart(1)
    c.run(40)
    values = {c.nodes[i].replica.chosen_value(0) for i in c.ids}
    assert len(values) == 1 and values != {None}
    c.check_prefixes()


def test_P2_two_proposers_racing_with_interleaved_prepares_stay_safe() -> None:
    c = Cluster(3, seed=7)
    for i in (1, 2):  # both time out before hearing each other's prepare
        while not any(isinstance(e.msg, Prepare) and e.src == i for e in c.network):
            c.tick(i)
    c.propose(1, cmd(1))
    c.propose(2, cmd(2))
    # interleave: each one's prepare reaches node 3 in turn, then everything
    for src in (1, 2):
        env = next(e for e in c.network if e.src == src and e.dst == 3)
        c.network.remove(env)
        c.nodes[3].replica.step(env)
        c.pump(3)
    c.deliver_all()
    for k in range(3):
        for i in (1, 2):
            if c.nodes[i].replica.role is Role.LEADER:
                c.propose(i, cmd(10 * i + k))
        c.run(5)
    c.run(60)
    c.check_prefixes()
    assert len(c.leaders()) == 1
    assert len({c.nodes[i].replica.first_unchosen for i in c.ids}) == 1


# ---------------------------------------------------------------- P2a / P2b over many random runs
@functools.lru_cache(maxsize=1)
def _p2_runs() -> list[Cluster]:  # shared by the P2a and P2b tests (the runs are deterministic)
    from tests.replica.chaos import random_run

    return [random_run(seed, n=n) for seed in range(40) for n in (3, 5)]


def test_P2a_once_chosen_every_higher_ballot_accepted_anywhere_has_the_same_value() -> None:
    checked = 0
    for c in _p2_runs():
        chosen = c.chosen_ballots()
        for _node, rec in c.accepted_ever:
            if rec.slot in chosen and rec.ballot > chosen[rec.slot][0]:
                assert rec.batch == chosen[rec.slot][1], f"seed {c.seed}: P2a broken in slot {rec.slot}"
                checked += 1
    assert checked > 100  # leader changes really did re-accept chosen slots at higher ballots


def test_P2b_once_chosen_every_higher_ballot_proposal_issued_has_the_same_value() -> None:
    checked = 0
    for c in _p2_runs():
        chosen = c.chosen_ballots()
        for slot, ballot, batch_ in c.issued:
            if slot in chosen and ballot > chosen[slot][0]:
                assert batch_ == chosen[slot][1], f"seed {c.seed}: P2b broken in slot {slot}"
                checked += 1
        for slot, (_ballot, value) in chosen.items():  # and what was chosen is what replicas applied
            assert c.chosen.get(slot, value) == value
    assert checked > 100


def test_P2c_a_value_accepted_by_a_minority_is_completed_when_the_next_quorum_reports_it() -> None:
    """Leader 1 of 5 gets its value onto itself and node 2 only (a minority), then dies. Node 3's
    phase-1 quorum {2, 3, 4} includes node 2, so P2c makes node 3 propose that same value."""
    c = Cluster(5, seed=12)
    c.elect(1)
    c.partition({1, 2}, {3, 4, 5})
    c.propose(1, cmd(1))
    c.deliver_all()
    assert c.nodes[1].replica.first_unchosen == 0  # 2 of 5 accepted: not chosen
    c.crash(1)
    c.partition({2, 3, 4}, {5})
    c.elect(3)
    c.run(10)
    assert c.nodes[3].replica.chosen_value(0) == (cmd(1),)
    c.heal()
    c.restart(1)
    c.run(40)
    assert {c.nodes[i].replica.first_unchosen for i in c.ids} == {1}
    c.check_prefixes()
