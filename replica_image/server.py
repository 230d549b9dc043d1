"""The aiohttp replica: a client listener and a peer listener around one ``Driver``.

Two applications on two ports, so that what a client can reach is only what a client may do:

- client (``LISTEN``, published through the client proxy): ``GET|PUT|DELETE /kv/{key}``,
  ``POST /kv/{key}/append``, ``POST /kv/{key}/cas``, and ``GET /status``, ``/health``, ``/metrics``;
- peer (``PEER_LISTEN``, reached only by replicas through their link proxies, never published):
  ``POST /paxos/{kind}`` (one message), ``POST /paxos/batch`` (several, from the coalescing sender),
  and the client routes for requests a follower forwards to the leader. Every request there must carry
  the HMAC tag of the cluster secret (replica_image.peer_auth); one without it is answered 401, counted
  in ``peer_requests_unauthenticated_total`` and never read further. 204 = transport acknowledgement,
  400 = malformed, nothing delivered.

Only aiohttp APIs present in 3.8 are used (Debian bookworm's aiohttp runs in the image). Bad input of
any kind is a 4xx with ``{"error": ...}`` naming the problem; a handler never lets an exception out for
bad input (500 is reserved for bugs). Connection-level guards (JSON for aiohttp's own errors, deadlines
for slow senders) are in replica_image.http_guard. Threat model: docs/replica.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import yarl
from aiohttp import web

from replica_image.client_api import BadRequest, ClientRequest, parse_request
from replica_image.codec import decode_message
from replica_image.config import Config
from replica_image.errors import InvalidMessage
from replica_image.errors import brief as _brief
from replica_image.host import Applied, Driver, Outcome, Rejected
from replica_image.http_guard import BodyError, add_fallbacks, error, guarded, read_body
from replica_image.loop import check_peer_message
from replica_image.metrics import ReplicaMetrics
from replica_image.paxos import Command, Envelope, Message
from replica_image.peer_auth import AUTH_HEADER, sign, verify
from replica_image.results import render_result

__all__ = ["ReplicaServer"]

_log = logging.getLogger("replica.server")
FORWARDED_HEADER = "X-Paxos-Forwarded-By"
PEER_BATCH_MAX = 4096
# aiohttp >= 3.9 wants typed request keys; 3.8 (the image's) has none and takes a string
_BODY_KEY: Any = web.RequestKey("paxos.body", bytes) if hasattr(web, "RequestKey") else "paxos.body"
CLIENT_API = "GET|PUT|DELETE /kv/KEY, POST /kv/KEY/append|cas, GET /status|/health|/metrics"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(raw: bytes, what: str) -> object:
    """Parse JSON from a hostile sender: every way it can fail is an InvalidMessage naming ``what``."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidMessage(f"{what} is not UTF-8: send UTF-8 JSON") from None
    except RecursionError:
        raise InvalidMessage(f"{what} nests too deeply: send a flat JSON object") from None
    except ValueError as exc:  # JSONDecodeError, and integers beyond Python's 4,300-digit conversion limit
        text = str(exc)
        raise InvalidMessage(f"{what} is not valid JSON ({text[:200]})") from None


