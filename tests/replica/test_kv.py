"""The KV state machine: every op, exactly-once per (client_id, request_id), snapshots, digests."""

from __future__ import annotations

import pytest

from replica_image.errors import InvalidMessage
from replica_image.kv import ABSENT, KV, OK, PRECONDITION_FAILED, STALE, Result
from replica_image.paxos import Command

_next = iter(range(1_000_000))


def c(op: str, key: str = "k", value: str | None = None, expect: str | None = None, *,
      client: str | None = None, rid: int | None = None) -> Command:
    n = next(_next)
    return Command(client_id=client or f"client{n}", request_id=n if rid is None else rid, op=op, key=key,
                   value=value, expect=expect)


def test_get_of_an_absent_key_is_absent_and_put_then_get_returns_the_value() -> None:
    kv = KV()
    assert kv.apply(c("get")) == Result(status=ABSENT)
    assert kv.apply(c("put", value="v1")) == Result(status=OK, value="v1")
    assert kv.apply(c("get")) == Result(status=OK, value="v1")


def test_append_concatenates_and_creates() -> None:
    kv = KV()
    assert kv.apply(c("append", value="a")) == Result(status=OK, value="a")
    assert kv.apply(c("append", value="b")) == Result(status=OK, value="ab")
    assert kv.read("k") == "ab"


def test_delete_removes_and_reports_absent_keys() -> None:
    kv = KV()
    kv.apply(c("put", value="v"))
    assert kv.apply(c("delete")) == Result(status=OK, value="v")
    assert kv.apply(c("delete")) == Result(status=ABSENT)
    assert kv.apply(c("get")) == Result(status=ABSENT)


def test_cas_succeeds_only_on_the_expected_value_and_reports_the_current_one() -> None:
    kv = KV()
    assert kv.apply(c("cas", expect=None, value="1")) == Result(status=OK, value="1")  # expect absent
    assert kv.apply(c("cas", expect="0", value="2")) == Result(status=PRECONDITION_FAILED, value="1")
    assert kv.read("k") == "1"
    assert kv.apply(c("cas", expect="1", value="2")) == Result(status=OK, value="2")
    assert kv.apply(c("cas", expect=None, value="3")) == Result(status=PRECONDITION_FAILED, value="2")


def test_a_retried_request_is_applied_once_and_returns_the_first_result() -> None:
    kv = KV()
    first = kv.apply(c("append", value="x", client="a", rid=1))
    again = kv.apply(c("append", value="x", client="a", rid=1))
    assert first == again == Result(status=OK, value="x")
    assert kv.read("k") == "x"
    assert kv.last_result("a", 1) == first
    assert kv.last_result("a", 2) is None
    kv.apply(c("append", value="y", client="a", rid=2))
    assert kv.apply(c("append", value="x", client="a", rid=1)) == Result(status=STALE)
    assert kv.read("k") == "xy"


def test_a_retried_failed_cas_returns_the_first_result_even_after_the_value_changed() -> None:
    kv = KV()
    kv.apply(c("put", value="1"))
    first = kv.apply(c("cas", expect="0", value="9", client="a", rid=5))
    kv.apply(c("put", value="0"))
    assert kv.apply(c("cas", expect="0", value="9", client="a", rid=5)) == first
    assert kv.read("k") == "0"


def test_the_dedup_table_is_bounded_least_recent_client_first() -> None:
    kv = KV(dedup_clients_max=2)
    kv.apply(c("append", value="a", client="A", rid=1))
    kv.apply(c("append", value="b", client="B", rid=1))
    kv.apply(c("append", value="c", client="C", rid=1))  # evicts A
    assert kv.last_result("A", 1) is None and kv.last_result("C", 1) is not None
    kv.apply(c("append", value="a", client="A", rid=1))  # A lost its protection: applied again
    assert kv.read("k") == "abca"


def test_noop_batch_changes_nothing() -> None:
    kv = KV()
    before = kv.digest()
    assert kv.apply_batch(()) == []
    assert kv.digest() == before


def test_snapshot_restore_round_trip_keeps_values_and_dedup() -> None:
    kv = KV()
    for i in range(10):
        kv.apply(c("append", key=f"k{i % 3}", value=str(i), client=f"c{i % 4}", rid=i))
    other = KV()
    other.restore(kv.snapshot())
    assert other.digest() == kv.digest()
    assert other.snapshot() == kv.snapshot()
    retry = c("append", key="k0", value="9", client="c1", rid=9)
    assert other.apply(retry) == kv.apply(retry)  # the dedup table came along
    assert other.digest() == kv.digest()


def test_digest_is_equal_for_equal_histories_and_differs_otherwise() -> None:
    a, b = KV(), KV()
    cmds = [c("put", value="1", client="x", rid=1), c("append", value="2", client="y", rid=1)]
    for cmd in cmds:
        a.apply(cmd)
        b.apply(cmd)
    assert a.digest() == b.digest()
    b.apply(c("get", client="z", rid=1))  # a read changes only the dedup table, and that counts
    assert a.digest() != b.digest()


@pytest.mark.parametrize("bad,field", [
    ("not json", "not JSON"),
    ('{"version": 1}', "snapshot.version"),
    ('{"version": 2, "data": {"k": 1}, "dedup": []}', "snapshot.data"),
    ('{"version": 2, "data": {}, "dedup": [["c", "x", "f", "ok", null]]}', "snapshot.dedup[0]"),
    ('{"version": 2, "data": {}, "dedup": [["c", 1, "f", "no-such-status", null]]}', "snapshot.dedup[0]"),
    ("[" * 100_000, "nested too deeply"),
    ('{"version": 2, "data": {}, "dedup": [["c", 1' + "0" * 5000 + ', "f", "ok", null]]}', "not JSON"),
])
def test_restore_rejects_a_bad_snapshot_naming_the_field_and_keeps_the_state(bad: str, field: str) -> None:
    kv = KV()
    kv.apply(c("put", value="v"))
    before = kv.digest()
    with pytest.raises(InvalidMessage, match=field.replace("[", r"\[").replace("]", r"\]")):
        kv.restore(bad)
    assert kv.digest() == before
