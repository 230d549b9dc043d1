"""The shared host loop (replica_image/loop.py), driven with injected fakes: the order of a Ready's duties
(persist and sync before send; apply before advance), the snapshot policy, the stop hook, the waiters and
the host-side bug switches. The three hosts (aiohttp Driver, SimNode, test Cluster) rely on exactly this."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from replica_image.errors import InternalError
from replica_image.kv import OK, Result
from replica_image.loop import ROUNDS_MAX, HostLoop, Waiters, Write, status_problem
from replica_image.paxos import (
    Batch, Command, CoreConfig, Envelope, Prepare, Promise, PromiseRecord, Ready, Record, Replica, Role,
    SnapshotRecord,
)
from tests.replica.helpers import CFG, b, cmd


class Journal:
    """Everything the loop asked of its host, in order, as short strings."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.answers: list[tuple[str, Result]] = []

    def send(self, messages: tuple[Envelope, ...]) -> None:
        self.events.append("send " + ",".join(type(e.msg).__name__ for e in messages))

    def answer(self, waiter: str, result: Result) -> None:
        self.events.append(f"answer {waiter}")
        self.answers.append((waiter, result))

    def commit(self, slot: int, batch: Batch | None) -> None:
        self.events.append(f"commit {slot}" if batch is not None else f"snapshot-installed {slot}")

    def snapshot(self, slot: int) -> None:
        self.events.append(f"snapshot-taken {slot}")


class JournaledReplica(Replica):
    """A real core whose advance() shows up in the journal."""

    journal: Journal

    def advance(self, rd: Ready) -> None:
        self.journal.events.append("advance")
        super().advance(rd)


def core(node_id: int = 1, n: int = 1, *, bugs: Sequence[str] = (), journal: Journal,
         recovered: tuple[Record, ...] = ()) -> JournaledReplica:
    config = dataclasses.replace(CFG, bugs=frozenset(bugs))
    rep = JournaledReplica(node_id, list(range(1, n + 1)), config, random.Random(0), recovered=recovered)
    rep.journal = journal
    return rep


def host(rep: Replica, journal: Journal, *, snapshot_every: int = 0) -> HostLoop[str]:
    return HostLoop(core=rep, snapshot_every=snapshot_every, send=journal.send, answer=journal.answer,
                    on_commit=journal.commit, on_snapshot=journal.snapshot)


def run(loop: HostLoop[str], journal: Journal) -> list[Write]:
    """Carry out every Write at once, journaling it where it happens."""
    writes = []
    for write in loop.rounds():
        journal.events.append(f"write {len(write.records)} sync={write.sync} deferred={write.deferred}")
        writes.append(write)
    return writes


def leader(loop: HostLoop[str], journal: Journal) -> None:
    """A one-node cluster elects itself after its election timeout."""
    for _ in range(100):
        loop.core.tick()
        run(loop, journal)
        if loop.core.role is Role.LEADER:
            journal.events.clear()
            return
    raise AssertionError("no leader")


def test_a_promise_is_written_and_synced_before_its_reply_is_sent() -> None:
    journal = Journal()
    rep = core(3, 3, journal=journal)
    loop = host(rep, journal)
    rep.step(Envelope(src=1, dst=3, msg=Prepare(ballot=b(1, 1), first_slot=0)))
    rounds = loop.rounds()
    write = next(rounds)
    # the loop is suspended at the write: nothing has left yet, nothing was advanced
    assert journal.events == []
    assert write.sync and not write.deferred
    assert any(isinstance(r, PromiseRecord) for r in write.records)
    assert list(rounds) == []  # the host resumes: the write is done
    assert journal.events == ["send Promise", "advance"]


def test_commands_are_applied_and_answered_before_advance_in_slot_order() -> None:
    journal = Journal()
    loop = host(core(journal=journal), journal)
    leader(loop, journal)
    for i in (1, 2):
        loop.waiters.add(cmd(i), f"w{i}")
        loop.core.propose(cmd(i))
    run(loop, journal)
    ev = journal.events
    write = next(k for k, x in enumerate(ev) if x.startswith("write"))
    commit = next(k for k, x in enumerate(ev) if x.startswith("commit"))
    # persisted (the accept, in a one-node cluster) -> committed -> answered in order -> advanced
    assert write < commit < ev.index("answer w1") < ev.index("answer w2") < ev.index("advance", commit)
    assert [w for w, _ in journal.answers] == ["w1", "w2"]
    assert all(r.status == OK for _, r in journal.answers)
    assert loop.kv.read("k") == "2" and loop.applied_index >= 0


