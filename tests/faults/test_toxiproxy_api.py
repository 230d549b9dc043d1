"""The Toxiproxy REST API and every toxic the harness uses, against a real server and real sockets.

The server is ours (faults/toxiproxy-server, on noxious) unless TOXIPROXY_URL names another one (see
conftest.py), so the same assertions hold for the official Toxiproxy. Operations go through
toxiproxy-python, unmodified, as the harness does; status codes and error bodies are read raw.
Timing checks are generous lower bounds only (a toxic must delay at least this much).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

from tests.faults.conftest import Upstream, free_port, server_binary, start_server

STREAMS = ["upstream", "downstream"]
IO_TIMEOUT_S = 5.0


# ------------------------------------------------------------------------------------------ helpers

def make_proxy(tp: Toxiproxy, upstream: Upstream, name: str = "p") -> Proxy:
    proxy: Proxy = tp.create(upstream=upstream.address, name=name, listen="127.0.0.1:0")
    return proxy


def connect(proxy: Proxy, timeout_s: float = IO_TIMEOUT_S) -> socket.socket:
    host, port = proxy.listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Reads exactly n bytes (each recv bounded by the socket timeout); fails on early EOF."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, f"connection closed after {len(buf)} of {n} bytes"
        buf += chunk
    return buf


def roundtrip_s(sock: socket.socket, payload: bytes) -> float:
    t0 = time.monotonic()
    sock.sendall(payload)
    assert recv_exact(sock, len(payload)) == payload
    return time.monotonic() - t0


def read_until_closed(sock: socket.socket, limit_s: float = IO_TIMEOUT_S) -> tuple[bytes, str]:
    """Reads until the peer closes. Returns (data, how): how is "eof", "reset" or "open" (still
    open after limit_s)."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, "open"


def after_toxic_change(sock: socket.socket, proxy: Proxy, is_noxious: bool) -> socket.socket:
    """The connection to use after a toxic change made while `sock` was open.

    Toxiproxy applies the change to open connections, so that is `sock`. Our noxious-based server
    restarts the proxy instead (docs/toxiproxy.md): `sock` must be closed, never left running with
    stale toxics, and a new connection carries the change.
    """
    if not is_noxious:
        return sock
    _, how = read_until_closed(sock, limit_s=2.0)
    sock.close()
    assert how in ("eof", "reset"), "an open connection survived a toxic change on the noxious server"
    return connect(proxy)


def wait_for_end(upstream: Upstream, limit_s: float = IO_TIMEOUT_S) -> str | None:
    """How the upstream's first connection ended ("eof" or "reset"), waiting up to limit_s."""
    deadline = time.monotonic() + limit_s
    while upstream.conns[0].ended is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return upstream.conns[0].ended


def api(url: str, method: str, path: str, body: object | None = None) -> requests.Response:
    return requests.request(method, url + path, json=body, timeout=10)


# --------------------------------------------------------------------------------------- API shape

def test_version_answers_200(toxiproxy_url: str) -> None:
    resp = api(toxiproxy_url, "GET", "/version")
    assert resp.status_code == 200
    assert resp.text.strip()


def test_create_returns_201_and_the_bound_listen_address(toxiproxy_url: str, toxiproxy: Toxiproxy,
                                                         echo: Upstream) -> None:
    resp = api(toxiproxy_url, "POST", "/proxies",
               {"name": "c", "listen": "127.0.0.1:0", "upstream": echo.address})
    assert resp.status_code == 201
    body = resp.json()
    assert body["name"] == "c" and body["upstream"] == echo.address
    assert body["enabled"] is True and body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    listed = api(toxiproxy_url, "GET", "/proxies").json()
    assert listed["c"]["listen"] == body["listen"]
    assert api(toxiproxy_url, "GET", "/proxies/c").json()["upstream"] == echo.address


