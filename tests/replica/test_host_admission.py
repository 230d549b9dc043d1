"""Admission in the host loop: a leader holds what it can serve within the deadline and sheds the rest.

A real one-node core, kv and storage (fsync off, so no worker thread), a fake clock, and the loop's
rounds run by hand: every number below is the Driver's own arithmetic, nothing depends on speed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from replica_image.compaction import LiveLog
from replica_image.host import ADMIT_FLOOR_MIN, ADMIT_SAFETY, RATE_WINDOW_S, Applied, Driver, Rejected, ServiceRate
from replica_image.metrics import ReplicaMetrics
from replica_image.paxos import Command, CoreConfig, Replica, Role
from replica_image.storage import Storage
from replica_image.transport import PeerTransport

DEADLINE_S = 1.0
TICK_S = 0.01
# batch_max * window = 8: the core is handed at most 8 commands beyond what was applied
CORE = CoreConfig(election_timeout_ticks=2, heartbeat_ticks=1, batch_max=4, window=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class NoPeers:
    """A one-node cluster sends nothing; this stands in for PeerTransport."""

    def send(self, out: list[Any]) -> None:
        assert not out, out


def put(i: int) -> Command:
    return Command(client_id=f"c{i}", request_id=1, op="put", key=f"k{i}", value=str(i))


def run(tmp_path: Path, body: Callable[[Driver, FakeClock], Awaitable[None]]) -> None:
    async def main() -> None:
        storage, _ = Storage.open(tmp_path / "data", fsync=False)
        clock = FakeClock()
        driver = Driver(core=Replica(1, [1], CORE, random.Random(0)), storage=storage, live=LiveLog(),
                        transport=cast(PeerTransport, NoPeers()), metrics=ReplicaMetrics(), tick_s=TICK_S,
                        snapshot_every=1000, applied_index=-1, request_timeout_s=DEADLINE_S, clock=clock)
        try:
            await body(driver, clock)
        finally:
            storage.close()

    asyncio.run(asyncio.wait_for(main(), 30))


async def elect(driver: Driver, clock: FakeClock) -> None:
    """Let the one-node core time out and elect itself (bounded in rounds)."""
    for _ in range(20):
        clock.now += 5 * TICK_S
        await driver._round()
        if driver.core.role is Role.LEADER:
            return
    raise AssertionError("the one-node core never became leader")


def shed_count(driver: Driver) -> float:
    return driver._metrics.shed.value()


# ---- ServiceRate ----

def test_rate_is_unknown_until_the_window_holds_enough_busy_time() -> None:
    rate = ServiceRate(window_s=2.0, buckets=20, min_busy_s=0.05)
    assert rate.rate(10.0) is None
    rate.note(10.0, applied=100, busy_s=0.04)
    assert rate.rate(10.0) is None
    rate.note(10.01, applied=100, busy_s=0.06)
    assert rate.rate(10.01) == pytest.approx(2000.0)


def test_rate_leaves_idle_time_out_and_forgets_what_left_the_window() -> None:
    rate = ServiceRate(window_s=2.0, buckets=20, min_busy_s=0.05)
    rate.note(10.0, applied=500, busy_s=0.5)
    rate.note(11.5, applied=0, busy_s=0.0)  # idle: the rate is still what it could serve
    assert rate.rate(11.5) == pytest.approx(1000.0)
    rate.note(11.9, applied=50, busy_s=0.5)
    assert rate.rate(11.9) == pytest.approx(550 / 1.0)
    assert rate.rate(12.5) == pytest.approx(100.0)  # the first bucket (10.0) left the window
    assert rate.rate(14.5) is None
    rate.note(20.0, applied=10, busy_s=0.1)
    rate.reset()
    assert rate.rate(20.0) is None


def test_rate_refuses_nonsense_parameters() -> None:
    with pytest.raises(ValueError):
        ServiceRate(window_s=0.0)
    with pytest.raises(ValueError):
        ServiceRate(buckets=0)


# ---- the Driver ----

def test_a_follower_sheds_nothing_and_rejects_as_not_leader(tmp_path: Path) -> None:
    async def body(driver: Driver, clock: FakeClock) -> None:
        await driver._round()
        assert driver.core.role is not Role.LEADER and driver.admit_limit is None
        futs = [driver.submit(put(i)) for i in range(3 * ADMIT_FLOOR_MIN)]
        assert not any(f.done() for f in futs)
        await driver._round()
        assert {f.result() for f in futs} == {Rejected(reason="not-leader", leader=None)}
        assert shed_count(driver) == 0

    run(tmp_path, body)


def test_a_new_leader_admits_the_floor_and_sheds_the_rest_at_once(tmp_path: Path) -> None:
    async def body(driver: Driver, clock: FakeClock) -> None:
        await elect(driver, clock)
        assert driver.admit_limit == ADMIT_FLOOR_MIN  # rate unknown; batch_max (4) is below the minimum
        admitted = [driver.submit(put(i)) for i in range(ADMIT_FLOOR_MIN)]
        shed = [driver.submit(put(ADMIT_FLOOR_MIN + i)) for i in range(10)]
        assert not any(f.done() for f in admitted)
        assert all(f.done() for f in shed)
        assert {f.result() for f in shed} == {Rejected(reason="overloaded", leader=1)}
        assert shed_count(driver) == 10 and driver.held == ADMIT_FLOOR_MIN
        # the core is handed one window (8) per round; the rest waits in the host
        await driver._round()
        assert driver._metrics.proposals.value() == 8
        assert driver.held == ADMIT_FLOOR_MIN - 8
        for _ in range(ADMIT_FLOOR_MIN // 8):
            await driver._round()
        assert all(isinstance(f.result(), Applied) for f in admitted)
        assert driver.held == 0
        # shed commands were never proposed: their keys are absent
        assert driver.kv.read(f"k{ADMIT_FLOOR_MIN}") is None
        assert driver.kv.read("k0") == "0"
        # room again: the next command is admitted
        assert not driver.submit(put(1000)).done()

    run(tmp_path, body)


def test_the_limit_follows_the_measured_rate_and_falls_back_to_the_floor(tmp_path: Path) -> None:
    async def body(driver: Driver, clock: FakeClock) -> None:
        await elect(driver, clock)
        n = 0
        # busy rounds of 10 ms that each apply one window (8): 800 commands per busy second
        for _ in range(30):
            for _ in range(8):
                driver.submit(put(n))
                n += 1
            clock.now += 0.01
            await driver._round()
        assert driver.held == 0
        assert driver.admit_limit == pytest.approx(800 * DEADLINE_S * ADMIT_SAFETY, rel=0.15)
        assert driver.admit_limit is not None and driver.admit_limit > ADMIT_FLOOR_MIN
        # ten times slower: the limit would be 40, below the floor
        for _ in range(2 * int(RATE_WINDOW_S / 0.1)):
            for _ in range(8):
                driver.submit(put(n))
                n += 1
            clock.now += 0.1
            await driver._round()
        assert driver.admit_limit == ADMIT_FLOOR_MIN

    run(tmp_path, body)


def test_a_command_whose_client_gave_up_is_never_proposed(tmp_path: Path) -> None:
    async def body(driver: Driver, clock: FakeClock) -> None:
        await elect(driver, clock)
        cmd = put(1)
        fut = driver.submit(cmd)
        driver.forget(cmd, fut)  # what the server's deadline timer does
        fut.set_result(None)
        await driver._round()
        await driver._round()
        assert driver._metrics.proposals.value() == 0
        assert driver.kv.read("k1") is None
        assert driver.held == 0

    run(tmp_path, body)


def test_a_command_that_waited_too_long_for_the_loop_is_refused_not_proposed(tmp_path: Path) -> None:
    async def body(driver: Driver, clock: FakeClock) -> None:
        await elect(driver, clock)
        late = driver.submit(put(1))
        clock.now += DEADLINE_S * ADMIT_SAFETY + 0.01  # the loop was starved this long
        fresh = driver.submit(put(2))
        await driver._round()
        assert late.result() == Rejected(reason="overloaded", leader=1)
        assert isinstance(fresh.result(), Applied)
        assert driver.kv.read("k1") is None and driver.kv.read("k2") == "2"
        assert shed_count(driver) == 1

    run(tmp_path, body)
