"""A small in-memory replica speaking the client API (DESIGN 3), linearizable by construction.

One dict behind one asyncio loop: each request is applied atomically when its handler runs, so every
history it produces is linearizable. It also plays the failure modes the client must record honestly,
chosen per request by `script` (or by a seeded Random when `chaos` is set):

- "ok": apply and answer;
- "unavailable": 503 {"proposed": false, "leader": hint}, nothing applied;
- "lost": apply, then answer 503 {"proposed": true} (the outcome is unknown to the client);
- "dropped": 503 {"proposed": true} without applying (also unknown to the client);
- "slow": apply, then sleep past the client's timeout (the client sees a timeout);
- "bad": 400 (malformed), nothing applied (only when scripted).

A retried (client_id, request_id) is applied once and answered with the first result.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

BEHAVIOURS = ("ok", "unavailable", "lost", "dropped", "slow")  # plus "bad" (400) when scripted


@dataclass
class FakeReplica:
    """State shared by every node of the fake cluster (they are one linearizable store)."""

    slow_s: float = 1.0
    script: deque[str] = field(default_factory=deque)
    chaos: random.Random | None = None
    leader_hint: int | None = None
    data: dict[str, str] = field(default_factory=dict)
    applied: dict[tuple[str, int], tuple[int, dict[str, object]]] = field(default_factory=dict)
    requests: list[tuple[int, str, str, int]] = field(default_factory=list)  # node, op, client, req id
    writes: list[str] = field(default_factory=list)  # values applied by put/append/cas, in order

    def behaviour(self) -> str:
        if self.script:
            return self.script.popleft()
        if self.chaos is not None:
            return self.chaos.choices(BEHAVIOURS, weights=(70, 10, 7, 5, 8))[0]
        return "ok"

    def apply(self, op: str, key: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        cur = self.data.get(key)
        value = body.get("value")
        if op == "get":
            return 200, {"value": cur}
        if op == "delete":
            self.data.pop(key, None)
            return 200, {}
        if not isinstance(value, str):
            return 400, {"error": "value must be a string"}
        if op == "put":
            self.data[key] = value
        elif op == "append":
            self.data[key] = (cur or "") + value
        elif op == "cas":
            if body.get("expect") != cur:
                return 409, {"error": "precondition failed", "value": cur}
            self.data[key] = value
        self.writes.append(value)
        return 200, {}


def _app(state: FakeReplica, node: int) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        op = request.match_info.get("op") or {"GET": "get", "PUT": "put", "DELETE": "delete"}[request.method]
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        ids = (request.headers["X-Client-Id"], int(request.headers["X-Request-Id"]))
        state.requests.append((node, op, ids[0], ids[1]))
        how = state.behaviour()
        if how == "unavailable":
            return web.json_response({"error": "no leader", "leader": state.leader_hint,
                                      "proposed": False}, status=503)
        if how == "bad":
            return web.json_response({"error": "malformed request"}, status=400)
        if how == "dropped":
            return web.json_response({"error": "timeout", "proposed": True}, status=503)
        if ids not in state.applied:
            state.applied[ids] = state.apply(op, key, body)
        status, answer = state.applied[ids]
        if how == "lost":
            return web.json_response({"error": "timeout", "proposed": True}, status=503)
        if how == "slow":
            await asyncio.sleep(state.slow_s)
        return web.json_response(answer, status=status)

    app = web.Application()
    app.router.add_route("*", "/kv/{key}", handle)
    app.router.add_post("/kv/{key}/{op}", handle)
    return app


class FakeCluster:
    """`size` HTTP endpoints on 127.0.0.1 (free ports) sharing one FakeReplica."""

    def __init__(self, state: FakeReplica, size: int = 3) -> None:
        self.state = state
        self.size = size
        self.urls: dict[int, str] = {}
        self._runners: list[web.AppRunner] = []

    async def __aenter__(self) -> FakeCluster:
        for node in range(1, self.size + 1):
            runner = web.AppRunner(_app(self.state, node), access_log=None)
            await runner.setup()
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            site = web.SockSite(runner, sock)
            await site.start()
            self.urls[node] = f"http://127.0.0.1:{sock.getsockname()[1]}"
            self._runners.append(runner)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for runner in self._runners:
            await runner.cleanup()