def test_proxy_forwards_bytes_both_ways(toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    with connect(proxy) as sock:
        payload = bytes(range(256)) * 64
        sock.sendall(payload)
        assert recv_exact(sock, len(payload)) == payload
    assert echo.conns[0].data == payload


def test_duplicate_proxy_is_409(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    make_proxy(toxiproxy, echo, "dup")
    resp = api(toxiproxy_url, "POST", "/proxies", {"name": "dup", "listen": "127.0.0.1:0", "upstream": echo.address})
    assert resp.status_code == 409
    assert resp.json() == {"error": "proxy already exists", "status": 409}
    with pytest.raises(ProxyExists):
        make_proxy(toxiproxy, echo, "dup")


@pytest.mark.parametrize("method,path", [
    ("GET", "/proxies/nope"), ("DELETE", "/proxies/nope"), ("POST", "/proxies/nope"),
    ("GET", "/proxies/nope/toxics"), ("POST", "/proxies/nope/toxics"),
])
def test_unknown_proxy_is_404(toxiproxy_url: str, method: str, path: str) -> None:
    resp = api(toxiproxy_url, method, path, {"type": "latency", "attributes": {"latency": 1}}
               if method == "POST" else None)
    assert resp.status_code == 404
    assert resp.json() == {"error": "proxy not found", "status": 404}


def test_unknown_toxic_is_404(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    for method in ("GET", "DELETE"):
        resp = api(toxiproxy_url, method, "/proxies/p/toxics/nope")
        assert resp.status_code == 404
        assert resp.json() == {"error": "toxic not found", "status": 404}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("nope")


def test_bad_toxic_type_is_400(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    resp = api(toxiproxy_url, "POST", "/proxies/p/toxics", {"type": "no_such_toxic"})
    assert resp.status_code == 400
    assert resp.json()["status"] == 400
    assert resp.json()["error"].startswith("invalid toxic type")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    assert proxy.toxics() == {}


def test_bad_stream_and_bad_attributes_are_400(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    make_proxy(toxiproxy, echo)
    bad_stream = api(toxiproxy_url, "POST", "/proxies/p/toxics", {"type": "latency", "stream": "sideways"})
    assert bad_stream.status_code == 400
    assert bad_stream.json() == {"error": "stream was invalid, can be either upstream or downstream",
                                 "status": 400}
    bad_attr = api(toxiproxy_url, "POST", "/proxies/p/toxics",
                   {"type": "latency", "attributes": {"latency": "slow"}})
    assert bad_attr.status_code == 400
    assert bad_attr.json()["error"].startswith("bad request body")
    not_json = requests.post(toxiproxy_url + "/proxies/p/toxics", data=b"{nope", timeout=10)
    assert not_json.status_code == 400
    assert not_json.json()["error"].startswith("bad request body")
    assert api(toxiproxy_url, "GET", "/proxies/p/toxics").json() == []


def test_missing_proxy_fields_are_400(toxiproxy_url: str, toxiproxy: Toxiproxy) -> None:
    no_name = api(toxiproxy_url, "POST", "/proxies", {"listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"})
    assert no_name.status_code == 400
    assert no_name.json() == {"error": "missing required field: name", "status": 400}
    no_up = api(toxiproxy_url, "POST", "/proxies", {"name": "x", "listen": "127.0.0.1:0"})
    assert no_up.status_code == 400
    assert no_up.json() == {"error": "missing required field: upstream", "status": 400}
    assert api(toxiproxy_url, "GET", "/proxies").json() == {}


def test_duplicate_toxic_is_409(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="latency", name="lag", attributes={"latency": 10})
    resp = api(toxiproxy_url, "POST", "/proxies/p/toxics",
               {"type": "latency", "name": "lag", "attributes": {"latency": 20}})
    assert resp.status_code == 409
    assert resp.json() == {"error": "toxic already exists", "status": 409}


def test_toxic_create_read_update_delete(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    make_proxy(toxiproxy, echo)
    created = api(toxiproxy_url, "POST", "/proxies/p/toxics",
                  {"type": "latency", "stream": "upstream", "attributes": {"latency": 10, "jitter": 2}})
    assert created.status_code == 200
    toxic = created.json()
    assert toxic["name"] == "latency_upstream"  # Toxiproxy's default name: type_stream
    assert toxic["type"] == "latency" and toxic["stream"] == "upstream" and toxic["toxicity"] == 1.0
    assert toxic["attributes"] == {"latency": 10, "jitter": 2}
    assert api(toxiproxy_url, "GET", "/proxies/p/toxics/latency_upstream").json() == toxic
    updated = api(toxiproxy_url, "POST", "/proxies/p/toxics/latency_upstream",
                  {"attributes": {"latency": 40}, "toxicity": 0.5})
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 40, "jitter": 2}
    assert updated.json()["toxicity"] == 0.5
    assert api(toxiproxy_url, "GET", "/proxies/p").json()["toxics"] == [updated.json()]
    assert api(toxiproxy_url, "DELETE", "/proxies/p/toxics/latency_upstream").status_code == 204
    assert api(toxiproxy_url, "GET", "/proxies/p/toxics").json() == []


def test_populate_creates_keeps_and_reports_201(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    ports = [free_port(), free_port()]
    body = [{"name": f"pop{i}", "listen": f"127.0.0.1:{p}", "upstream": echo.address} for i, p in enumerate(ports)]
    resp = api(toxiproxy_url, "POST", "/populate", body)
    assert resp.status_code == 201
    assert sorted(p["name"] for p in resp.json()["proxies"]) == ["pop0", "pop1"]
    proxies = toxiproxy.proxies()
    assert set(proxies) == {"pop0", "pop1"}
    proxies["pop0"].add_toxic(type="latency", name="kept", attributes={"latency": 1})
    again = api(toxiproxy_url, "POST", "/populate", body)  # same listen+upstream: kept as is
    assert again.status_code == 201
    assert [t["name"] for t in api(toxiproxy_url, "GET", "/proxies/pop0/toxics").json()] == ["kept"]
    for i in range(2):
        with connect(toxiproxy.proxies()[f"pop{i}"]) as sock:
            roundtrip_s(sock, b"ping")
    bad = api(toxiproxy_url, "POST", "/populate", [{"name": "x"}])
    assert bad.status_code == 400
    assert bad.json()["error"] == "missing required field: upstream at proxy 1"


def test_delete_proxy_is_204_and_stops_listening(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    assert api(toxiproxy_url, "DELETE", "/proxies/p").status_code == 204
    with pytest.raises(ConnectionRefusedError):
        connect(proxy).close()
    assert toxiproxy.get_proxy("p") is None


# ------------------------------------------------------------------------------ toxics, behaviour

@pytest.mark.parametrize("stream", STREAMS)
def test_latency_with_jitter_delays_each_direction(toxiproxy: Toxiproxy, echo: Upstream, stream: str) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="latency", stream=stream, attributes={"latency": 300, "jitter": 50})
    with connect(proxy) as sock:
        rtts = [roundtrip_s(sock, f"m{i}".encode()) for i in range(3)]
    assert min(rtts) >= 0.25 - 0.01, rtts  # latency - jitter, minus clock slack


def test_latency_added_while_a_connection_is_open_takes_effect(toxiproxy: Toxiproxy, echo: Upstream,
                                                                 is_noxious: bool) -> None:
    proxy = make_proxy(toxiproxy, echo)
    sock = connect(proxy)
    roundtrip_s(sock, b"before")
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    with after_toxic_change(sock, proxy, is_noxious) as sock:
        assert roundtrip_s(sock, b"after") >= 0.29


@pytest.mark.parametrize("stream", STREAMS)
def test_timeout_stops_data_then_closes(toxiproxy: Toxiproxy, echo: Upstream, stream: str) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="timeout", stream=stream, attributes={"timeout": 800})
    with connect(proxy) as sock:
        t0 = time.monotonic()
        sock.sendall(b"lost")
        data, how = read_until_closed(sock)
        assert data == b"" and how in ("eof", "reset")
        assert time.monotonic() - t0 >= 0.7
    if stream == "upstream":
        assert all(c.data == b"" for c in echo.conns)


@pytest.mark.parametrize("stream", STREAMS)
def test_timeout_zero_holds_the_connection_open_and_drops_data(toxiproxy: Toxiproxy, echo: Upstream,
                                                               stream: str, is_noxious: bool) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="timeout", name="drop", stream=stream, attributes={"timeout": 0})
    sock = connect(proxy)
    sock.sendall(b"lost")
    data, how = read_until_closed(sock, limit_s=1.5)
    assert (data, how) == (b"", "open")
    # Healing (removing the toxic) lets new data through.
    proxy.destroy_toxic("drop")
    with after_toxic_change(sock, proxy, is_noxious) as sock:
        sock.settimeout(IO_TIMEOUT_S)
        sock.sendall(b"back")
        got = b""
        while not got.endswith(b"back"):
            chunk = sock.recv(64)
            assert chunk, f"closed after {got!r}"
            got += chunk
        assert got in (b"back", b"lostback")


def test_repeated_cut_and_heal_never_leaves_a_stale_toxic(toxiproxy: Toxiproxy, echo: Upstream,
                                                          is_noxious: bool) -> None:
    # noxious 1.0.4's live re-linking loses track of open connections after a few changes, which
    # then keep a removed toxic forever; the server must not expose that (see proxy.rs).
    proxy = make_proxy(toxiproxy, echo)
    sock = connect(proxy)
    for i in range(5):
        proxy.add_toxic(type="timeout", name="cut", attributes={"timeout": 0})
        sock = after_toxic_change(sock, proxy, is_noxious)
        sock.sendall(b"dropped")
        assert read_until_closed(sock, limit_s=0.3) == (b"", "open"), f"cycle {i}: data passed a cut"
        proxy.destroy_toxic("cut")
        sock = after_toxic_change(sock, proxy, is_noxious)
        sock.settimeout(IO_TIMEOUT_S)
        payload = f"cycle {i}".encode()
        sock.sendall(payload)
        got = b""
        while not got.endswith(payload):
            chunk = sock.recv(64)
            assert chunk, f"cycle {i}: closed after {got!r}"
            got += chunk
    sock.close()


def test_a_connection_made_just_before_a_toxic_change_never_escapes_it(toxiproxy: Toxiproxy, echo: Upstream,
                                                                     is_noxious: bool) -> None:
    # noxious 1.0.4 links a connection accepted while the proxy is being stopped to a stop signal it
    # can no longer receive: it would live on without the new toxic (a leaking partition). proxy.rs
    # closes that window; before it, about one cycle in three leaked here.
    proxy = make_proxy(toxiproxy, echo)
    for i in range(20):
        sock = connect(proxy)  # not yet accepted by the proxy when the change below starts
        proxy.add_toxic(type="timeout", name="cut", attributes={"timeout": 0})
        sock = after_toxic_change(sock, proxy, is_noxious)
        sock.sendall(b"dropped")
        assert read_until_closed(sock, limit_s=0.2) == (b"", "open"), f"cycle {i}: data passed a cut"
        sock.close()
        proxy.destroy_toxic("cut")


@pytest.mark.parametrize("stream", STREAMS)
def test_reset_peer_resets_the_connection(toxiproxy: Toxiproxy, echo: Upstream, stream: str) -> None:
    # "boom" crosses the upstream stream, and (echoed) the downstream one: either toxic fires on it.
    # Both peers get an RST, not an EOF, and the data that set it off is dropped.
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="reset_peer", stream=stream, attributes={"timeout": 0})
    with connect(proxy) as sock:
        sock.sendall(b"boom")
        assert read_until_closed(sock) == (b"", "reset")
    assert wait_for_end(echo) == "reset"
    if stream == "upstream":
        assert echo.conns[0].data == b""


def test_reset_peer_waits_its_timeout_and_drops_the_data_meanwhile(toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 1000})
    with connect(proxy) as sock:
        t0 = time.monotonic()
        sock.sendall(b"first")
        time.sleep(0.2)
        sock.sendall(b"second")  # held while the toxic waits, then dropped with the connection
        data, how = read_until_closed(sock)
        reset_after_s = time.monotonic() - t0
    assert (data, how) == (b"", "reset")
    assert reset_after_s >= 0.9
    assert echo.conns[0].data == b""


@pytest.mark.parametrize("stream", STREAMS)
def test_reset_peer_fires_only_on_data_in_its_stream(toxiproxy: Toxiproxy, blob: Upstream, stream: str) -> None:
    # The blob upstream sends 20 kB at once and the client sends nothing: only downstream data flows.
    proxy = make_proxy(toxiproxy, blob)
    proxy.add_toxic(type="reset_peer", stream=stream, attributes={"timeout": 0})
    try:
        sock = connect(proxy)
    except ConnectionResetError:
        # the downstream toxic may reset before connect() returns: the same outcome, only sooner
        assert stream == "downstream"
        return
    with sock:
        if stream == "upstream":
            assert recv_exact(sock, len(Upstream.BLOB)) == Upstream.BLOB
            assert read_until_closed(sock, limit_s=0.5) == (b"", "open")
        else:
            assert read_until_closed(sock) == (b"", "reset")


@pytest.mark.parametrize("attributes,field", [
    ({"timeout": -5}, "attributes.timeout"),
    ({"timeout": "soon"}, "attributes.timeout"),
    ({"timeout": 1.5}, "attributes.timeout"),
    ("none", "attributes"),
])
def test_bad_reset_peer_attributes_are_a_400_naming_the_field(toxiproxy_url: str, toxiproxy: Toxiproxy,
                                                              echo: Upstream, is_noxious: bool,
                                                              attributes: object, field: str) -> None:
    make_proxy(toxiproxy, echo)
    resp = api(toxiproxy_url, "POST", "/proxies/p/toxics", {"type": "reset_peer", "attributes": attributes})
    if not is_noxious and attributes == {"timeout": -5}:
        # Toxiproxy takes any int64 (a negative timeout resets at once); ours refuses it.
        assert resp.status_code == 200
        return
    assert resp.status_code == 400
    assert resp.json()["status"] == 400
    assert resp.json()["error"].startswith("bad request body")
    if is_noxious:  # Toxiproxy's own wording is Go's JSON decoder's
        assert field in resp.json()["error"] and "must be" in resp.json()["error"]
    assert api(toxiproxy_url, "GET", "/proxies/p/toxics").json() == []


@pytest.mark.parametrize("toxicity", [1.5, -1, "x", [0.5]])
def test_bad_toxicity_is_a_400_naming_the_field(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream,
                                                is_noxious: bool, toxicity: object) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="latency", name="lag", attributes={"latency": 10})
    bodies = [("/proxies/p/toxics", {"type": "reset_peer", "toxicity": toxicity}),
              ("/proxies/p/toxics/lag", {"toxicity": toxicity})]  # create and update
    for path, body in bodies:
        resp = api(toxiproxy_url, "POST", path, body)
        if not is_noxious and isinstance(toxicity, (int, float)):
            # Toxiproxy stores any float32 (above 1 always fires, below 0 never); ours refuses it.
            assert resp.status_code == 200
            continue
        assert resp.status_code == 400, path
        assert resp.json()["error"].startswith("bad request body")
        if is_noxious:
            assert '"toxicity" must be a number in [0, 1]' in resp.json()["error"]
    if is_noxious:
        assert [t["name"] for t in api(toxiproxy_url, "GET", "/proxies/p/toxics").json()] == ["lag"]
        assert api(toxiproxy_url, "GET", "/proxies/p/toxics/lag").json()["toxicity"] == 1.0


@pytest.mark.parametrize("stream", STREAMS)
def test_bandwidth_limits_the_rate(toxiproxy: Toxiproxy, echo: Upstream, stream: str) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="bandwidth", stream=stream, attributes={"rate": 10})  # KB/s
    with connect(proxy, timeout_s=10) as sock:
        elapsed = roundtrip_s(sock, b"x" * 20_000)
    assert elapsed >= 1.5  # 20 kB at 10 kB/s is 2 s


