"""The replica core's mechanics: Ready/advance, leadership, batching, learning, catch-up, restarts."""

from __future__ import annotations

import pytest

from replica_image.errors import InvalidMessage, MisuseError
from replica_image.paxos import (
    MAX_ENTRIES, Accept, Accepted, Catchup, Chosen, ChosenRecord, CoreConfig, Envelope, Nack, Prepare, ProposeResult,
    Proposal, Replica, Role, Snapshot, SnapshotRecord,
)
from tests.replica.cluster import Cluster, Faults
from tests.replica.helpers import CFG, b, batch, cmd, deliver, drain, make, sent, tick_until_candidate


def leader_of_3() -> Replica:
    rep = make(1)
    prep = sent(tick_until_candidate(rep), Prepare)[0]
    from replica_image.paxos import Promise

    deliver(rep, 2, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0, entries=()))
    assert rep.role is Role.LEADER
    return rep


# ---------------------------------------------------------------- the driving contract
def test_ready_twice_without_advance_is_a_misuse() -> None:
    rep = make(1)
    rep.ready()
    with pytest.raises(MisuseError, match="advance"):
        rep.ready()


def test_advance_needs_the_last_ready() -> None:
    rep = make(1)
    rep.ready()
    with pytest.raises(MisuseError):
        rep.advance(make(2).ready())


def test_step_rejects_a_misaddressed_or_forged_envelope() -> None:
    rep = make(1)
    with pytest.raises(InvalidMessage, match="dst"):
        rep.step(Envelope(src=2, dst=3, msg=Prepare(ballot=b(1, 2), first_slot=0)))
    with pytest.raises(InvalidMessage, match="src 9"):
        rep.step(Envelope(src=9, dst=1, msg=Prepare(ballot=b(1, 9), first_slot=0)))
    with pytest.raises(InvalidMessage, match="belongs to node 3"):
        rep.step(Envelope(src=2, dst=1, msg=Prepare(ballot=b(1, 3), first_slot=0)))


