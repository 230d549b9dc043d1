"""Each deliberate bug (replica_image.bugs) changes behaviour where it claims to, and only there.

Every test runs the same input with the switch off and on; the 'off' half is the rule the seed states,
so a bug that leaked into the normal path would fail here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from replica_image.bugs import BUGS, KNOWN_BUGS
from replica_image.config import ConfigError, load_config
from replica_image.kv import KV
from replica_image.paxos import (
    Accept, Accepted, AcceptRecord, CoreConfig, Nack, Prepare, Promise, PromiseEntry, PromiseRecord, Proposal,
    Replica, Role,
)
from tests.replica.procs import LocalCluster, request
from tests.replica.helpers import CFG, b, batch, cmd, deliver, drain, make, sent, tick_until_candidate


def with_bugs(*names: str) -> CoreConfig:
    return dataclasses.replace(CFG, bugs=frozenset(names))


def promised_to(ballot_round: int, node: int, *, bugs: tuple[str, ...] = ()) -> Replica:
    """Replica 3 of 3, which promised ballot (round, node)."""
    rep = make(3, config=with_bugs(*bugs))
    deliver(rep, node, Prepare(ballot=b(ballot_round, node), first_slot=0))
    assert rep.ballot == b(ballot_round, node)
    return rep


def leader_of_3(*bugs: str, promises: tuple[PromiseEntry, ...] = ()) -> Replica:
    rep = make(1, config=with_bugs(*bugs))
    prep = sent(tick_until_candidate(rep), Prepare)[0]
    deliver(rep, 2, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0, entries=promises))
    assert rep.role is Role.LEADER
    return rep


def test_the_catalogue_is_what_the_config_accepts() -> None:
    assert len(BUGS) == 10 and all(BUGS.values())
    base = {"NODE_ID": "1", "PEERS": "1=http://h:1", "LISTEN": "127.0.0.1:1", "PEER_LISTEN": "127.0.0.1:2",
            "PEER_SECRET": "test-secret-0123456789", "DATA_DIR": "/tmp/x"}
    assert load_config({**base, "BUGS": ",".join(sorted(KNOWN_BUGS))}).bugs == KNOWN_BUGS
    assert load_config(base).bugs == frozenset()
    with pytest.raises(ConfigError, match="unknown bug 'no-paxos'"):
        load_config({**base, "BUGS": "no-paxos"})


@pytest.mark.parametrize("n,normal,buggy", [(3, 2, 1), (5, 3, 2), (7, 4, 3)])
def test_small_quorum_is_n_div_2(n: int, normal: int, buggy: int) -> None:
    assert make(1, n).quorum == normal
    assert make(1, n, config=with_bugs("small-quorum")).quorum == buggy


def test_reused_ballot_lets_an_equal_round_of_another_proposer_through() -> None:
    for bugs, expect in (((), Nack), (("reused-ballot",), Promise)):
        rep = promised_to(5, 2, bugs=bugs)
        rd = deliver(rep, 1, Prepare(ballot=b(5, 1), first_slot=0))
        assert [type(m) for m in sent(rd, Promise) + sent(rd, Nack)] == [expect]
        assert rep.ballot == b(5, 2)  # the promise itself never goes down
        # a lower round is refused either way
        assert sent(deliver(rep, 1, Prepare(ballot=b(4, 1), first_slot=0)), Nack)


def test_accept_below_promise_acknowledges_a_lower_ballot() -> None:
    low = Accept(ballot=b(4, 1), commit=0, entries=(Proposal(slot=0, batch=batch(1)),))
    normal = promised_to(5, 2)
    rd = deliver(normal, 1, low)
    assert sent(rd, Nack) and not sent(rd, Accepted) and not rd.persist
    buggy = promised_to(5, 2, bugs=("accept-below-promise",))
    rd = deliver(buggy, 1, low)
    assert sent(rd, Accepted)[0].slots == (0,)
    assert buggy.ballot == b(5, 2)
    # an accept at or above the promise behaves the same with and without the switch
    ok = Accept(ballot=b(5, 2), commit=0, entries=(Proposal(slot=1, batch=batch(2)),))
    assert sent(deliver(normal, 2, ok), Accepted) == sent(deliver(buggy, 2, ok), Accepted)


def test_ignore_phase1_values_drops_reported_accepts_but_keeps_reported_choices() -> None:
    reported = (PromiseEntry(slot=0, ballot=b(1, 2), batch=batch(10), chosen=True),
                PromiseEntry(slot=1, ballot=b(1, 2), batch=batch(11)))

    def proposals(*bugs: str) -> dict[int, object]:
        """What the new leader proposes at election, then for one new command."""
        rep = make(1, config=with_bugs(*bugs))
        prep = sent(tick_until_candidate(rep), Prepare)[0]
        rd = deliver(rep, 2, Promise(ballot=prep.ballot, first_slot=0, chosen_through=0, entries=reported))
        rep.propose(cmd(99))
        rd2 = drain(rep)
        return {p.slot: p.batch for r in (rd, rd2) for m in sent(r, Accept, dst=2) for p in m.entries}

    assert proposals() == {0: batch(10), 1: batch(11), 2: (cmd(99),)}
    assert proposals("ignore-phase1-values") == {0: batch(10), 1: (cmd(99),)}  # slot 1 taken for our own


def test_early_reply_chooses_on_the_leaders_own_accept() -> None:
    for bugs, chosen_at_once in (((), False), (("early-reply",), True)):
        rep = leader_of_3(*bugs)
        rep.propose(cmd(1))
        rd = drain(rep)
        slot = sent(rd, Accept, dst=2)[0].entries[0].slot
        assert (rep.chosen_value(slot) is not None) is chosen_at_once
        deliver(rep, 2, Accepted(ballot=rep.ballot, slots=(slot,), first_unchosen=0))
        assert rep.chosen_value(slot) == (cmd(1),)  # a majority's accept chooses it in both cases


def test_forget_promise_on_restart_keeps_accepts() -> None:
    records = (PromiseRecord(ballot=b(7, 2)), AcceptRecord(slot=0, ballot=b(3, 1), batch=batch(1)))
    assert make(3, recovered=records).ballot == b(7, 2)
    buggy = make(3, config=with_bugs("forget-promise-on-restart"), recovered=records)
    assert buggy.ballot == b(3, 1)  # what the accept implies, nothing more
    assert make(3, config=with_bugs("forget-promise-on-restart"), recovered=records[1:]).ballot == b(3, 1)


def test_no_dedup_applies_a_retry_again() -> None:
    append = cmd(1, op="append")
    for kv, value in ((KV(), "1"), (KV(no_dedup=True), "11")):
        kv.apply(append)
        kv.apply(append)
        assert kv.read("k") == value
    kv = KV(no_dedup=True)  # distinct requests are unaffected
    kv.apply(cmd(1, op="append"))
    kv.apply(cmd(2, op="append"))
    assert kv.read("k") == "12"


@pytest.mark.processes
@pytest.mark.parametrize("bugs,survives", [("", True), ("no-fsync", False)])
def test_no_fsync_loses_an_acknowledged_write_to_kill_9(tmp_path: Path, bugs: str, survives: bool) -> None:
    with LocalCluster(tmp_path, n=1, env={"BUGS": bugs}) as c:
        c.start_all()
        c.wait_leader()
        assert c.op(1, "PUT", "k", {"value": "acked"}, client="w", req=1).status == 200
        c.kill(1)  # at once: well inside the bug's one-second write-behind
        c.start(1)
        c.wait_healthy(1)
        c.wait_leader()
        got = c.op(1, "GET", "k", client="r", req=1)
        assert got.status == 200
        assert got.body == ({"value": "acked", "found": True} if survives else {"value": None, "found": False})


@pytest.mark.processes
@pytest.mark.parametrize("bugs,fsyncs", [("", True), ("skip-fsync", False)])
def test_skip_fsync_writes_records_but_never_fsyncs_and_kill_9_keeps_them(tmp_path: Path, bugs: str,
                                                                        fsyncs: bool) -> None:
    """Only a power loss can tell skip-fsync from a correct replica: a process kill keeps the page cache,
    so the acknowledged write is still there after kill -9, with or without the bug."""
    with LocalCluster(tmp_path, n=1, env={"BUGS": bugs}) as c:
        c.start_all()
        c.wait_leader()
        assert c.op(1, "PUT", "k", {"value": "acked"}, client="w", req=1).status == 200
        metrics = request(c.ports[1], "GET", "/metrics").body.get("_text", "")
        count = next(float(line.split()[-1]) for line in str(metrics).splitlines()
                     if line.startswith("storage_fsyncs_total"))
        assert (count > 0) is fsyncs, count
        c.kill(1)
        c.start(1)
        c.wait_healthy(1)
        c.wait_leader()
        assert c.op(1, "GET", "k", client="r", req=1).body == {"value": "acked", "found": True}
