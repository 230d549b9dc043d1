"""The Maelstrom bridge: runs one unmodified Maelstrom node program in its container (PID 1 of it).

What it does, following Maelstrom's protocol (jepsen-io/maelstrom doc/protocol.md):

- starts the node program (`NODE_PROGRAM`, cwd `DATA_DIR`, which is the node's persistent volume) with
  pipes on stdin, stdout and stderr; the node's stderr goes to the container log line by line;
- sends `init` (`node_id` nN, `node_ids` n1..nN, msg_id 1, from client `c0`) and waits for `init_ok`
  with `in_reply_to` 1. A node that exits, prints a line that is not a JSON message, or stays silent
  for `INIT_TIMEOUT_S` stops the bridge with exit code 2 and one line naming the node, the problem and
  the tail of its stderr (the harness shows it as the node's log tail);
- after `init_ok`: every message the node prints for another node `nj` goes out over TCP to
  `PEER_ROUTES[j]` (the Toxiproxy proxy `ni-nj`, so every fault of the harness applies), one JSON
  message per line; every message that arrives on `PEER_LISTEN` goes to the node's stdin;
- client requests come over HTTP on `CLIENT_LISTEN` (behind proxy `client-ni`): `POST /rpc` with a
  request body such as `{"type": "read", "key": 3}`; the bridge gives it a `msg_id`, sends it from a
  client id `cK` and answers 200 with the node's reply body (`read_ok`, `error`, ...), 504 if none came
  within the request's timeout (the op may still happen), 503 `delivered: false` if the node was not
  running (it certainly did not happen), 400 for a malformed request. `GET /health` is 200 once
  `init_ok` has come.

Peer connections are authenticated: the first line a sender writes is a hello naming both ends, a time
and an HMAC-SHA256 tag under `PEER_SECRET` (the cluster's secret, made fresh per cluster by the
harness); a receiver drops a connection whose hello is missing, forged or older than five minutes, and
every message whose `src` or `dest` is not that link's. Maelstrom's network can drop messages; so does
this one: a message that cannot be sent within `MAX_AGE_S` (a partition) is dropped, as are messages
past a bounded queue. A message for a Maelstrom service (`lin-kv`, `seq-kv`, ...) is answered with
error 10 (not supported): the harness has no services.

Runs on the image's Debian python3 and python3-aiohttp (3.8) as well as current ones; standard library
otherwise. Nothing of the project is imported: this file is copied into the image as it is.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MAX_LINE = 1 << 20  # one message, either way
QUEUE_MAX = 4096  # messages waiting for one peer link
MAX_AGE_S = 2.0  # a peer message not sent by then is dropped (a partition drops, like Maelstrom's)
CONNECT_TIMEOUT_S = 2.0
DRAIN_TIMEOUT_S = 3.0
HELLO_TIMEOUT_S = 2.0
HELLO_MAX_SKEW_S = 300.0
RPC_TIMEOUT_MAX_S = 60.0
STDERR_TAIL = 8
CLIENTS_MAX = 65536
_NODE = re.compile(r"^n([1-9][0-9]?)$")
_CLIENT = re.compile(r"^c[0-9]{1,9}$")


class Fatal(Exception):
    """The node cannot be run as a Maelstrom node; the message says why and names the node."""


def say(text: str) -> None:
    sys.stderr.write(f"[bridge] {text}\n")
    sys.stderr.flush()


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    index: int
    count: int
    routes: dict[int, tuple[str, int]]
    client_listen: tuple[str, int]
    peer_listen: tuple[str, int]
    program: str
    data_dir: str
    secret: bytes
    init_timeout_s: float
    rpc_timeout_s: float

    @property
    def me(self) -> str:
        return f"n{self.index}"


def _hostport(name: str, text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Fatal(f"{name}={text!r} is not host:port, e.g. 0.0.0.0:7000")
    return host, int(port)


def _number(name: str, default: str, low: float, high: float) -> float:
    text = os.environ.get(name, default)
    try:
        value = float(text)
    except ValueError:
        raise Fatal(f"{name}={text[:40]!r} is not a number, e.g. {default}") from None
    if not low <= value <= high:
        raise Fatal(f"{name}={text[:40]!r} is out of range: use {low:g}..{high:g}")
    return value


def load_config() -> Config:
    """The bridge's settings from the environment; Fatal naming the variable when one is wrong."""
    env = os.environ
    index = int(_number("NODE_INDEX", "0", 1, 99))
    count = int(_number("NODE_COUNT", "0", 1, 99))
    if index > count:
        raise Fatal(f"NODE_INDEX={index} is larger than NODE_COUNT={count}")
    routes: dict[int, tuple[str, int]] = {}
    for item in filter(None, env.get("PEER_ROUTES", "").split(",")):
        j, _, where = item.partition("=")
        if not j.isdigit() or not 1 <= int(j) <= count or int(j) == index:
            raise Fatal(f"PEER_ROUTES: {item!r} does not name another node 1..{count}, e.g. 2=toxiproxy:9012")
        routes[int(j)] = _hostport("PEER_ROUTES", where)
    if sorted(routes) != [j for j in range(1, count + 1) if j != index]:
        raise Fatal(f"PEER_ROUTES must give a route to every other node of {count}, got {sorted(routes)}")
    secret = env.get("PEER_SECRET", "")
    if len(secret) < 16:
        raise Fatal("PEER_SECRET is missing or shorter than 16 characters (the harness makes one per cluster)")
    program = env.get("NODE_PROGRAM", "")
    if not program:
        raise Fatal("NODE_PROGRAM is not set: the path of the node program inside the container")
    return Config(index=index, count=count, routes=routes,
                  client_listen=_hostport("CLIENT_LISTEN", env.get("CLIENT_LISTEN", "0.0.0.0:7000")),
                  peer_listen=_hostport("PEER_LISTEN", env.get("PEER_LISTEN", "0.0.0.0:7100")),
                  program=program, data_dir=env.get("DATA_DIR", "/data"), secret=secret.encode(),
                  init_timeout_s=_number("INIT_TIMEOUT_S", "10", 0.1, 600),
                  rpc_timeout_s=_number("RPC_TIMEOUT_S", "10", 0.1, RPC_TIMEOUT_MAX_S))


