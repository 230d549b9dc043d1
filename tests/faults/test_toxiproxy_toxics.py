"""Every toxic honours `stream` and `toxicity`, over real TCP, on whichever server conftest.py gives.

Toxiproxy runs a toxic on one stream only (upstream: what the client sends; downstream: what the
upstream sends back) and decides once per connection, with probability `toxicity`, whether it acts.

Each check is a probe: one fresh connection through the proxy on which data flows one way only,
`SIZE` bytes from the sender (the client for "upstream", the upstream server for "downstream") to the
receiver, which notes what arrived, in how many pieces, and how the connection ended. A toxic on the
other stream sees no data, so a probe answers "did the toxic act on this stream" by itself. Timing
checks are lower bounds on what a toxic adds (a second or more) against what a loopback hop takes,
the same margins as test_toxiproxy_api.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.proxy import Proxy

STREAMS = ("upstream", "downstream")
SIZE = 1000  # bytes a probe sends: one write
WINDOW_S = 2.5  # how long a receiver waits for data: the timing toxics below deliver after about 1 s
CLOSE_AFTER_S = 0.2  # slow_close probes: the sender closes this long after its write
SLOW_S = 0.5  # "the toxic acted" for the timing toxics below: they add 1 s or more
PER_CONNECTION_N = 20  # connections at toxicity 0.5


@dataclass
class Outcome:
    """What the receiver of one probe saw."""

    received: int = 0
    pieces: int = 0
    complete_s: float | None = None  # from the sender's write to the last byte
    ended: str = "open"  # "eof", "reset" or "open" (still open when the receiver stopped)
    close_delay_s: float | None = None  # slow_close probes: from the sender's close to the end


@dataclass(frozen=True)
class Kind:
    """A toxic type, the attributes that make its effect plain, and how to see that effect."""

    type: str
    attributes: dict[str, int]
    acted: Callable[[Outcome], bool]
    sender_closes: bool = False
    window_s: float = WINDOW_S


def _delayed(o: Outcome) -> bool:
    return o.complete_s is not None and o.complete_s >= SLOW_S


KINDS = [
    Kind("latency", {"latency": 1000, "jitter": 0}, _delayed),
    Kind("bandwidth", {"rate": 1}, _delayed),  # 1000 bytes at 1 KB/s: about 1 s
    Kind("slicer", {"average_size": 10, "size_variation": 5, "delay": 10_000}, lambda o: o.pieces >= 10),
    # Holds the data for good: 1 s of silence where a clean hop takes a millisecond is enough.
    Kind("timeout", {"timeout": 0}, lambda o: o.received == 0 and o.ended == "open", window_s=1.0),
    Kind("limit_data", {"bytes": 10}, lambda o: o.received <= 10 and o.ended in ("eof", "reset")),
    Kind("reset_peer", {"timeout": 0}, lambda o: o.received == 0 and o.ended == "reset"),
    Kind("slow_close", {"delay": 1500}, lambda o: o.close_delay_s is not None and o.close_delay_s >= 1.0,
         sender_closes=True),
]
IDS = [k.type for k in KINDS]


# ------------------------------------------------------------------------------------------ probing

class ProbeServer:
    """The upstream: accepts connections and hands each to the probe that is waiting for one."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._accepted: list[socket.socket] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            with self._cond:
                self._accepted.append(sock)
                self._cond.notify_all()

    def take_any(self, timeout_s: float = 5.0) -> socket.socket:
        """The next accepted connection (probes through one proxy run one at a time per server)."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._accepted), timeout=timeout_s):
                raise AssertionError("the proxy never connected to the upstream")
            return self._accepted.pop(0)

    def close(self) -> None:
        self._sock.close()


def _receive(sock: socket.socket, sent_at: Callable[[], float | None],
             closed_at: Callable[[], float | None], *, until_closed: bool, window_s: float) -> Outcome:
    """Reads until SIZE bytes arrived (or, with until_closed, until the end), the end, or window_s."""
    out = Outcome()
    sock.settimeout(0.05)
    deadline = time.monotonic() + window_s + (CLOSE_AFTER_S + 2.0 if until_closed else 0.0)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            out.ended = "reset"
            break
        if not chunk:
            out.ended = "eof"
            break
        out.received += len(chunk)
        out.pieces += 1
        start = sent_at()
        if out.received >= SIZE and start is not None:
            out.complete_s = time.monotonic() - start
            if not until_closed:
                break
    close = closed_at()
    if out.ended != "open" and close is not None:
        out.close_delay_s = time.monotonic() - close
    return out


def probe(proxy: Proxy, server: ProbeServer, stream: str, kind: Kind) -> Outcome:
    """One connection through `proxy` with SIZE bytes flowing on `stream` only (see the module doc)."""
    host, port = proxy.listen.rsplit(":", 1)
    client = socket.create_connection((host, int(port)), timeout=5.0)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    upstream = server.take_any()
    sender, receiver = (client, upstream) if stream == "upstream" else (upstream, client)
    times: dict[str, float] = {}

    def send() -> None:
        times["sent"] = time.monotonic()
        sender.sendall(b"p" * SIZE)
        if kind.sender_closes:
            time.sleep(CLOSE_AFTER_S)
            times["closed"] = time.monotonic()
            sender.close()

    writer = threading.Thread(target=send, daemon=True)
    writer.start()
    try:
        return _receive(receiver, lambda: times.get("sent"), lambda: times.get("closed"),
                        until_closed=kind.sender_closes, window_s=kind.window_s)
    finally:
        writer.join(timeout=5.0)
        client.close()
        upstream.close()


def probe_many(proxy: Proxy, server: ProbeServer, stream: str, kind: Kind, n: int) -> list[bool]:
    """Whether the toxic acted, for each of n probes run one after the other."""
    return [kind.acted(probe(proxy, server, stream, kind)) for _ in range(n)]


@pytest.fixture
def server() -> Iterator[ProbeServer]:
    s = ProbeServer()
    yield s
    s.close()


def make_proxy(tp: Toxiproxy, server: ProbeServer) -> Proxy:
    proxy: Proxy = tp.create(upstream=server.address, name="t", listen="127.0.0.1:0")
    return proxy


# ------------------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_without_toxics_no_probe_looks_toxic(toxiproxy: Toxiproxy, server: ProbeServer, kind: Kind) -> None:
    # The control: each detector says "no" on a clean link, so a "yes" below is the toxic's doing.
    proxy = make_proxy(toxiproxy, server)
    for stream in STREAMS:
        assert not kind.acted(probe(proxy, server, stream, kind)), stream


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_a_toxic_acts_on_its_stream_only(toxiproxy: Toxiproxy, server: ProbeServer, kind: Kind,
                                         stream: str) -> None:
    proxy = make_proxy(toxiproxy, server)
    proxy.add_toxic(type=kind.type, stream=stream, toxicity=1.0, attributes=kind.attributes)
    other = "downstream" if stream == "upstream" else "upstream"
    assert kind.acted(probe(proxy, server, stream, kind)), f"not on {stream}"
    assert not kind.acted(probe(proxy, server, other, kind)), f"also on {other}"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_toxicity_zero_never_acts(toxiproxy: Toxiproxy, server: ProbeServer, kind: Kind) -> None:
    proxy = make_proxy(toxiproxy, server)
    for stream in STREAMS:
        proxy.add_toxic(type=kind.type, name=f"t-{stream}", stream=stream, toxicity=0.0,
                        attributes=kind.attributes)
    for stream in STREAMS:
        assert probe_many(proxy, server, stream, kind, 3) == [False] * 3, stream


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_toxicity_is_decided_per_connection(toxiproxy: Toxiproxy, server: ProbeServer, kind: Kind,
                                            stream: str) -> None:
    # At 0.5 some connections get the toxic and some do not (all alike: once in 2^19 runs).
    proxy = make_proxy(toxiproxy, server)
    proxy.add_toxic(type=kind.type, stream=stream, toxicity=0.5, attributes=kind.attributes)
    acted = probe_many(proxy, server, stream, kind, PER_CONNECTION_N)
    assert 0 < sum(acted) < len(acted), acted