def test_config_bounds_are_checked_and_the_bug_hook_exists() -> None:
    with pytest.raises(MisuseError, match="window"):
        CoreConfig(window=0)
    # a window whose unchosen slots would not fit in one Promise could leave no acceptor able to promise
    assert CoreConfig(window=MAX_ENTRIES // 2).window == 2_048
    with pytest.raises(MisuseError, match="window must be an int in 1..2048"):
        CoreConfig(window=MAX_ENTRIES // 2 + 1)
    with pytest.raises(MisuseError, match="heartbeat_ticks"):
        CoreConfig(heartbeat_ticks=10, election_timeout_ticks=10)
    assert CoreConfig().bugs == frozenset()
    assert CoreConfig(bugs=frozenset({"small-quorum"})).bugs == {"small-quorum"}


def test_follower_only_proposes_nothing() -> None:
    rep = make(1)
    assert rep.propose(cmd(1)) is ProposeResult.NOT_LEADER
    assert not rep.has_ready() or sent(drain(rep), Accept) == []


# ---------------------------------------------------------------- elections and time
def test_election_timeout_is_randomized_from_the_injected_rng() -> None:
    def first_prepare_tick(seed: int) -> int:
        rep = make(1, seed=seed)
        for t in range(1, 100):
            rep.tick()
            if sent(drain(rep), Prepare):
                return t
        raise AssertionError("no election")

    ticks = {first_prepare_tick(s) for s in range(20)}
    assert all(CFG.election_timeout_ticks <= t < 2 * CFG.election_timeout_ticks for t in ticks)
    assert len(ticks) > 1
    assert first_prepare_tick(4) == first_prepare_tick(4)


def test_leader_heartbeats_keep_followers_from_electing() -> None:
    c = Cluster(3, seed=1)
    c.elect(1)
    for _ in range(100):
        c.tick()
        c.deliver_all()
    assert c.leaders() == [1]
    assert all(c.nodes[i].replica.leader_id == 1 for i in c.ids)


def test_a_one_replica_cluster_chooses_its_own_proposals_and_stays_leader() -> None:
    # With a quorum of one the leader learns each slot while accepting it; it must not mistake that for
    # a slot chosen beyond its proposals (which would make it step down after every command).
    c = Cluster(1, seed=3)
    c.elect(1)
    for k in range(5):
        assert c.propose(1, cmd(k)) is ProposeResult.QUEUED
        c.tick()
        c.deliver_all()
    assert c.leaders() == [1]
    assert [batch for _, batch in c.nodes[1].applied][-5:] == [(cmd(k),) for k in range(5)]


def test_a_nack_with_a_higher_ballot_makes_the_leader_step_down() -> None:
    rep = leader_of_3()
    mine = rep.ballot
    deliver(rep, 3, Nack(ballot=b(mine.round + 5, 3), rejected=mine))
    assert rep.role is Role.FOLLOWER
    assert rep.propose(cmd(1)) is ProposeResult.NOT_LEADER
    prep = sent(tick_until_candidate(rep), Prepare)[0]
    assert prep.ballot.round > mine.round + 5  # next ballot is above everything seen


def test_a_higher_prepare_makes_the_leader_step_down() -> None:
    rep = leader_of_3()
    deliver(rep, 2, Prepare(ballot=b(rep.ballot.round + 1, 2), first_slot=0))
    assert rep.role is Role.FOLLOWER


def test_a_leader_cut_off_from_the_majority_steps_down() -> None:
    c = Cluster(3, seed=2)
    c.elect(1)
    c.partition({1}, {2, 3})
    for _ in range(3 * CFG.election_timeout_ticks):
        c.tick(1)
        c.deliver_all()
    assert c.nodes[1].replica.role is not Role.LEADER


def test_two_leaders_at_once_stay_safe() -> None:
    c = Cluster(5, seed=9)
    c.elect(1)
    c.partition({1, 2}, {3, 4, 5})
    c.elect(3)  # 1 still believes it leads; both take commands
    for k in range(5):
        c.propose(1, cmd(100 + k))
        c.propose(3, cmd(300 + k))
        c.deliver_all()
    assert c.nodes[1].replica.first_unchosen == 0  # no majority on 1's side
    c.heal()
    c.run(60)
    c.check_prefixes()
    values = {c.nodes[i].replica.chosen_value(0) for i in c.ids}
    assert len(values) == 1


# ---------------------------------------------------------------- phase 2: batching, window, commit
def test_commands_are_batched_per_slot_and_per_message_within_the_window() -> None:
    rep = leader_of_3()
    for i in range(100):
        assert rep.propose(cmd(i)) is ProposeResult.QUEUED
    rd = drain(rep)
    accepts = sent(rd, Accept, dst=2)
    slots = [e for a in accepts for e in a.entries]
    assert len(slots) == CFG.window  # window bounds slots in flight
    assert all(len(e.batch) == CFG.batch_max for e in slots)
    assert all(len(a.entries) <= CFG.entries_per_message_max for a in accepts)
    assert len(accepts) == CFG.window // CFG.entries_per_message_max
    # acknowledging the first slots opens the window for more
    rd = deliver(rep, 2, Accepted(ballot=rep.ballot, slots=(0, 1), first_unchosen=0))
    assert rep.first_unchosen == 2
    more = [e.slot for a in sent(rd, Accept, dst=2) for e in a.entries]
    assert more == [CFG.window, CFG.window + 1]


def test_the_leader_commits_on_a_majority_including_itself_and_hands_slots_over_in_order() -> None:
    rep = leader_of_3()
    rep.propose(cmd(1))
    drain(rep)
    rep.propose(cmd(2))
    drain(rep)
    rd = deliver(rep, 3, Accepted(ballot=rep.ballot, slots=(1,), first_unchosen=0))
    assert rd.committed == ()  # slot 1 chosen, but slot 0 is not: nothing to apply yet
    rd = deliver(rep, 2, Accepted(ballot=rep.ballot, slots=(0,), first_unchosen=0))
    assert rd.committed == ((0, (cmd(1),)), (1, (cmd(2),)))
    assert ChosenRecord(slot=0, batch=(cmd(1),)) in rd.persist


def test_followers_learn_the_commit_piggybacked_on_heartbeats() -> None:
    f = make(2)
    deliver(f, 1, Accept(ballot=b(1, 1), commit=0, entries=(Proposal(slot=0, batch=batch(1)),)))
    rd = deliver(f, 1, Accept(ballot=b(1, 1), commit=1, entries=()))
    assert rd.committed == ((0, batch(1)),)


def test_a_commit_does_not_choose_a_value_accepted_in_another_ballot() -> None:
    f = make(2)
    deliver(f, 1, Accept(ballot=b(1, 1), commit=0, entries=(Proposal(slot=0, batch=batch(1)),)))
    rd = deliver(f, 3, Accept(ballot=b(2, 3), commit=1, entries=()))
    assert rd.committed == () and f.first_unchosen == 0
    f.tick()
    assert sent(drain(f), Catchup, dst=3) == [Catchup(from_slot=0)]


def test_duplicate_and_reordered_messages_change_nothing() -> None:
    rep = leader_of_3()
    rep.propose(cmd(1))
    rd = drain(rep)
    acc = sent(rd, Accept, dst=2)[0]
    f = make(2)
    first = deliver(f, 1, acc)
    dup = deliver(f, 1, acc)
    assert dup.persist == () and sent(dup, Accepted) == sent(first, Accepted)
    ok = sent(first, Accepted)[0]
    deliver(rep, 2, ok)
    twice = deliver(rep, 2, ok)
    assert twice.committed == () and rep.first_unchosen == 1
    late_prepare = deliver(rep, 3, Prepare(ballot=b(0, 3), first_slot=0))
    assert rep.role is Role.LEADER and sent(late_prepare, Nack)


def test_unacknowledged_accepts_are_retransmitted_only_to_the_silent_peers() -> None:
    rep = make(1, n=5)
    prep = sent(tick_until_candidate(rep), Prepare)[0]
    from replica_image.paxos import Promise

    for peer in (2, 3):
        deliver(rep, peer, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0, entries=()))
    assert rep.role is Role.LEADER
    rep.propose(cmd(1))
    drain(rep)
    deliver(rep, 2, Accepted(ballot=rep.ballot, slots=(0,), first_unchosen=0))  # 2 of 5: not chosen yet
    resent: dict[int, list[int]] = {}
    for _ in range(CFG.retransmit_ticks):
        rep.tick()
        for env in drain(rep).messages:
            if isinstance(env.msg, Accept) and env.msg.entries:
                resent.setdefault(env.dst, []).extend(e.slot for e in env.msg.entries)
    assert resent == {3: [0], 4: [0], 5: [0]}


# ---------------------------------------------------------------- learning, catch-up, snapshots
def test_a_lagging_replica_catches_up_with_chosen_slots() -> None:
    c = Cluster(3, seed=4)
    c.elect(1)
    c.partition({1, 2}, {3})
    for i in range(20):
        c.propose(1, cmd(i))
        c.deliver_all()
    assert c.nodes[3].replica.first_unchosen == 0
    c.heal()
    c.run(30)
    assert c.nodes[3].replica.first_unchosen == 20
    assert c.nodes[3].kv.digest() == c.nodes[1].kv.digest()


def test_a_replica_behind_a_truncated_log_gets_a_snapshot() -> None:
    c = Cluster(3, seed=4)
    c.elect(1)
    c.partition({1, 2}, {3})
    for i in range(20):
        c.propose(1, cmd(i, key=f"k{i % 3}"))
        c.deliver_all()
    c.run(CFG.heartbeat_ticks)  # the last commit reaches node 2 with a heartbeat
    for i in (1, 2):
        rep = c.nodes[i].replica
        rep.snapshot_taken(rep.applied_index, c.nodes[i].kv.snapshot())
        c.pump(i)
        assert rep.snapshot_last == 19 and rep.log_length < 20
    c.heal()
    c.run(30)
    assert c.nodes[3].replica.first_unchosen == 20
    assert any(batch_ is None for _, batch_ in c.nodes[3].applied)  # it installed a snapshot
    assert c.nodes[3].kv.digest() == c.nodes[1].kv.digest()


def test_snapshot_taken_is_persisted_and_bounded_by_the_applied_index() -> None:
    c = Cluster(1, seed=0)
    c.elect(1)
    c.propose(1, cmd(1))
    rep = c.nodes[1].replica
    with pytest.raises(MisuseError):
        rep.snapshot_taken(5, "{}")
    rep.snapshot_taken(0, c.nodes[1].kv.snapshot())
    rd = drain(rep)
    assert rd.must_sync and isinstance(rd.persist[-1], SnapshotRecord)


def test_a_follower_ignores_a_snapshot_older_than_what_it_has() -> None:
    f = make(2)
    deliver(f, 1, Chosen(entries=(Proposal(slot=0, batch=batch(1)), Proposal(slot=1, batch=batch(2)))))
    rd = deliver(f, 1, Snapshot(last_slot=0, data="{}"))
    assert rd.snapshot is None and f.first_unchosen == 2


def test_a_restart_replays_the_snapshot_and_chosen_slots_for_the_host() -> None:
    c = Cluster(3, seed=8)
    c.elect(1)
    node = c.nodes[2]
    for i in range(6):
        c.propose(1, cmd(i, key=f"k{i}"))
        c.deliver_all()
        c.run(CFG.heartbeat_ticks)
        if i == 2:
            assert node.replica.applied_index == 2
            node.replica.snapshot_taken(2, node.kv.snapshot())
            c.pump(2)
    digest = node.kv.digest()
    c.crash(2)
    c.restart(2)
    assert c.nodes[2].applied[0] == (2, None)  # the host rebuilds the kv: snapshot first ...
    replayed = [s for s, _ in c.nodes[2].applied[1:]]
    assert replayed == list(range(3, 3 + len(replayed)))  # ... then the chosen slots it had synced
    c.run(2 * CFG.heartbeat_ticks)  # an unsynced chosen mark may be lost: it is learned again
    assert c.nodes[2].applied[-1][0] == 5
    assert c.nodes[2].kv.digest() == digest
    c.check_prefixes()


def test_an_unsynced_accept_is_lost_on_crash_but_nothing_was_sent_for_it() -> None:
    f = make(2)
    f.step(Envelope(src=1, dst=2, msg=Accept(ballot=b(1, 1), commit=0,
                                             entries=(Proposal(slot=0, batch=batch(1)),))))
    rd = f.ready()
    assert rd.must_sync  # the host must fsync before it may send the Accepted in the same Ready
    assert sent(rd, Accepted)
    again = make(2, recovered=())  # crashed before the fsync: the reply was never sent either
    assert again.ballot == b(0, 0)


def _trace_hash(seed: int) -> str:
    """A hash of every message sent and every slot applied, in order, for one seeded faulty run."""
    import hashlib
    import json

    from replica_image import codec

    c = Cluster(3, seed=seed, faults=Faults(loss=0.1, duplicate=0.1, reorder=0.5))
    h = hashlib.sha256()
    for k in range(40):
        c.run(3)
        for i in c.leaders():
            c.propose(i, cmd(k))
        for env in c.network:  # everything in flight at this point, in order
            h.update(json.dumps(codec.encode_envelope(env), sort_keys=True).encode())
    for i in c.ids:
        h.update(repr(c.nodes[i].applied).encode())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_trace_and_another_seed_another() -> None:
    assert _trace_hash(11) == _trace_hash(11)
    assert _trace_hash(11) != _trace_hash(12)


# ---------------------------------------------------------------- misbehaving peers
def test_two_values_in_one_ballot_are_a_protocol_violation_and_change_nothing() -> None:
    from replica_image.errors import ProtocolViolation

    f = make(2)
    deliver(f, 1, Accept(ballot=b(1, 1), commit=0, entries=(Proposal(slot=0, batch=batch(1)),)))
    with pytest.raises(ProtocolViolation, match="two values for slot 0"):
        f.step(Envelope(src=1, dst=2, msg=Accept(ballot=b(1, 1), commit=0,
                                                 entries=(Proposal(slot=0, batch=batch(2)),))))
    assert drain(f).persist == ()
    with pytest.raises(ProtocolViolation):
        f.step(Envelope(src=1, dst=2, msg=Accept(ballot=b(2, 1), commit=0, entries=(
            Proposal(slot=3, batch=batch(1)), Proposal(slot=3, batch=batch(2))))))
    assert f.ballot == b(1, 1)  # the rejected message did not even raise the promise


def test_a_chosen_value_contradicting_ours_is_rejected_whole() -> None:
    from replica_image.errors import ProtocolViolation

    f = make(2)
    deliver(f, 1, Chosen(entries=(Proposal(slot=0, batch=batch(1)),)))
    with pytest.raises(ProtocolViolation, match="slot 0"):
        f.step(Envelope(src=3, dst=2, msg=Chosen(entries=(Proposal(slot=1, batch=batch(5)),
                                                          Proposal(slot=0, batch=batch(2))))))
    assert f.first_unchosen == 1 and f.chosen_value(1) is None


def test_a_leader_that_installs_a_snapshot_over_its_own_proposals_steps_down() -> None:
    """The snapshot cannot show whether our proposal there was chosen; if a higher ballot chose another
    value, our heartbeats' commit index would let followers mark our value chosen. So: step down."""
    rep = leader_of_3()
    rep.propose(cmd(1))
    drain(rep)
    assert rep.role is Role.LEADER and rep.first_unchosen == 0
    rd = deliver(rep, 3, Snapshot(last_slot=0, data="{}"))
    role_after: Role = rep.role  # (mypy narrowed rep.role above)
    assert role_after is Role.FOLLOWER
    assert rd.snapshot == Snapshot(last_slot=0, data="{}") and rep.first_unchosen == 1


def test_a_leader_that_learns_a_slot_chosen_beyond_its_proposals_steps_down() -> None:
    """Only a higher ballot can have chosen a slot this leader never proposed in; if the leader went on
    proposing there, its commit index would tell followers to choose its own value."""
    rep = leader_of_3()
    rep.propose(cmd(1))
    drain(rep)
    deliver(rep, 3, Chosen(entries=(Proposal(slot=0, batch=(cmd(1),)),)))
    assert rep.role is Role.LEADER  # our own value: consistent
    deliver(rep, 3, Chosen(entries=(Proposal(slot=3, batch=batch(7)),)))
    role_after: Role = rep.role
    assert role_after is Role.FOLLOWER


def test_a_leader_that_learns_another_value_in_its_own_slot_steps_down() -> None:
    rep = leader_of_3()
    rep.propose(cmd(1))
    drain(rep)
    deliver(rep, 3, Chosen(entries=(Proposal(slot=0, batch=batch(9)),)))
    role_after: Role = rep.role
    assert role_after is Role.FOLLOWER and rep.chosen_value(0) == batch(9)
