"""The recording client against a real HTTP server (the in-memory fake replica): every outcome rule."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from targets.paxos import PAXOS
from tests.faults.conftest import free_port
from tests.workloads.fake_replica import FakeCluster, FakeReplica
from workloads.client import Completion, RecordingClient
from workloads.generator import Op
from workloads.history import CasValue, HistoryRecorder

T = TypeVar("T")


def with_client(state: FakeReplica, body: Callable[[RecordingClient, HistoryRecorder, FakeCluster],
                                                   Awaitable[T]], *, attempts: int = 3,
                timeout_s: float = 0.3, urls: dict[int, str] | None = None, retry_unknown: bool = False) -> T:
    async def main() -> T:
        async with FakeCluster(state) as cluster, aiohttp.ClientSession() as session:
            rec = HistoryRecorder(clock_ns=lambda: 0)
            client = RecordingClient(adapter=PAXOS.adapter({}), session=session, urls=urls or cluster.urls, recorder=rec,
                                     timeout_s=timeout_s, attempts=attempts, retry_wait_s=0.01,
                                     retry_unknown=retry_unknown)
            return await body(client, rec, cluster)

    return asyncio.run(main())


def test_ok_ops_record_invoke_and_completion_with_values() -> None:
    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> list[Completion]:
        return [await c.perform(Op(f="put", key="k", value="a"), process=0, node=1),
                await c.perform(Op(f="append", key="k", value="b;"), process=0, node=2),
                await c.perform(Op(f="get", key="k"), process=0, node=3),
                await c.perform(Op(f="cas", key="k", expect="ab;", value="c"), process=0, node=1),
                await c.perform(Op(f="delete", key="k"), process=0, node=1),
                await c.perform(Op(f="get", key="k"), process=0, node=1)]

    rec_holder: list[HistoryRecorder] = []

    async def body2(c: RecordingClient, rec: HistoryRecorder, cl: FakeCluster) -> list[Completion]:
        rec_holder.append(rec)
        return await body(c, rec, cl)

    done = with_client(FakeReplica(), body2)
    assert [d.type for d in done] == ["ok"] * 6
    assert done[2].read == "ab;" and done[5].read is None
    events = rec_holder[0].events
    assert [e.type for e in events] == ["invoke", "ok"] * 6
    assert events[5].value == "ab;" and events[5].node == 3
    assert events[6].value == CasValue(expect="ab;", value="c")
    assert events[11].value is None


def test_definite_failures_are_retried_invisibly_with_the_same_request_id() -> None:
    state = FakeReplica(script=deque(["unavailable", "unavailable", "ok"]))
    recs: list[HistoryRecorder] = []

    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> Completion:
        recs.append(rec)
        return await c.perform(Op(f="put", key="k", value="v"), process=4, node=1)

    done = with_client(state, body)
    assert done.type == "ok"
    assert [e.type for e in recs[0].events] == ["invoke", "ok"]
    assert {(r[2], r[3]) for r in state.requests} == {("chaos-p4", 0)}
    assert len(state.requests) == 3 and state.writes == ["v"]


def test_unavailable_every_time_is_a_fail_after_the_attempts() -> None:
    state = FakeReplica(script=deque(["unavailable"] * 10))
    done = with_client(state, lambda c, r, _: c.perform(Op(f="put", key="k", value="v"), process=0, node=1),
                       attempts=4)
    assert done.type == "fail" and not done.retire and "not proposed" in (done.error or "")
    assert len(state.requests) == 4 and state.data == {}


def test_leader_hint_is_followed() -> None:
    state = FakeReplica(script=deque(["unavailable", "ok"]), leader_hint=3)
    done = with_client(state, lambda c, r, _: c.perform(Op(f="get", key="k"), process=0, node=1))
    assert done.type == "ok" and done.node == 3
    assert [r[0] for r in state.requests] == [1, 3]


def test_indeterminate_outcomes_are_info_and_never_retried() -> None:
    for behaviour, applied in (("lost", True), ("dropped", False), ("slow", True)):
        state = FakeReplica(script=deque([behaviour]), slow_s=1.0)
        done = with_client(state, lambda c, r, _: c.perform(Op(f="put", key="k", value="v"),
                                                            process=0, node=1), timeout_s=0.2)
        assert done.type == "info" and done.retire, behaviour
        assert len(state.requests) == 1, behaviour
        assert (state.data == {"k": "v"}) == applied, behaviour


def test_precondition_and_bad_request_are_definite_fails() -> None:
    state = FakeReplica()
    state.data["k"] = "x"

    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> list[Completion]:
        return [await c.perform(Op(f="cas", key="k", expect="nope", value="y"), process=0, node=1)]

    (done,) = with_client(state, body)
    assert (done.type, done.error) == ("fail", "precondition") and state.data == {"k": "x"}


def test_a_refused_connection_is_a_definite_fail() -> None:
    closed = {1: f"http://127.0.0.1:{free_port()}"}
    recs: list[HistoryRecorder] = []

    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> Completion:
        recs.append(rec)
        return await c.perform(Op(f="put", key="k", value="v"), process=0, node=1)

    done = with_client(FakeReplica(), body, urls=closed, attempts=2)
    assert done.type == "fail" and (done.error or "").startswith("connect")
    assert [e.type for e in recs[0].events] == ["invoke", "fail"]


def test_bad_request_is_a_fail_that_is_not_retried() -> None:
    state = FakeReplica(script=deque(["bad", "ok"]))
    done = with_client(state, lambda c, r, _: c.perform(Op(f="put", key="k", value="v"), process=0, node=1))
    assert done.type == "fail" and (done.error or "").startswith("400: malformed request")
    assert len(state.requests) == 1 and state.data == {}


def test_retry_unknown_retries_with_the_same_request_id_and_the_server_applies_once() -> None:
    state = FakeReplica(script=deque(["lost", "slow", "ok"]))  # applied, applied again?, answered

    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> Completion:
        return await c.perform(Op(f="append", key="k", value="x;"), process=4, node=1)

    done = with_client(state, body, retry_unknown=True)
    assert done.type == "ok"
    assert state.data["k"] == "x;"  # the replica's dedup answered the retries with the first result
    assert {(client, req) for _, _, client, req in state.requests} == {("chaos-p4", 0)}
    assert [node for node, *_ in state.requests] == [1, 2, 3]  # each unknown attempt moves on


def test_retry_unknown_never_turns_a_maybe_applied_op_into_a_fail() -> None:
    state = FakeReplica(script=deque(["lost", "unavailable", "unavailable"]))

    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> Completion:
        return await c.perform(Op(f="put", key="k", value="v"), process=0, node=1)

    done = with_client(state, body, retry_unknown=True)
    assert done.type == "info" and done.retire
    assert done.error is not None and done.error.startswith("503")


def test_without_retry_unknown_an_unknown_attempt_is_not_retried() -> None:
    state = FakeReplica(script=deque(["lost", "ok"]))

    async def body(c: RecordingClient, rec: HistoryRecorder, _: FakeCluster) -> Completion:
        return await c.perform(Op(f="put", key="k", value="v"), process=0, node=1)

    assert with_client(state, body).type == "info"
    assert len(state.requests) == 1