def test_bandwidth_paces_one_large_write_downstream(toxiproxy: Toxiproxy, blob: Upstream) -> None:
    # One 20 kB write from the upstream reaches the toxic as one chunk (noxious 1.0.4's bandwidth
    # toxic used to drop the connection on chunks larger than rate*100 bytes).
    proxy = make_proxy(toxiproxy, blob)
    proxy.add_toxic(type="bandwidth", attributes={"rate": 10})
    with connect(proxy, timeout_s=10) as sock:
        t0 = time.monotonic()
        assert recv_exact(sock, len(Upstream.BLOB)) == Upstream.BLOB
    assert time.monotonic() - t0 >= 1.5


def test_bandwidth_update_and_removal_take_effect(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream,
                                                  is_noxious: bool) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="bandwidth", name="bw", attributes={"rate": 0})  # 0 = unlimited
    sock = connect(proxy, timeout_s=10)
    roundtrip_s(sock, b"y" * 20_000)
    resp = api(toxiproxy_url, "POST", "/proxies/p/toxics/bw", {"attributes": {"rate": 10}})
    assert resp.json()["attributes"] == {"rate": 10}
    sock = after_toxic_change(sock, proxy, is_noxious)
    assert roundtrip_s(sock, b"z" * 20_000) >= 1.5
    proxy.destroy_toxic("bw")
    with after_toxic_change(sock, proxy, is_noxious) as sock:
        roundtrip_s(sock, b"w" * 20_000)
    assert api(toxiproxy_url, "GET", "/proxies/p/toxics").json() == []


