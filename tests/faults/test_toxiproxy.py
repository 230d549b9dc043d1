"""The async Toxiproxy adapter and the link nemesis against a real Toxiproxy-API server and real sockets.

The server comes from tests/faults/conftest.py (ours on noxious, or TOXIPROXY_URL). Replicas are stood
in for by TCP echo servers, one per node: the proxy `ni-nj` forwards to node j's echo server, so a
round trip through `ni-nj` shows whether what i sends to j gets through.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any, Coroutine, TypeVar

import pytest

from faults.partitions import complete_grudge
from faults.plan import FaultStep, LinkToxic, Partition
from faults.toxiproxy import ToxiproxyAPI, ToxiproxyNemesis
from targets.errors import InfraError, InternalError
from tests.faults.conftest import Upstream, free_port

T = TypeVar("T")
SIZE = 3
CUT_WAIT_S = 0.4  # how long a cut link is watched for a reply that must not come


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def api_for(url: str) -> ToxiproxyAPI:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return ToxiproxyAPI(host=host, port=int(port), timeout_s=3.0)


@pytest.fixture
def api(toxiproxy_url: str) -> Iterator[ToxiproxyAPI]:
    a = api_for(toxiproxy_url)

    async def wipe() -> None:
        for name in await a.proxies():
            await a.delete_proxy(name)

    run(wipe())
    yield a
    run(wipe())


@pytest.fixture
def cluster(api: ToxiproxyAPI) -> Iterator[dict[str, int]]:
    """Every `ni-nj` and `client-ni` proxy of a 3-node topology; returns proxy name -> listen port."""
    echoes = {j: Upstream("echo") for j in range(1, SIZE + 1)}

    async def build() -> dict[str, int]:
        ports: dict[str, int] = {}
        names = [(f"n{i}-n{j}", j) for i in echoes for j in echoes if i != j]
        names += [(f"client-n{j}", j) for j in echoes]
        for name, j in names:
            info = await api.create_proxy(name, listen="127.0.0.1:0", upstream=echoes[j].address)
            ports[name] = int(info.listen.rsplit(":", 1)[1])
        return ports

    try:
        yield run(build())
    finally:
        for e in echoes.values():
            e.close()


def passes(port: int, wait_s: float = CUT_WAIT_S) -> bool:
    """True if a byte sent through the proxy on `port` comes back within `wait_s`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
            sock.settimeout(wait_s)
            sock.sendall(b"x")
            return sock.recv(1) == b"x"
    except OSError:
        return False


