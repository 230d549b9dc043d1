"""Three real replicas under a burst far beyond what the leader serves within REQUEST_TIMEOUT_MS.

The leader must admit only what it can answer within the deadline and refuse the rest at once with a
definite 503 ``proposed: false``; an unknown outcome (503 ``proposed: true``) must stay rare, and once
the burst is answered the leader must not still be busy with commands whose clients gave up.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import aiohttp
import pytest

from tests.replica.procs import LocalCluster, ids, request

pytestmark = pytest.mark.processes

BURST = 3000
REQUEST_TIMEOUT_MS = 1000
BURST_LIMIT_S = 90.0  # the whole burst, answers included (each answer comes by the deadline)
# The flood stalls the leader's event loop for longer than FAST_ENV's 250 ms election timeout; this
# test is about admission, not failover, so the leader is not deposed for it.
ENV = {"REQUEST_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS), "ELECTION_TIMEOUT_MS": "3000"}
# Unknown outcomes allowed: what a leader that knows nothing of its rate admits (one batch of 256)
# may all miss the deadline while the flood is parsed; today's code leaves 1,300..3,000 unknown.
UNKNOWN_MAX = BURST // 5


async def _put(session: aiohttp.ClientSession, port: int, n: int) -> str:
    """One put with its own client id; the answer's class: "200", "503-false", "503-true", other."""
    url = f"http://127.0.0.1:{port}/kv/k{n % 50}"
    try:
        async with session.put(url, json={"value": f"v{n}"}, headers=ids(f"burst{n}", 1)) as resp:
            body = await resp.json(content_type=None)
            if resp.status == 503 and isinstance(body, dict):
                return f"503-{str(body.get('proposed')).lower()}"
            return str(resp.status)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return type(exc).__name__


async def _burst(port: int) -> collections.Counter[str]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_MS / 1000 + 30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        answers = await asyncio.wait_for(
            asyncio.gather(*(_put(session, port, n) for n in range(BURST))), BURST_LIMIT_S)
    return collections.Counter(answers)


def test_burst_beyond_the_deadline_is_shed_definitely_and_a_fresh_put_is_served(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, env=ENV) as c:
        c.start_all()
        leader = c.wait_leader()
        warm = c.op(leader, "PUT", "warm", {"value": "w"}, client="warm", req=1)
        assert warm.status == 200, (warm, c.logs())

        counts = asyncio.run(_burst(c.ports[leader]))
        print(f"burst of {BURST}: {dict(counts)}")
        assert sum(counts.values()) == BURST
        not_ok = BURST - counts["200"]
        definite = counts["503-false"]
        unknown = not_ok - definite  # 503 proposed:true, and any reset or timeout
        # (a) what could not be served was refused definitely (503 proposed:false), not left unknown
        assert unknown <= UNKNOWN_MAX, (counts, c.logs())
        assert definite >= not_ok * 2 // 3, (counts, c.logs())

        # (b) nothing expired is still in the way: a fresh put is answered 200 (not a 503 at its deadline)
        leader = c.wait_leader()
        started = time.monotonic()
        fresh = request(c.ports[leader], "PUT", "/kv/fresh", {"value": "f"}, headers=ids("fresh", 1),
                        timeout_s=REQUEST_TIMEOUT_MS / 1000 + 5)
        assert fresh.status == 200, (fresh, f"after {time.monotonic() - started:.2f}s", c.logs())