@pytest.mark.parametrize("stream", STREAMS)
def test_slicer_cuts_data_into_small_pieces(toxiproxy: Toxiproxy, echo: Upstream, stream: str) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="slicer", stream=stream,
                    attributes={"average_size": 10, "size_variation": 5, "delay": 5000})
    payload = bytes(range(200)) * 2
    with connect(proxy) as sock:
        sock.sendall(payload)
        pieces: list[bytes] = []
        while sum(map(len, pieces)) < len(payload):
            chunk = sock.recv(65536)
            assert chunk
            pieces.append(chunk)
    assert b"".join(pieces) == payload
    seen = echo.conns[0].chunks if stream == "upstream" else pieces
    assert len(seen) >= 10, [len(p) for p in seen]  # ~40 slices of 5..15 bytes, 5 ms apart


@pytest.mark.parametrize("stream", STREAMS)
def test_limit_data_closes_after_the_limit(toxiproxy: Toxiproxy, echo: Upstream, stream: str) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="limit_data", stream=stream, attributes={"bytes": 100})
    with connect(proxy) as sock:
        roundtrip_s(sock, b"a" * 40)  # under the limit: passes intact
        sock.sendall(b"b" * 300)
        data, how = read_until_closed(sock)
    assert how in ("eof", "reset")
    # At most the limit gets through (Toxiproxy: exactly; noxious may stop a few bytes short).
    assert data == b"b" * len(data) and len(data) <= 60
    time.sleep(0.2)  # let the upstream's thread record what it got
    upstream_got = echo.conns[0].data
    assert upstream_got.startswith(b"a" * 40) and len(upstream_got) <= (100 if stream == "upstream" else 340)


