"""Outgoing peer messages: one aiohttp ClientSession, one bounded queue and one sender task per peer.

``send()`` never blocks and never raises: the core loop must not wait on a slow or dead peer. Each
peer's queue holds at most ``queue_max`` messages; on overflow the OLDEST queued message is dropped
(newer messages supersede older ones, and the core retransmits what matters on ticks).

The sender coalesces: it takes everything queued for the peer and sends it in one HTTP request,
``POST /paxos/<kind>`` for a single message (the contract's form) or ``POST /paxos/batch`` for several
(``{"src", "dst", "msgs": [{"kind", "msg"}, ...]}``). One request is in flight per peer; messages that
arrive meanwhile form the next batch, so a slow link gets fewer, larger requests. A failed request is
dropped (counted), and the sender backs off briefly so a dead peer costs no CPU.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from replica_image.metrics import Counter
from replica_image.peer_auth import AUTH_HEADER, sign

__all__ = ["Outgoing", "PeerTransport"]

_log = logging.getLogger("replica.transport")
# Cap on messages per coalesced request, so one request body stays small enough to parse quickly.
BATCH_MESSAGES_MAX = 256
BACKOFF_S_MIN = 0.02
BACKOFF_S_MAX = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One encoded message for peer ``dst``: its wire kind and JSON-able body."""

    dst: int
    kind: str
    msg: dict[str, Any]


class _Peer:
    def __init__(self, url: str, queue_max: int) -> None:
        self.url = url
        self.queue: collections.deque[Outgoing] = collections.deque(maxlen=queue_max)
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class PeerTransport:
    """Sends encoded messages to peers over HTTP; see the module docstring for guarantees."""

    def __init__(
        self,
        *,
        node_id: int,
        peers: Mapping[int, str],
        secret: bytes,
        session: aiohttp.ClientSession,
        timeout_s: float,
        queue_max: int,
        sent: Counter,
        dropped: Counter,
    ) -> None:
        self._node_id = node_id
        self._secret = secret
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._peers = {i: _Peer(url, queue_max) for i, url in peers.items() if i != node_id}
        self._sent = sent
        self._dropped = dropped

    def start(self) -> None:
        """Start one sender task per peer (call from the running event loop)."""
        for ident, peer in self._peers.items():
            peer.task = asyncio.get_running_loop().create_task(self._sender(ident, peer))

    async def close(self) -> None:
        """Stop the senders; queued messages are discarded."""
        tasks = [p.task for p in self._peers.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def send(self, messages: Iterable[Outgoing]) -> None:
        """Queue messages for their peers; never blocks. Unknown destinations are dropped."""
        for out in messages:
            peer = self._peers.get(out.dst)
            if peer is None:
                self._dropped.inc(str(out.dst), "unknown-peer")
                continue
            if len(peer.queue) == peer.queue.maxlen:
                self._dropped.inc(str(out.dst), "overflow")
            peer.queue.append(out)
            peer.ready.set()

    async def _sender(self, ident: int, peer: _Peer) -> None:
        backoff = BACKOFF_S_MIN
        while True:
            await peer.ready.wait()
            peer.ready.clear()
            while peer.queue:
                batch = [peer.queue.popleft() for _ in range(min(len(peer.queue), BATCH_MESSAGES_MAX))]
                if await self._post(ident, peer.url, batch):
                    self._sent.inc(str(ident), amount=len(batch))
                    backoff = BACKOFF_S_MIN
                else:
                    self._dropped.inc(str(ident), "send-failed", amount=len(batch))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_S_MAX)

    async def _post(self, ident: int, url: str, batch: list[Outgoing]) -> bool:
        if len(batch) == 1:
            path = f"/paxos/{batch[0].kind}"
            body: dict[str, Any] = {"src": self._node_id, "dst": ident, "msg": batch[0].msg}
        else:
            path = "/paxos/batch"
            msgs = [{"kind": o.kind, "msg": o.msg} for o in batch]
            body = {"src": self._node_id, "dst": ident, "msgs": msgs}
        data = json.dumps(body, separators=(",", ":")).encode()
        tag = sign(self._secret, method="POST", path=path, body=data)
        try:
            async with self._session.post(
                url + path,
                data=data,
                headers={"Content-Type": "application/json", AUTH_HEADER: tag},
                timeout=self._timeout,
            ) as resp:
                await resp.read()
                if resp.status >= 400:
                    _log.warning("peer %d rejected %s: HTTP %d", ident, path, resp.status)
                return resp.status < 400
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            _log.debug("peer %d unreachable for %s: %r", ident, path, exc)
            return False