def reset_by(port: int) -> bool:
    """True if a connection through the proxy on `port` is reset (ECONNRESET) once it sends a byte."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(b"x")
        try:
            sock.recv(1)
        except ConnectionResetError:
            return True
        return False


def step(n: int, fault: Partition | LinkToxic) -> FaultStep:
    return FaultStep(step=n, entry=0, start_s=0.0, heal_s=1.0, fault=fault)


# -- the adapter ----------------------------------------------------------------------------------


def test_create_list_delete_proxy(api: ToxiproxyAPI, echo: Upstream) -> None:
    info = run(api.create_proxy("p", listen="127.0.0.1:0", upstream=echo.address))
    assert info.enabled and info.upstream == echo.address
    assert run(api.proxies())["p"].listen == info.listen
    assert run(api.delete_proxy("p")) is True
    assert "p" not in run(api.proxies())
    assert run(api.delete_proxy("p")) is False  # idempotent


def test_add_list_remove_toxic(api: ToxiproxyAPI, echo: Upstream) -> None:
    run(api.create_proxy("p", listen="127.0.0.1:0", upstream=echo.address))
    run(api.add_toxic("p", name="lat", type="latency", stream="upstream", toxicity=0.5,
                      attributes={"latency": 100, "jitter": 10}))
    (tox,) = run(api.toxics("p"))
    assert (tox.name, tox.type, tox.stream, tox.toxicity) == ("lat", "latency", "upstream", 0.5)
    assert tox.attributes["latency"] == 100 and tox.attributes["jitter"] == 10
    assert run(api.remove_toxic("p", "lat")) is True
    assert run(api.toxics("p")) == []
    assert run(api.remove_toxic("p", "lat")) is False
    assert run(api.remove_toxic("no-such-proxy", "lat")) is False


def test_disable_refuses_and_enable_restores(api: ToxiproxyAPI, echo: Upstream) -> None:
    info = run(api.create_proxy("p", listen="127.0.0.1:0", upstream=echo.address))
    port = int(info.listen.rsplit(":", 1)[1])
    assert passes(port)
    run(api.set_enabled("p", False))
    assert not run(api.proxies())["p"].enabled
    assert not passes(port)
    run(api.set_enabled("p", True))
    assert passes(port)


def test_refused_toxic_is_an_infra_error_naming_the_server(api: ToxiproxyAPI, echo: Upstream) -> None:
    run(api.create_proxy("p", listen="127.0.0.1:0", upstream=echo.address))
    with pytest.raises(InfraError, match=rf"{api.port} refused add no-such-type toxic"):
        run(api.add_toxic("p", name="x", type="no-such-type"))


def test_unreachable_server_is_an_infra_error() -> None:
    api = ToxiproxyAPI(host="127.0.0.1", port=free_port(), timeout_s=1.0)
    with pytest.raises(InfraError, match="did not answer .*docker ps"):
        run(api.version())


def test_two_adapters_for_two_servers_do_not_mix_up_addresses(api: ToxiproxyAPI, toxiproxy_url: str,
                                                               echo: Upstream) -> None:
    # The library keeps the address in class state; the adapter must set it per call.
    other = ToxiproxyAPI(host="127.0.0.1", port=free_port(), timeout_s=1.0)

    async def both() -> tuple[object, object]:
        return tuple(await asyncio.gather(api.version(), other.version(), return_exceptions=True))  # type: ignore[return-value]

    ok, bad = run(both())
    assert isinstance(ok, str) and ok
    assert isinstance(bad, InfraError)


# -- the nemesis ----------------------------------------------------------------------------------


def test_setup_names_missing_proxies(api: ToxiproxyAPI) -> None:
    with pytest.raises(InfraError, match="lacks proxies n1-n2"):
        run(ToxiproxyNemesis(api, size=SIZE).setup())


@pytest.mark.parametrize("mode", ["drop", "reject"])
def test_partition_cuts_exactly_the_grudge_and_heals(api: ToxiproxyAPI, cluster: dict[str, int],
                                                     mode: str) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    # n1 cannot hear n2 or n3 (one-way): only n2-n1 and n3-n1 are cut.
    grudge = complete_grudge([[1], [2, 3]], one_way=True)
    s = step(0, Partition(shape="isolate", mode=mode, one_way=True, grudge=grudge))  # type: ignore[arg-type]
    applied = run(nem.apply(s))
    cut = {"n2-n1", "n3-n1"}
    assert ({p for p, _ in applied.toxics} | set(applied.disabled)) == cut
    for name, port in cluster.items():
        assert passes(port) == (name not in cut), name
    run(nem.heal(s))
    assert all(passes(port) for port in cluster.values())
    assert run(nem.heal(s)) is None  # idempotent


def test_overlapping_reject_partitions_heal_independently(api: ToxiproxyAPI,
                                                          cluster: dict[str, int]) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    a = step(0, Partition(shape="groups", mode="reject", one_way=True, grudge={1: frozenset({2})}))
    b = step(1, Partition(shape="groups", mode="reject", one_way=True, grudge={1: frozenset({2, 3})}))
    run(nem.apply(a))
    run(nem.apply(b))
    run(nem.heal(a))
    assert not passes(cluster["n2-n1"]), "still cut by the second partition"
    run(nem.heal(b))
    assert passes(cluster["n2-n1"]) and passes(cluster["n3-n1"])


def test_isolate_leader_needs_the_leader_and_uses_it(api: ToxiproxyAPI, cluster: dict[str, int]) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    s = step(0, Partition(shape="isolate-leader", mode="drop", one_way=False, grudge=None))
    with pytest.raises(ValueError, match="no leader"):
        run(nem.apply(s))
    applied = run(nem.apply(s, leader=2))
    assert {p for p, _ in applied.toxics} == {"n1-n2", "n3-n2", "n2-n1", "n2-n3"}
    assert "n2 cannot hear n1,n3" in applied.description
    assert not passes(cluster["n1-n2"]) and passes(cluster["n1-n3"])
    run(nem.teardown())
    assert passes(cluster["n1-n2"])


def test_latency_toxic_on_the_target_links_delays_them(api: ToxiproxyAPI, cluster: dict[str, int]) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    fault = LinkToxic(toxic="latency", attributes=(("latency", 300), ("jitter", 0)), toxicity=1.0,
                      links="clients", nodes=(3,))
    applied = run(nem.apply(step(0, fault)))
    assert {p for p, _ in applied.toxics} == {"client-n3"}
    # a 300 ms toxic on both streams: no echo within 0.25 s, but one within 3 s
    assert not passes(cluster["client-n3"], wait_s=0.25)
    assert passes(cluster["client-n3"], wait_s=3.0)
    assert passes(cluster["client-n1"], wait_s=0.25)
    run(nem.teardown())


def test_reset_is_reset_peer_upstream_and_resets_connections(api: ToxiproxyAPI, cluster: dict[str, int]) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    fault = LinkToxic(toxic="reset_peer", attributes=(("timeout", 0),), toxicity=1.0, links="peers",
                      nodes=(1,))
    applied = run(nem.apply(step(0, fault)))
    assert {p for p, _ in applied.toxics} == {"n1-n2", "n1-n3", "n2-n1", "n3-n1"}
    found = run(api.toxics("n1-n2"))
    assert [(t.type, t.stream, t.attributes) for t in found] == [("reset_peer", "upstream", {"timeout": 0})]
    assert reset_by(cluster["n1-n2"]) and reset_by(cluster["n3-n1"])
    assert passes(cluster["n2-n3"])
    run(nem.heal(0))
    assert run(api.toxics("n1-n2")) == [] and passes(cluster["n1-n2"])


def test_process_fault_is_refused(api: ToxiproxyAPI) -> None:
    from faults.plan import ProcessAction

    nem = ToxiproxyNemesis(api, size=SIZE)
    s = FaultStep(step=0, entry=0, start_s=0, heal_s=None,
                  fault=ProcessAction(action="kill", nodes=(1,), graceful=False))
    with pytest.raises(InternalError, match="Docker nemesis"):
        run(nem.apply(s))


def test_the_library_globals_are_left_as_they_were(api: ToxiproxyAPI) -> None:
    import toxiproxy.api as tp_api

    before = (tp_api.APIConsumer.host, tp_api.APIConsumer.port, tp_api.requests)
    run(api.version())
    assert (tp_api.APIConsumer.host, tp_api.APIConsumer.port, tp_api.requests) == before


@pytest.mark.parametrize(("toxic", "attributes"), [
    ("slicer", (("average_size", 1), ("size_variation", 0), ("delay", 1000))),
    ("slow_close", (("delay", 100),)),
    ("limit_data", (("bytes", 0),)),
    ("bandwidth", (("rate", 1),)),
])
def test_every_link_toxic_lands_on_both_streams_with_its_attributes(
        api: ToxiproxyAPI, cluster: dict[str, int], toxic: str, attributes: tuple[tuple[str, int], ...]) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    fault = LinkToxic(toxic=toxic, attributes=attributes, toxicity=1.0, links="clients",  # type: ignore[arg-type]
                      nodes=(2,))
    run(nem.apply(step(0, fault)))
    found = run(api.toxics("client-n2"))
    assert sorted(t.stream for t in found) == ["downstream", "upstream"]
    for t in found:
        assert t.type == toxic
        assert {k: t.attributes[k] for k, _ in attributes} == dict(attributes)
    if toxic == "limit_data":
        assert not passes(cluster["client-n2"]), "0 bytes allowed: nothing comes back"
    run(nem.heal(0))
    assert run(api.toxics("client-n2")) == [] and passes(cluster["client-n2"])


def test_a_server_that_is_not_toxiproxy_is_an_infra_error() -> None:
    from tests.workloads.fake_replica import FakeCluster, FakeReplica

    async def main() -> None:
        async with FakeCluster(FakeReplica(), size=1) as cluster:  # an HTTP server with other routes
            port = int(cluster.urls[1].rsplit(":", 1)[1])
            with pytest.raises(InfraError, match="is that port the Toxiproxy API"):
                await ToxiproxyAPI(port=port, timeout_s=2.0).proxies()

    run(main())


def test_a_failed_heal_keeps_what_is_left_and_a_second_heal_finishes(api: ToxiproxyAPI,
                                                                    cluster: dict[str, int]) -> None:
    nem = ToxiproxyNemesis(api, size=SIZE)
    run(nem.setup())
    s = step(0, Partition(shape="isolate", mode="reject", one_way=True, grudge={1: frozenset({2, 3})}))
    run(nem.apply(s))
    real_port, api.port = api.port, free_port()  # the API becomes unreachable for a moment
    try:
        with pytest.raises(InfraError, match="heal of step 0 incomplete"):
            run(nem.heal(s))
    finally:
        api.port = real_port
    assert not passes(cluster["n2-n1"])
    assert run(nem.heal(s)) is not None
    assert passes(cluster["n2-n1"]) and passes(cluster["n3-n1"])