class ReplicaServer:
    """HTTP handlers bound to one Driver. Create, then ``client_app()`` and ``peer_app()`` for aiohttp."""

    def __init__(self, *, cfg: Config, driver: Driver, metrics: ReplicaMetrics, session: aiohttp.ClientSession) -> None:
        self._cfg = cfg
        self._driver = driver
        self._metrics = metrics
        self._session = session
        self._timeout_s = cfg.request_timeout_ms / 1000

    def _add_client_routes(self, app: web.Application, wrap: Callable[[Handler], Handler]) -> None:
        kv = "/kv/{key}"
        app.router.add_get(kv, wrap(self._op("get")))
        app.router.add_put(kv, wrap(self._op("put")))
        app.router.add_delete(kv, wrap(self._op("delete")))
        app.router.add_route("*", kv, wrap(self._bad_method))
        app.router.add_post(kv + "/{op}", wrap(self._post_op))
        app.router.add_route("*", kv + "/{op}", wrap(self._bad_method))

    def client_app(self) -> web.Application:
        """The client listener's application (LISTEN)."""
        app = web.Application(client_max_size=self._cfg.client_max_bytes)
        self._add_client_routes(app, guarded)
        app.router.add_get("/status", guarded(self._status))
        app.router.add_get("/health", guarded(self._health))
        app.router.add_get("/metrics", guarded(self._metrics_text))
        add_fallbacks(app, wrap=guarded, api=CLIENT_API)
        return app

    def peer_app(self) -> web.Application:
        """The peer listener's application (PEER_LISTEN): Paxos messages and forwarded client requests,
        every route behind the tag check."""
        app = web.Application(client_max_size=self._cfg.peer_max_bytes)

        def wrap(handler: Handler) -> Handler:
            return guarded(self._authenticated(handler))

        app.router.add_post("/paxos/batch", wrap(self._peer_batch))
        app.router.add_post("/paxos/{kind}", wrap(self._peer_one))
        self._add_client_routes(app, wrap)
        add_fallbacks(app, wrap=wrap, api="POST /paxos/KIND, POST /paxos/batch, and the client routes")
        return app

    # ---- peer authentication ----

    def _authenticated(self, handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            return await self._auth(request, handler)

        return check

    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        tag = request.headers.get(AUTH_HEADER)
        if not tag:
            # refused before reading a byte of the body: an unauthenticated sender costs nothing
            return self._unauthenticated("missing", request)
        try:
            body = await read_body(request, self._cfg.peer_max_bytes, what="PEER_MAX_BYTES")
        except BodyError as exc:
            return error(exc.status, str(exc))
        why = verify(self._cfg.peer_secret, tag, method=request.method, path=request.raw_path, body=body,
                     client_id=request.headers.get("X-Client-Id", ""),
                     request_id=request.headers.get("X-Request-Id", ""))
        if why is not None:
            return self._unauthenticated(why, request)
        request[_BODY_KEY] = body
        return await handler(request)

    def _unauthenticated(self, why: str, request: web.Request) -> web.Response:
        self._metrics.peer_unauthenticated.inc(why)
        return error(401, f"peer request without a valid {AUTH_HEADER} tag ({why}): the peer API is for the "
                           "cluster's replicas only, which sign with the cluster's PEER_SECRET")

    # ---- client API ----

    def _op(self, op: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._client(request, op)

        return handler

    async def _bad_method(self, request: web.Request) -> web.StreamResponse:
        return self._count("unknown", error(
            400, f"{request.method[:20]} {request.path[:200]} is not an operation: use GET, PUT or DELETE /kv/KEY, "
                 f"or POST /kv/KEY/append or /kv/KEY/cas"))

    async def _post_op(self, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        if op not in ("append", "cas"):
            return self._count("unknown", error(
                400, f"unknown operation {op[:100]!r}: POST /kv/KEY/append or /cas (a / in KEY is sent as %2F)"))
        return await self._client(request, op)

    async def _client(self, request: web.Request, op: str) -> web.StreamResponse:
        start = time.monotonic()
        try:
            body = request.get(_BODY_KEY)
            if body is None:
                body = await read_body(request, self._cfg.client_max_bytes, what="CLIENT_MAX_BYTES")
            creq = parse_request(op=op, key=request.match_info["key"], headers=request.headers,
                                 body=body, node_id=self._cfg.node_id)
            cmd = Command(client_id=creq.client_id, request_id=creq.request_id, op=creq.op,
                          key=creq.key, value=creq.value, expect=creq.expect)
        except BodyError as exc:
            return self._count(op, error(exc.status, str(exc)))
        except (BadRequest, InvalidMessage) as exc:
            return self._count(op, error(400, str(exc)))
        local = self._driver.loop.local_read(cmd)  # bug local-reads (replica_image.loop); else None
        if local is not None:
            return self._count(op, web.json_response(render_result(cmd, local)[1]))
        response = await self._execute(request, creq, cmd, deadline=start + self._timeout_s)
        self._metrics.request_seconds.observe(time.monotonic() - start)
        return self._count(op, response)

    def _count(self, op: str, response: web.Response) -> web.Response:
        self._metrics.requests.inc(op, str(response.status))
        return response

    async def _execute(self, request: web.Request, creq: ClientRequest, cmd: Command, *,
                       deadline: float) -> web.Response:
        fut = self._driver.submit(cmd)
        # one timer instead of wait_for(shield(...)): cheaper per request; the future stays the driver's
        timer = asyncio.get_running_loop().call_at(deadline, self._expire, cmd, fut)
        try:
            outcome = await fut
        finally:
            timer.cancel()
        if outcome is None:
            return error(503, "no quorum before the deadline: the command may still be applied",
                          leader=self._driver.core.leader_id, proposed=True)
        if isinstance(outcome, Applied):
            status, payload = render_result(cmd, outcome.result)
            return web.json_response(payload, status=status)
        return await self._not_proposed(request, creq, outcome, deadline=deadline)

    def _expire(self, cmd: Command, fut: asyncio.Future[Outcome | None]) -> None:
        if not fut.done():
            self._driver.forget(cmd, fut)
            fut.set_result(None)

    async def _not_proposed(self, request: web.Request, creq: ClientRequest, outcome: Rejected, *,
                            deadline: float) -> web.Response:
        leader = outcome.leader
        if outcome.reason != "not-leader":
            return error(503, f"not proposed ({outcome.reason}): the leader is overloaded or its queue is full, retry later",
                          leader=leader, proposed=False)
        if leader is None or leader == self._cfg.node_id:
            return error(503, "not proposed: no leader known (election in progress), retry later",
                          leader=None, proposed=False)
        if FORWARDED_HEADER in request.headers:
            # one hop only: a stale leader hint must not bounce a request around the cluster
            return error(503, "not the leader (request was already forwarded once)", leader=leader, proposed=False)
        return await self._forward(request, creq, leader, deadline=deadline)

    async def _forward(self, request: web.Request, creq: ClientRequest, leader: int, *,
                       deadline: float) -> web.Response:
        fields: dict[str, Any] = {}
        if creq.op in ("put", "append", "cas"):
            fields["value"] = creq.value
        if creq.op == "cas":
            fields["expect"] = creq.expect
        body = json.dumps(fields).encode()
        # The raw (still percent-encoded) path: the key the client sent is the key the leader stores,
        # whichever replica it was sent to (a decoded %2F, %3F or %25 would change it).
        path = request.raw_path
        request_id = str(creq.request_id)
        tag = sign(self._cfg.peer_secret, method=request.method, path=path, body=body,
                   client_id=creq.client_id, request_id=request_id)
        headers = {"X-Client-Id": creq.client_id, "X-Request-Id": request_id, AUTH_HEADER: tag,
                   FORWARDED_HEADER: str(self._cfg.node_id), "Content-Type": "application/json"}
        url = yarl.URL(self._cfg.peers[leader] + path, encoded=True)
        timeout = aiohttp.ClientTimeout(total=max(0.01, deadline - time.monotonic()))
        try:
            async with self._session.request(request.method, url, data=body, headers=headers,
                                             timeout=timeout) as resp:
                payload = await resp.read()
                self._metrics.forwards.inc(str(resp.status))
                return web.Response(body=payload, status=resp.status, content_type="application/json")
        except aiohttp.ClientConnectorError as exc:
            self._metrics.forwards.inc("unreachable")
            return error(503, f"leader {leader} unreachable: {exc}", leader=leader, proposed=False)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._metrics.forwards.inc("failed")
            return error(503, f"forward to leader {leader} failed: {exc!r}", leader=leader, proposed=True)

    # ---- peer API ----

    def _peer_envelope(self, request: web.Request) -> dict[str, Any]:
        body = _json(request[_BODY_KEY], "peer body")
        if not isinstance(body, dict):
            raise InvalidMessage("peer body must be a JSON object {src, dst, msg}")
        src, dst = body.get("src"), body.get("dst")
        if type(src) is not int or src == self._cfg.node_id or src not in self._cfg.peers:
            raise InvalidMessage(f"src must be the id of another node {sorted(self._cfg.peers)}, got {_brief(src)}")
        if dst != self._cfg.node_id:
            raise InvalidMessage(f"dst must be this node's id {self._cfg.node_id}, got {_brief(dst)}")
        return body

    def _decode(self, src: int, kind: object, msg: object) -> Envelope:
        if not isinstance(kind, str) or not isinstance(msg, dict):
            raise InvalidMessage(f"each message needs a string kind and an object msg, got {_brief(kind)}")
        decoded = decode_message(kind, msg)
        self._check_sane(src, decoded)
        return Envelope(src=src, dst=self._cfg.node_id, msg=decoded)

    def _check_sane(self, src: int, msg: Message) -> None:
        """What the codec cannot know: ballots name a node of this cluster, a snapshot restores
        (replica_image.loop.check_peer_message, the simulator's gate too)."""
        check_peer_message(msg, self._cfg.peers)

    async def _peer_one(self, request: web.Request) -> web.Response:
        try:
            body = self._peer_envelope(request)
            envs = [self._decode(body["src"], request.match_info["kind"], body.get("msg"))]
        except InvalidMessage as exc:
            self._metrics.peer_rejected.inc()
            return error(400, str(exc))
        return self._deliver(envs)

    async def _peer_batch(self, request: web.Request) -> web.Response:
        try:
            body = self._peer_envelope(request)
            msgs = body.get("msgs")
            if not isinstance(msgs, list) or not 1 <= len(msgs) <= PEER_BATCH_MAX:
                raise InvalidMessage(f"msgs must be a list of 1..{PEER_BATCH_MAX} {{kind, msg}} objects")
            envs = [self._decode(body["src"], m.get("kind") if isinstance(m, dict) else None,
                                 m.get("msg") if isinstance(m, dict) else None) for m in msgs]
        except InvalidMessage as exc:
            self._metrics.peer_rejected.inc()
            return error(400, str(exc))
        return self._deliver(envs)

    def _deliver(self, envs: list[Envelope]) -> web.Response:
        if not self._driver.deliver(envs):
            return error(503, "inbox full, message dropped (the sender retransmits)")
        for env in envs:
            self._metrics.peer_received.inc(env.msg.KIND)
        return web.Response(status=204)

    # ---- operations ----

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status())

    def status(self) -> dict[str, Any]:
        """The /status document (also logged on shutdown)."""
        d = self._driver
        return {
            "id": self._cfg.node_id,
            **d.loop.status(),
            "fsync": "always" if self._cfg.fsync else "never",
            "bugs": sorted(self._cfg.bugs),
            "storage": {"records": d.storage.record_count, "bytes": d.storage.size_bytes,
                        "fsyncs": d.storage.fsyncs},
        }

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "id": self._cfg.node_id})

    async def _metrics_text(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.registry.render().encode(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