def test_the_snapshot_policy_takes_one_every_n_applied_slots_and_persists_it() -> None:
    journal = Journal()
    loop = host(core(journal=journal), journal, snapshot_every=2)
    leader(loop, journal)
    writes: list[Write] = []
    for i in range(1, 4):
        loop.core.propose(cmd(i))
        writes += run(loop, journal)
    taken = [e for e in journal.events if e.startswith("snapshot-taken")]
    assert taken
    assert journal.events.index(taken[0]) > journal.events.index("advance")  # after the round it completes
    assert any(isinstance(r, SnapshotRecord) for w in writes for r in w.records)


def test_snapshot_every_zero_never_snapshots() -> None:
    journal = Journal()
    loop = host(core(journal=journal), journal, snapshot_every=0)
    leader(loop, journal)
    for i in range(1, 6):
        loop.core.propose(cmd(i))
        run(loop, journal)
    assert not any(e.startswith("snapshot") for e in journal.events)


def test_a_restarted_core_redelivers_its_chosen_slots_and_the_loop_rebuilds_the_kv() -> None:
    journal = Journal()
    loop = host(core(journal=journal), journal)
    leader(loop, journal)
    records: list[Record] = []
    loop.core.propose(cmd(7))
    for write in loop.rounds():
        records += write.records
    again = Journal()
    loop2 = host(core(journal=again, recovered=tuple(records)), again)
    run(loop2, again)
    assert loop2.kv.read("k") == "7"
    assert any(e.startswith("commit") for e in again.events)


def test_stop_ends_the_loop_after_the_round_it_names() -> None:
    journal = Journal()
    rep = core(3, 3, journal=journal)
    loop = host(rep, journal)
    rep.step(Envelope(src=1, dst=3, msg=Prepare(ballot=b(1, 1), first_slot=0)))
    seen: list[Ready] = []

    def stop(rd: Ready) -> bool:
        seen.append(rd)
        return True
    for _ in loop.rounds(stop=stop):
        pass
    assert len(seen) == 1 and seen[0].must_sync
    assert journal.events == ["send Promise", "advance"]  # the round was carried out in full first


def test_bug_no_fsync_defers_the_records_and_sends_the_reply_anyway() -> None:
    journal = Journal()
    rep = core(3, 3, bugs=["no-fsync"], journal=journal)
    loop = host(rep, journal)
    rep.step(Envelope(src=1, dst=3, msg=Prepare(ballot=b(1, 1), first_slot=0)))
    writes = run(loop, journal)
    assert [w.deferred for w in writes] == [True]
    assert "send Promise" in journal.events
    held = loop.take_behind()
    assert held == writes[0].records and loop.behind == [] and loop.take_behind() == ()


def test_bug_skip_fsync_writes_without_sync() -> None:
    for bugs, sync in (((), True), (("skip-fsync",), False)):
        journal = Journal()
        rep = core(3, 3, bugs=bugs, journal=journal)
        loop = host(rep, journal)
        rep.step(Envelope(src=1, dst=3, msg=Prepare(ballot=b(1, 1), first_slot=0)))
        writes = run(loop, journal)
        assert [(w.sync, w.deferred) for w in writes] == [(sync, False)]


def test_bug_local_reads_answers_a_get_from_the_local_kv_only_when_on() -> None:
    journal = Journal()
    off = host(core(journal=journal), journal)
    on = host(core(bugs=["local-reads"], journal=journal), journal)
    get = cmd(1, op="get")
    assert off.local_read(get) is None
    assert on.local_read(get) == on.kv.get("k")
    assert on.local_read(cmd(2)) is None  # a put still goes through the log


def test_bug_no_dedup_is_the_kv_the_loop_makes() -> None:
    journal = Journal()
    for bugs, applied_twice in (((), False), (("no-dedup",), True)):
        loop = host(core(bugs=bugs, journal=journal), journal)
        c = Command(client_id="c", request_id=1, op="append", key="k", value="x")
        loop.kv.apply(c)
        loop.kv.apply(c)
        assert (loop.kv.read("k") == "xx") is applied_twice