def test_slow_close_delays_the_close_downstream(toxiproxy: Toxiproxy, hello: Upstream) -> None:
    proxy = make_proxy(toxiproxy, hello)
    proxy.add_toxic(type="slow_close", stream="downstream", attributes={"delay": 1000})
    with connect(proxy) as sock:
        t0 = time.monotonic()
        data, how = read_until_closed(sock)
        closed_after = time.monotonic() - t0
    assert data == b"hello" and how == "eof"
    assert closed_after >= 0.9


def test_slow_close_delays_the_close_upstream(toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="slow_close", stream="upstream", attributes={"delay": 1000})
    with connect(proxy) as sock:
        roundtrip_s(sock, b"hi")
        t0 = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        read_until_closed(sock)
    deadline = time.monotonic() + IO_TIMEOUT_S  # the upstream's thread notes EOF a moment later
    while echo.conns[0].eof_at is None and time.monotonic() < deadline:
        time.sleep(0.02)
    eof_at = echo.conns[0].eof_at
    assert eof_at is not None and eof_at - t0 >= 0.9


def test_toxicity_zero_leaves_the_link_healthy(toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="timeout", toxicity=0.0, attributes={"timeout": 0})
    with connect(proxy) as sock:
        roundtrip_s(sock, b"still here")


# ------------------------------------------------------------------- disable, enable and reset

