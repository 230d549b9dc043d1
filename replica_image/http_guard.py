"""What aiohttp leaves to the application at the connection level: JSON for every error, and deadlines.

- Every error the replica sends is JSON with an ``error`` field, including the ones aiohttp answers
  before any handler runs (a malformed request line, headers or URL over the parser's limits, an
  unknown method): ``JsonErrorRunner`` swaps the plain-text body of ``RequestHandler.handle_error`` for
  JSON. No route and a wrong method get JSON 404/405 from ``add_fallbacks``.
- A client that sends part of a request and then stalls must not hold a connection and its file
  descriptor forever. aiohttp has no deadline for receiving a request's head, so the handler notes when
  the first byte arrives while no request of the connection is being handled; if no request has
  started ``HEAD_TIMEOUT_S`` after that byte, the connection is closed. An idle keep-alive connection
  that sends nothing is left to aiohttp's keep-alive timeout. The body has its own deadline
  (``read_body``, 408 after ``BODY_TIMEOUT_S``).

Only aiohttp APIs shared by 3.8 (Debian bookworm, in the image) and current releases are used; the two
private names touched (``_loop``/``_kwargs`` of ``web.Server``) are the same in both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web, web_protocol

__all__ = ["BODY_TIMEOUT_S", "HEAD_TIMEOUT_S", "BodyError", "JsonErrorRunner", "add_fallbacks", "error", "guarded",
           "read_body"]

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0
_CHECK_EVERY_S = 1.0
_MESSAGE_CHARS_MAX = 300


def error(status: int, message: str, **extra: Any) -> web.Response:
    """The one shape of every error answer: ``{"error": message, ...}``."""
    return web.json_response({"error": message, **extra}, status=status)


class BodyError(Exception):
    """The body could not be read: too large (413) or too slow (408). ``status`` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: web.Request, limit: int, *, what: str) -> bytes:
    """The whole body, at most ``limit`` bytes, received within BODY_TIMEOUT_S.

    Raises:
        BodyError: 413 past ``limit`` (checked before reading when Content-Length says so), 408 on the
            deadline, 400 when the body cannot be decoded (a bad ``Content-Encoding``).
    """
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(413, f"body of {request.content_length} bytes exceeds the limit of {limit} ({what})")

    async def read() -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.read(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"body exceeds the limit of {limit} bytes ({what})")
            chunks.append(chunk)

    try:
        if request.content.is_eof():
            # all of it arrived with the head (the common case): no deadline, no timer, one read
            data = await request.content.read()
            if len(data) > limit:
                raise BodyError(413, f"body exceeds the limit of {limit} bytes ({what})")
            return data
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await read()
    except TimeoutError:
        raise BodyError(408, f"body not received within {BODY_TIMEOUT_S:.0f} s: send the whole request") from None
    except BodyError:
        raise
    except Exception as exc:  # noqa: BLE001 - aiohttp's decompression errors have no common public base
        raise BodyError(400, f"body cannot be read ({_short(exc)}): check Content-Encoding") from None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _MESSAGE_CHARS_MAX else text[:_MESSAGE_CHARS_MAX] + "..."


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(handler: Handler) -> Handler:
    """Wrap a route's handler for the head deadline's bookkeeping (a request of the connection is being
    handled). A plain wrapper, not an aiohttp middleware: middlewares cost a chain built per request."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        proto = request.protocol
        guard = proto if isinstance(proto, _GuardedHandler) else None
        if guard is not None:
            guard.request_started()
        try:
            return await handler(request)
        finally:
            if guard is not None:
                guard.request_finished()

    return wrapped


def add_fallbacks(app: web.Application, *, wrap: Callable[[Handler], Handler], api: str) -> None:
    """After every real route: JSON 405 for a method a path does not take, JSON 404 for any other path
    (aiohttp's own are plain text). ``api`` is the hint a 404 gives."""
    for resource in list(app.router.resources()):
        if not isinstance(resource, web.Resource):
            continue
        methods = sorted({route.method for route in resource} - {"*", "HEAD"})
        if "*" in {route.method for route in resource}:
            continue

        async def not_allowed(request: web.Request, methods: list[str] = methods) -> web.StreamResponse:
            return error(405, f"{request.method[:20]} is not allowed on {_clip(request.path)}: use "
                              f"{' or '.join(methods)}", allowed=methods)

        resource.add_route("*", wrap(not_allowed))

    async def not_found(request: web.Request) -> web.StreamResponse:
        return error(404, f"no such route {request.method[:20]} {_clip(request.path)}: the API is {api}")

    app.router.add_route("*", "/{tail:.*}", wrap(not_found))


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler with JSON error pages and the head deadline (module docstring)."""

    __slots__ = ("_active", "_head_since", "_timer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._active = 0
        # when the first byte of a head arrived while no request was being handled (None: no such byte)
        self._head_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._timer = asyncio.get_running_loop().call_later(_CHECK_EVERY_S, self._check)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._active == 0 and self._head_since is None and data:
            self._head_since = time.monotonic()
        super().data_received(data)

    def request_started(self) -> None:
        self._active += 1
        self._head_since = None

    def request_finished(self) -> None:
        self._active -= 1

    def _check(self) -> None:
        self._timer = None
        since = self._head_since
        if self._active == 0 and since is not None and time.monotonic() - since > HEAD_TIMEOUT_S:
            if self.transport is not None:
                self.transport.close()
            return
        if self.transport is not None and not self.transport.is_closing():
            self._timer = asyncio.get_running_loop().call_later(_CHECK_EVERY_S, self._check)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # aiohttp's own version logs and detects a half-sent response; keep that, replace only the body
        super().handle_error(request, status, exc, message)
        if status >= 500:
            text = "internal error: the replica could not answer this request (see its log)"
        else:
            text = f"malformed HTTP request: {_short(exc) if exc is not None else (message or 'bad request')}"
        resp = error(status, text)
        resp.force_close()
        return resp


class _GuardedServer(web.Server):
    __slots__ = ()

    def __call__(self) -> web_protocol.RequestHandler:
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """``web.AppRunner`` whose connections use ``_GuardedHandler``; use it like AppRunner."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer
        return server