def hello_tag(secret: bytes, src: str, dest: str, ts: int) -> str:
    return hmac.new(secret, f"{src}>{dest}@{ts}".encode(), hashlib.sha256).hexdigest()


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def parse_message(line: bytes) -> dict[str, Any] | str:
    """A Maelstrom message `{src, dest, body}` from one line, or why it is not one."""
    try:
        msg = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "not JSON"
    if not isinstance(msg, dict):
        return "not a JSON object"
    if not isinstance(msg.get("src"), str) or not isinstance(msg.get("dest"), str):
        return "no string src and dest"
    if not isinstance(msg.get("body"), dict) or not isinstance(msg["body"].get("type"), str):
        return "no body object with a string type"
    return msg


def _show(line: bytes) -> str:
    text = line.decode("utf-8", "replace").rstrip("\n")
    return repr(text[:120] + ("..." if len(text) > 120 else ""))


class Link:
    """Node i's way to node j: one TCP connection through proxy ni-nj, re-opened when it breaks."""

    def __init__(self, cfg: Config, j: int) -> None:
        self.cfg, self.j = cfg, j
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=QUEUE_MAX)
        self.ready = asyncio.Event()
        self.dropped = 0
        self.connects = 0
        self.last_error = ""

    def send(self, line: bytes) -> None:
        if len(self.queue) == QUEUE_MAX:
            self.dropped += 1
        self.queue.append((time.monotonic(), line))
        self.ready.set()

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours: say so loudly rather than lose the link in silence
            say(f"{self.cfg.me}: link to n{self.j} stopped by an internal error: {exc!r}")
            raise

    async def _run(self) -> None:
        host, port = self.cfg.routes[self.j]
        pause_s = 0.05
        while True:
            writer: asyncio.StreamWriter | None = None
            closed: asyncio.Task[bytes] | None = None
            try:
                reader, out = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
                writer = out
                await self._hello(reader, out)
                self.connects += 1
                pause_s = 0.05
                # The receiver writes nothing after its "ok": anything read means the link was closed.
                closed = asyncio.create_task(reader.read(1))
                while True:
                    ready = asyncio.create_task(self.ready.wait())
                    done, _ = await asyncio.wait({ready, closed}, return_when=asyncio.FIRST_COMPLETED)
                    if closed in done:
                        ready.cancel()
                        raise ConnectionError("closed by the other end")
                    self.ready.clear()
                    while self.queue:
                        queued_at, line = self.queue.popleft()
                        if time.monotonic() - queued_at > MAX_AGE_S:
                            self.dropped += 1
                            continue
                        out.write(line)
                    await asyncio.wait_for(out.drain(), DRAIN_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:120]
                self._expire()
            finally:
                if closed is not None:
                    closed.cancel()
                if writer is not None:
                    writer.close()
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 0.5)

    async def _hello(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Say who we are, and wait for the peer's "ok": only then is the whole path known to carry data
        (through Toxiproxy, a connection is accepted even when the peer behind it is down or cut off)."""
        ts = int(time.time())
        me, peer = self.cfg.me, f"n{self.j}"
        writer.write(encode({"hello": me, "to": peer, "ts": ts, "tag": hello_tag(self.cfg.secret, me, peer, ts)}))
        await asyncio.wait_for(writer.drain(), DRAIN_TIMEOUT_S)
        answer = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
        if answer != b"ok\n":
            raise ConnectionError(f"n{self.j} did not accept the hello: {_show(answer)}")

    def _expire(self) -> None:
        now = time.monotonic()
        while self.queue and now - self.queue[0][0] > MAX_AGE_S:
            self.queue.popleft()
            self.dropped += 1


class Bridge:
    """One node program and its links; see the module docstring."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.links = {j: Link(cfg, j) for j in cfg.routes}
        self.pending: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        self.msg_ids = itertools.count(2)  # 1 is init's
        self.clients: dict[str, str] = {}
        self.initialized = False
        self.init_ok: asyncio.Future[None] | None = None
        self.exited: asyncio.Future[int] | None = None
        self.noise = 0  # lines after init that were not messages (logged, then counted)

    # -- the node program ----------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.cfg
        try:
            self.proc = await asyncio.create_subprocess_exec(
                cfg.program, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=cfg.data_dir, limit=MAX_LINE)
        except FileNotFoundError:
            raise Fatal(f"{cfg.me}: cannot start the node program {cfg.program}: it does not exist in the "
                        "container, or its #! interpreter is not installed in the image (python3, ruby, node, "
                        "sh and bash are)") from None
        except PermissionError:
            raise Fatal(f"{cfg.me}: cannot start the node program {cfg.program}: permission denied "
                        "(make it executable: chmod +x)") from None
        except OSError as exc:
            raise Fatal(f"{cfg.me}: cannot start the node program {cfg.program}: {exc.strerror} (a script "
                        "needs a #! line; a binary must be built for Linux on this machine's CPU)") from None
        loop = asyncio.get_running_loop()
        self.init_ok = loop.create_future()
        self.exited = loop.create_future()
        asyncio.create_task(self._pump_stderr())
        asyncio.create_task(self._pump_stdout())

    def stderr_summary(self) -> str:
        return " | ".join(self.stderr_tail) or "(nothing on stderr)"

    async def _pump_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            try:
                line = await self.proc.stderr.readline()
            except ValueError:  # a line over MAX_LINE: show its start
                line = b"(a stderr line too long to show)\n"
            if not line:
                return
            sys.stderr.buffer.write(line if line.endswith(b"\n") else line + b"\n")
            sys.stderr.flush()
            self.stderr_tail.append(line.decode("utf-8", "replace").strip()[:200])

    async def _pump_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None and self.exited is not None
        while True:
            try:
                line = await self.proc.stdout.readline()
            except ValueError:
                # asyncio has already discarded the over-long line; the next one is read as usual.
                self._fail_init(f"printed a line longer than {MAX_LINE} bytes on stdout")
                self._noise(b"(a line too long)")
                continue
            if not line:
                break
            if line.strip():
                self._from_node(line)
        code = await self.proc.wait()
        if not self.exited.done():
            self.exited.set_result(code)

    def _fail_init(self, why: str) -> None:
        if self.init_ok is not None and not self.init_ok.done():
            self.init_ok.set_exception(Fatal(f"{self.cfg.me}: the node {why} before answering init"))

    def _noise(self, line: bytes) -> None:
        self.noise += 1
        if self.noise <= 20 or self.noise % 1000 == 0:
            say(f"{self.cfg.me}: the node printed a line that is not a Maelstrom message (dropped, "
                f"{self.noise} so far): {_show(line)}")

    def _from_node(self, line: bytes) -> None:
        msg = parse_message(line)
        if isinstance(msg, str):
            self._fail_init(f"printed a line that is not a Maelstrom message ({msg}) on stdout: {_show(line)}")
            self._noise(line)
            return
        dest, body = msg["dest"], msg["body"]
        if not self.initialized:
            if body.get("type") == "init_ok" and body.get("in_reply_to") == 1 and self.init_ok is not None:
                if not self.init_ok.done():
                    self.init_ok.set_result(None)
            else:
                say(f"{self.cfg.me}: before init_ok the node sent {_show(line)} (dropped)")
            return
        m = _NODE.match(dest)
        if m and int(m[1]) in self.links:
            self.links[int(m[1])].send(encode(msg))
        elif dest == self.cfg.me:
            self.to_node(msg)
        elif _CLIENT.match(dest):
            reply_to = body.get("in_reply_to")
            fut = self.pending.get((dest, reply_to)) if isinstance(reply_to, int) else None
            if fut is not None and not fut.done():
                fut.set_result(body)
        elif isinstance(body.get("msg_id"), int):
            # A Maelstrom service (lin-kv, seq-kv, lin-tso, ...) or a node that does not exist.
            self.to_node({"src": dest, "dest": self.cfg.me, "body": {
                "type": "error", "in_reply_to": body["msg_id"], "code": 10 if not m else 1,
                "text": f"no such node {dest}" if m else f"paxos-chaos has no Maelstrom service {dest!r}"}})

    def to_node(self, msg: dict[str, Any]) -> bool:
        """Write one message to the node's stdin; False if the node is not running."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.returncode is not None or proc.stdin.is_closing():
            return False
        try:
            proc.stdin.write(encode(msg))
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def initialize(self) -> None:
        assert self.init_ok is not None and self.exited is not None
        ids = [f"n{j}" for j in range(1, self.cfg.count + 1)]
        self.to_node({"src": "c0", "dest": self.cfg.me,
                      "body": {"type": "init", "msg_id": 1, "node_id": self.cfg.me, "node_ids": ids}})
        either: set[asyncio.Future[Any]] = {self.init_ok, self.exited}
        done, _ = await asyncio.wait(either, timeout=self.cfg.init_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if self.init_ok in done:
            self.init_ok.result()  # raises Fatal for a bad line
            self.initialized = True
            return
        if self.exited in done:
            await asyncio.sleep(0.2)  # let the stderr pump catch the last lines
            raise Fatal(f"{self.cfg.me}: the node exited with code {self.exited.result()} before answering init; "
                        f"its stderr: {self.stderr_summary()}")
        raise Fatal(f"{self.cfg.me}: the node did not answer init with init_ok (in_reply_to 1) within "
                    f"{self.cfg.init_timeout_s:g} s; its stderr: {self.stderr_summary()}")

    # -- peers ---------------------------------------------------------------------------------------
    async def serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            src = await self._hello(reader)
            if src is None:
                return
            writer.write(b"ok\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                msg = parse_message(line)
                if isinstance(msg, str) or msg["src"] != src or msg["dest"] != self.cfg.me:
                    say(f"{self.cfg.me}: dropped a message from {src} that is not a message from {src} to "
                        f"{self.cfg.me}: {_show(line)}")
                    continue
                self.to_node(msg)
        except (OSError, asyncio.TimeoutError, ValueError, ConnectionError):
            return
        finally:
            writer.close()

    async def _hello(self, reader: asyncio.StreamReader) -> str | None:
        line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT_S)
        try:
            hello = json.loads(line)
            src, dest, ts, tag = hello["hello"], hello["to"], hello["ts"], hello["tag"]
            ok = (isinstance(src, str) and _NODE.match(src) is not None and int(src[1:]) in self.links
                  and dest == self.cfg.me and isinstance(ts, int) and isinstance(tag, str)
                  and abs(time.time() - ts) <= HELLO_MAX_SKEW_S
                  and hmac.compare_digest(tag, hello_tag(self.cfg.secret, src, dest, ts)))
        except (ValueError, KeyError, TypeError, RecursionError):
            ok = False
        if not ok:
            if line:  # an empty line: the connection closed before its hello (a partition), nothing forged
                say(f"{self.cfg.me}: refused a peer connection without a valid hello: {_show(line)}")
            return None
        return str(src)

    # -- clients -------------------------------------------------------------------------------------
    async def rpc(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _error(400, "the request body is not JSON: send a Maelstrom body, e.g. {\"type\": \"read\", \"key\": 1}")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
            return _error(400, "the request body must be a JSON object with a string type, e.g. {\"type\": \"read\"}")
        timeout_s = self.cfg.rpc_timeout_s
        with contextlib.suppress(ValueError):
            timeout_s = min(max(float(request.headers.get("X-Timeout-Ms", "")) / 1000, 0.01), RPC_TIMEOUT_MAX_S)
        client = self._client(request.headers.get("X-Client-Id", ""))
        msg_id = next(self.msg_ids)
        body = {**body, "msg_id": msg_id}
        body.pop("in_reply_to", None)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[(client, msg_id)] = fut
        try:
            if not self.to_node({"src": client, "dest": self.cfg.me, "body": body}):
                return _error(503, f"{self.cfg.me}: the node is not running", delivered=False)
            reply = await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            return _error(504, f"{self.cfg.me}: no reply within {timeout_s:g} s", delivered=True)
        finally:
            self.pending.pop((client, msg_id), None)
        return web.json_response(reply)

    def _client(self, client_id: str) -> str:
        if len(self.clients) >= CLIENTS_MAX:
            self.clients.clear()
        return self.clients.setdefault(client_id[:200], f"c{len(self.clients) + 1}")

    async def health(self, request: web.Request) -> web.Response:
        if not self.initialized or self.proc is None or self.proc.returncode is not None:
            return _error(503, f"{self.cfg.me}: not initialized")
        links = {f"n{j}": {"queued": len(link.queue), "dropped": link.dropped, "connects": link.connects,
                           "last_error": link.last_error} for j, link in sorted(self.links.items())}
        return web.json_response({"node": self.cfg.me, "initialized": True, "links": links,
                                  "noise_lines": self.noise, "pending_requests": len(self.pending)})


def _error(status: int, text: str, **extra: Any) -> web.Response:
    return web.json_response({"error": text, **extra}, status=status)


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:  # 404, 405, 413 ... as JSON like every other answer
        return _error(exc.status, f"{exc.reason}: the bridge serves POST /rpc and GET /health")


def _quiet_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's own reports (a write to the pipe of a node that just died) as one line, no traceback:
    the bridge says what happened to the node itself."""
    exc = context.get("exception")
    say(f"{context.get('message', 'asyncio')}: {exc!r}" if exc is not None else str(context.get("message")))


async def main_async(cfg: Config) -> int:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_errors)
    bridge = Bridge(cfg)
    await bridge.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bridge.initialize()
    except Fatal:
        await _kill(bridge)
        raise
    say(f"{cfg.me}: init_ok; serving clients on {cfg.client_listen[1]}, peers on {cfg.peer_listen[1]}")
    peers = await asyncio.start_server(bridge.serve_peer, *cfg.peer_listen, limit=MAX_LINE)
    links = [asyncio.create_task(link.run()) for link in bridge.links.values()]
    app = web.Application(client_max_size=MAX_LINE, middlewares=[_json_errors])
    app.router.add_post("/rpc", bridge.rpc)
    app.router.add_get("/health", bridge.health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, *cfg.client_listen).start()
    assert bridge.exited is not None
    waiter: asyncio.Future[Any] = asyncio.create_task(stop.wait())
    ends: set[asyncio.Future[Any]] = {bridge.exited, waiter}
    await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
    for task in links:
        task.cancel()
    peers.close()
    await runner.cleanup()
    if bridge.exited.done():
        await asyncio.sleep(0.2)
        say(f"{cfg.me}: the node exited with code {bridge.exited.result()}; its stderr: {bridge.stderr_summary()}")
        await _kill(bridge)
        return 1
    await _kill(bridge)
    return 0


async def _kill(bridge: Bridge) -> None:
    """Kill the node and reap it inside the loop (a transport left for the garbage collector would
    complain after the loop closed)."""
    proc = bridge.proc
    if proc is None:
        return
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(proc.wait(), 5)
    if proc.stdin is not None:
        proc.stdin.close()
    await asyncio.sleep(0)  # let the pipes' connection_lost run while the loop is open


def main() -> int:
    try:
        cfg = load_config()
        return asyncio.run(main_async(cfg))
    except Fatal as exc:
        say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