def test_disabled_proxy_refuses_connections_and_drops_open_ones(toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    open_sock = connect(proxy)
    roundtrip_s(open_sock, b"hi")
    with proxy.down():
        assert toxiproxy.get_proxy("p").enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy).close()
        _, how = read_until_closed(open_sock)
        assert how in ("eof", "reset")
    open_sock.close()
    assert toxiproxy.get_proxy("p").enabled is True
    with connect(proxy) as sock:
        roundtrip_s(sock, b"back")


@pytest.mark.parametrize("cut", ["disable", "timeout toxics"])
def test_no_open_connection_outlives_a_cut_in_either_direction(toxiproxy: Toxiproxy, echo: Upstream,
                                                                cut: str) -> None:
    """30 open connections, then the proxy is cut (disabled, or blackholed with a timeout-0 toxic on
    both streams, as a `drop` partition does): no byte a client writes afterwards may reach the
    upstream. noxious 1.0.4 let the upstream half of most connections live on (PATCHES.md in
    faults/toxiproxy-server/vendor/noxious): a partition that leaked one way."""
    proxy = make_proxy(toxiproxy, echo)
    socks = [connect(proxy) for _ in range(30)]
    for s in socks:
        roundtrip_s(s, b"before")
    if cut == "disable":
        proxy.disable()
    else:
        for stream in STREAMS:
            proxy.add_toxic(name=f"cut-{stream}", type="timeout", stream=stream, attributes={"timeout": 0})
    time.sleep(0.5)  # every restart of the proxy has finished
    for s in socks:
        try:
            s.sendall(b"after")
        except OSError:
            pass  # the connection is gone: nothing could leak through it
    time.sleep(1.0)
    leaked = sum(1 for c in echo.conns if b"after" in c.data)
    for s in socks:
        s.close()
    if cut == "disable":
        proxy.enable()
    assert len(echo.conns) >= 30
    assert leaked == 0, f"{leaked} of {len(socks)} connections carried bytes to the upstream after the {cut}"