def test_waiters_answer_only_the_command_they_wait_for() -> None:
    waiters: Waiters[str] = Waiters()
    put, other = cmd(1), cmd(1, op="append")  # the same ids reused for another command
    waiters.add(put, "a")
    waiters.add(other, "b")
    waiters.add(put, "c")
    assert waiters.pop(put) == ["a", "c"]
    assert len(waiters) == 1
    w = "d"
    waiters.add(other, w)
    waiters.forget(other, w)
    assert waiters.pop(other) == ["b"] and len(waiters) == 0


def test_a_spinning_core_is_an_internal_error() -> None:
    class Spinning(Replica):
        def has_ready(self) -> bool:
            return True

    rep = Spinning(1, [1], CoreConfig(), random.Random(0))
    loop: HostLoop[str] = HostLoop(core=rep, snapshot_every=0, send=lambda m: None, answer=lambda w, r: None)
    with pytest.raises(InternalError, match=str(ROUNDS_MAX)):
        for _ in loop.rounds():
            pass


def test_promise_messages_are_real() -> None:
    """Guard for the tests above: a Prepare to a fresh acceptor makes a Promise (the message they watch)."""
    journal = Journal()
    rep = core(3, 3, journal=journal)
    rep.step(Envelope(src=1, dst=3, msg=Prepare(ballot=b(1, 1), first_slot=0)))
    assert any(isinstance(e.msg, Promise) for e in rep.ready().messages)


def test_status_of_a_live_loop_keeps_the_contract_through_snapshots() -> None:
    journal = Journal()
    loop = host(core(journal=journal), journal, snapshot_every=2)
    assert status_problem(loop.status(), [1]) is None  # a fresh follower: nothing applied
    leader(loop, journal)
    for i in range(1, 6):
        loop.core.propose(cmd(i))
        run(loop, journal)
        assert status_problem(loop.status(), [1]) is None
    doc = loop.status()
    assert (doc["role"], doc["leader"]) == ("leader", 1) and doc["snapshot_last"] >= 1


@pytest.mark.parametrize(("change", "names"), [
    ({"leader": print}, "not plain JSON"),               # a method where a value belongs (a lost @property)
    ({"leader": 9}, "leader 9"),                         # not a node of the cluster
    ({"leader": True}, "leader True"),                   # JSON true is no node id
    ({"role": "boss"}, "role 'boss'"),
    ({"ballot": {"round": -1, "node": 1}}, "ballot"),
    ({"applied_index": 7}, "applied_index 7 < first_unchosen 4"),
    ({"snapshot_last": 3}, "snapshot_last 3 <= applied_index 2"),
    ({"log_length": 1.5}, "log_length 1.5"),
    ({"first_unchosen": float("nan")}, "not plain JSON"),
    ({"state_digest": None}, "state_digest None"),
    ({"log_length": 1}, "log_length 1 is below the 2 chosen slots"),   # slots 2 and 3 are held
])
def test_status_problem_names_the_field_that_breaks_the_contract(change: dict[str, object], names: str) -> None:
    good = {"role": "follower", "ballot": {"round": 2, "node": 1}, "leader": 2, "first_unchosen": 4,
            "applied_index": 2, "log_length": 3, "snapshot_last": 1, "state_digest": "ab"}
    assert status_problem(good, [1, 2, 3]) is None
    problem = status_problem({**good, **change}, [1, 2, 3])
    assert problem is not None and names in problem


def test_the_peer_gate_refuses_a_foreign_ballot_and_a_snapshot_the_kv_cannot_restore() -> None:
    """`check_peer_message` runs before the core in the aiohttp replica and in the simulator: the core
    persists a peer's snapshot before the host restores it, so a bad one must not reach it."""
    from replica_image.errors import InvalidMessage
    from replica_image.kv import KV
    from replica_image.loop import check_peer_message
    from replica_image.paxos import Ballot, Snapshot

    ids = (1, 2, 3)
    check_peer_message(Prepare(ballot=Ballot(round=2, node=3), first_slot=0), ids)
    check_peer_message(Snapshot(last_slot=4, data=KV().snapshot()), ids)
    with pytest.raises(InvalidMessage, match=r"prepare.ballot: node 4 is not in this cluster"):
        check_peer_message(Prepare(ballot=Ballot(round=2, node=4), first_slot=0), ids)
    with pytest.raises(InvalidMessage, match=r"snapshot.data"):
        check_peer_message(Snapshot(last_slot=4, data='{"version": 2, "data": {"k": 7}, "dedup": []}'), ids)