def test_toxics_survive_disable_and_enable(toxiproxy: Toxiproxy, echo: Upstream) -> None:
    proxy = make_proxy(toxiproxy, echo)
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    proxy.disable()
    proxy.enable()
    assert list(proxy.toxics()) == ["latency_downstream"]
    with connect(proxy) as sock:
        assert roundtrip_s(sock, b"slow") >= 0.29


def test_reset_enables_all_and_removes_all_toxics(toxiproxy_url: str, toxiproxy: Toxiproxy, echo: Upstream,
                                                  is_noxious: bool) -> None:
    first = make_proxy(toxiproxy, echo, "first")
    second = make_proxy(toxiproxy, echo, "second")
    open_sock = connect(first)
    for stream in STREAMS:
        first.add_toxic(type="timeout", stream=stream, attributes={"timeout": 0})
        second.add_toxic(type="latency", stream=stream, attributes={"latency": 100})
    second.disable()
    assert api(toxiproxy_url, "POST", "/reset").status_code == 204
    state = api(toxiproxy_url, "GET", "/proxies").json()
    assert {n: (p["enabled"], p["toxics"]) for n, p in state.items()} == {
        "first": (True, []), "second": (True, [])}
    with after_toxic_change(open_sock, first, is_noxious) as sock:
        roundtrip_s(sock, b"healed while open")
    for proxy in (first, second):
        with connect(proxy) as sock:
            roundtrip_s(sock, b"healed")


# --------------------------------------------------------------- our binary's command line only

def test_config_file_creates_proxies_at_start(tmp_path: Path, echo: Upstream) -> None:
    port = free_port()
    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "n1-n2", "listen": f"127.0.0.1:{port}", "upstream": echo.address}]))
    server = start_server(server_binary(), "-config", str(config))
    try:
        proxies = requests.get(server.url + "/proxies", timeout=10).json()
        assert proxies["n1-n2"]["listen"] == f"127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
            roundtrip_s(sock, b"configured")
    finally:
        server.stop()


@pytest.mark.parametrize("content,expected", [
    ("{not json", "bad request body"),
    ('{"name": "x"}', "expected a JSON array"),
    ('[{"name": "x", "listen": "127.0.0.1:0"}]', "missing required field: upstream at proxy 1"),
])
def test_bad_config_file_stops_the_start_with_a_clear_message(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content)
    proc = subprocess_run([str(server_binary()), "-host", "127.0.0.1", "-port", str(free_port()),
                           "-config", str(config)])
    assert proc.returncode == 2
    assert str(config) in proc.stderr and expected in proc.stderr
    assert "panicked" not in proc.stderr


def test_bad_flags_give_usage_not_a_crash() -> None:
    proc = subprocess_run([str(server_binary()), "-port", "eighty"])
    assert proc.returncode == 2
    assert "-port" in proc.stderr and "not a port number" in proc.stderr


def subprocess_run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
