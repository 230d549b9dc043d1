"""Network faults through Toxiproxy: the async adapter over toxiproxy-python, and the link nemesis.

toxiproxy-python is synchronous, keeps the server address in class state (`APIConsumer.host/port`) and
calls `requests` without a timeout. This module is the one place that knows that: every library call
runs on one dedicated worker thread (so the class state is set and used by one call at a time, even
with several adapters for several servers), off the event loop, with a bounded HTTP timeout, and with
the library's exceptions turned into `InfraError`. Nothing else in the project imports `toxiproxy`.

Mapping of faults to toxics (DESIGN 4/5; proxy `ni-nj` carries what replica i sends to replica j):
- partition, mode `drop`: a `timeout` toxic with timeout 0 on both streams of every cut link (data is
  held and never delivered, connections stay open);
- partition, mode `reject`: the proxy is disabled (connections refused, open ones closed). Disables are
  reference-counted, so overlapping partitions heal independently;
- latency/bandwidth (and slicer, slow_close, limit_data): the toxic on both streams of each link;
  reset: `reset_peer` on the upstream stream, so a connection is reset (TCP RST to both peers) once
  the sender's data arrives. Both servers have it (ours since its noxious patch 2).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import requests
import toxiproxy.api as _tp_api
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

from faults.partitions import Grudge, cut_links, proxy_name
from faults.plan import FaultStep, LinkToxic, Partition, describe
from targets.errors import InfraError, InternalError

__all__ = ["AppliedFault", "ProxyInfo", "ToxicInfo", "ToxiproxyAPI", "ToxiproxyNemesis"]

T = TypeVar("T")

# One thread for every toxiproxy-python call in the process: the library's server address is global.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="toxiproxy")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyInfo:
    """A proxy as the server reports it."""

    name: str
    listen: str
    upstream: str
    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ToxicInfo:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]


class _NotFoundError(InfraError):
    """The proxy or toxic does not exist (404); heals treat it as already done."""


class _ServerError(Exception):
    """The API answered with a 5xx status (toxiproxy-python would ignore it)."""


class _BoundedRequests:
    """Stands in for the `requests` module inside toxiproxy-python: adds a timeout and turns 5xx into
    errors. Installed by `_call` on the worker thread only."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def _check(self, resp: requests.Response) -> requests.Response:
        if resp.status_code >= 500:
            raise _ServerError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return resp

    def get(self, **kw: Any) -> requests.Response:
        return self._check(requests.get(timeout=self.timeout_s, **kw))

    def post(self, **kw: Any) -> requests.Response:
        return self._check(requests.post(timeout=self.timeout_s, **kw))

    def delete(self, **kw: Any) -> requests.Response:
        return self._check(requests.delete(timeout=self.timeout_s, **kw))


class ToxiproxyAPI:
    """Async access to one Toxiproxy-API server (the official one or ours on noxious).

    Args:
        host, port: the REST API address (127.0.0.1 and the published port).
        timeout_s: the bound of one HTTP call to the API.

    Every method raises `InfraError` with a message naming the server and what to check, except where
    it says otherwise.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8474, timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self._requests = _BoundedRequests(timeout_s)
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ToxiproxyAPI({self.host}:{self.port})"

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        def run() -> T:
            # Set the library's globals for this call only, and put them back, so code that uses
            # toxiproxy-python directly (tests) sees the library as it was.
            saved = (_tp_api.APIConsumer.host, _tp_api.APIConsumer.port, _tp_api.requests)
            _tp_api.APIConsumer.host = self.host
            _tp_api.APIConsumer.port = self.port
            _tp_api.requests = self._requests  # see _BoundedRequests
            try:
                return fn()
            finally:
                _tp_api.APIConsumer.host, _tp_api.APIConsumer.port, _tp_api.requests = saved

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(_EXECUTOR, run), self._timeout_s * 4)
        except (requests.ConnectionError, requests.Timeout, asyncio.TimeoutError):
            raise InfraError(f"Toxiproxy API at {self.host}:{self.port} did not answer ({what}); is the "
                             "toxiproxy container up? check `docker ps` / `paxos-chaos status`") from None
        except NotFound as exc:
            raise _NotFoundError(f"Toxiproxy at {self.host}:{self.port}: {what}: not found "
                                 f"({_text(exc)})") from None
        except (ProxyExists, InvalidToxic, _ServerError) as exc:
            raise InfraError(f"Toxiproxy at {self.host}:{self.port} refused {what}: "
                             f"{_text(exc)}") from None
        except (ValueError, KeyError, TypeError, requests.RequestException) as exc:
            # Not JSON, or JSON without the fields toxiproxy-python expects: not a Toxiproxy API.
            raise InfraError(f"{self.host}:{self.port} answered {what} in a way Toxiproxy does not "
                             f"({type(exc).__name__}: {_text(exc)[:120]}); is that port the Toxiproxy "
                             "API?") from None

    async def version(self) -> str:
        """The server's version string."""
        raw = await self._call("GET /version", lambda: _tp_api.APIConsumer.get("/version").content)
        return bytes(raw).decode("utf-8", "replace").strip()

    async def proxies(self) -> dict[str, ProxyInfo]:
        """All proxies by name."""
        try:
            found = await self._call("GET /proxies", lambda: Toxiproxy().proxies())
        except _NotFoundError:
            raise InfraError(f"{self.host}:{self.port} has no GET /proxies; is that port the "
                             "Toxiproxy API?") from None
        return {name: _proxy_info(p) for name, p in found.items()}

    async def create_proxy(self, name: str, *, listen: str, upstream: str) -> ProxyInfo:
        """Create an enabled proxy. `listen` is `host:port` (port 0 lets the server choose)."""
        made = await self._call(f"create proxy {name}",
                                lambda: Toxiproxy().create(upstream=upstream, name=name, listen=listen))
        return _proxy_info(made)

    async def delete_proxy(self, name: str) -> bool:
        """Delete a proxy; False if it did not exist."""
        try:
            return await self._call(f"delete proxy {name}", lambda: _proxy(name).destroy())
        except _NotFoundError:
            return False

    async def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a proxy (disabled = not listening, open connections closed)."""
        p = _proxy(name)
        await self._call(f"{'enable' if enabled else 'disable'} proxy {name}",
                         p.enable if enabled else p.disable)

    async def add_toxic(self, proxy: str, *, name: str, type: str, stream: str = "downstream",
                        toxicity: float = 1.0, attributes: dict[str, int] | None = None) -> None:
        """Add a toxic to `proxy`. The name must be unique on that proxy."""
        await self._call(
            f"add {type} toxic {name} on {proxy}",
            lambda: _proxy(proxy).add_toxic(name=name, type=type, stream=stream, toxicity=toxicity,
                                            attributes=dict(attributes or {})))

    async def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove a toxic; False if it (or its proxy) did not exist. Idempotent, for heals."""
        try:
            return await self._call(f"remove toxic {name} from {proxy}",
                                    lambda: _proxy(proxy).destroy_toxic(name))
        except _NotFoundError:
            return False

    async def toxics(self, proxy: str) -> list[ToxicInfo]:
        """The toxics on `proxy`."""
        found = await self._call(f"list toxics of {proxy}", lambda: _proxy(proxy).toxics())
        return [ToxicInfo(name=t.name, type=t.type, stream=t.stream, toxicity=float(t.toxicity),
                          attributes=dict(t.attributes)) for t in found.values()]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (the heal-everything of the server)."""
        await self._call("POST /reset", lambda: Toxiproxy().reset())


def _proxy(name: str) -> Proxy:
    # The library's Proxy only needs its name for toxic and enable calls; no lookup round trip.
    return Proxy(name=name, upstream="", enabled=True, listen="")


def _proxy_info(p: Proxy) -> ProxyInfo:
    return ProxyInfo(name=str(p.name), listen=str(p.listen), upstream=str(p.upstream),
                     enabled=bool(p.enabled))


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    raw = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return raw.strip()[:300]




# -- the link nemesis ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedFault:
    """What applying a step did, so its heal undoes exactly that: toxics added and proxies disabled."""

    step: int
    description: str
    toxics: tuple[tuple[str, str], ...]  # (proxy, toxic name)
    disabled: tuple[str, ...]


class ToxiproxyNemesis:
    """Applies and heals the network steps of a fault plan (`Partition`, `LinkToxic`).

    Obligations: call `setup` before the first step (it heals everything and checks that every
    `ni-nj` and `client-ni` proxy exists), `heal` each applied step (idempotent), and `teardown` at the
    end of every run, also after an error (it heals everything again).
    """

    def __init__(self, api: ToxiproxyAPI, *, size: int) -> None:
        self.api = api
        self.size = size
        self._applied: dict[int, AppliedFault] = {}
        self._disables: Counter[str] = Counter()

    def expected_proxies(self) -> list[str]:
        nodes = range(1, self.size + 1)
        return [proxy_name(i, j) for i in nodes for j in nodes if i != j] + [f"client-n{i}" for i in nodes]

    async def setup(self) -> None:
        """Heal everything and check the topology. Raises InfraError naming missing proxies."""
        have = await self.heal_all()
        missing = [p for p in self.expected_proxies() if p not in have]
        if missing:
            raise InfraError(f"Toxiproxy at {self.api.host}:{self.api.port} lacks proxies "
                             f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}; "
                             f"was the cluster started for {self.size} replicas? (`paxos-chaos up`)")

    async def apply(self, step: FaultStep, *, leader: int | None = None) -> AppliedFault:
        """Apply one network step. `leader` is needed for leader-targeted steps.

        Raises:
            InfraError: the server refused or did not answer (what was added so far stays recorded
                and is removed by `heal`).
            ValueError: the step targets the leader and `leader` is None.
            InternalError: the step is not a network fault (process faults go to the Docker nemesis).
        """
        if step.step in self._applied:
            raise InternalError(f"fault step {step.step} applied twice")
        fault = step.fault
        if isinstance(fault, Partition):
            nodes = tuple(range(1, self.size + 1))
            grudge = fault.grudge_for(nodes=nodes, leader=leader)
            applied = await self._partition(step.step, grudge, fault.mode,
                                            describe(replace(fault, grudge=grudge)))
        elif isinstance(fault, LinkToxic):
            applied = await self._link(step.step, fault, leader)
        else:
            raise InternalError(f"ToxiproxyNemesis got a {type(fault).__name__}; route process faults "
                                "to the Docker nemesis")
        return applied

    async def heal(self, step: FaultStep | int) -> AppliedFault | None:
        """Undo one applied step; None if it was not applied (or already healed)."""
        key = step if isinstance(step, int) else step.step
        applied = self._applied.pop(key, None)
        if applied is None:
            return None
        left = _Recording(applied.step, applied.description)  # what could not be undone
        errors: list[str] = []
        for proxy, toxic in applied.toxics:
            try:
                await self.api.remove_toxic(proxy, toxic)
            except InfraError as exc:
                left.toxics.append((proxy, toxic))
                errors.append(str(exc))
        for proxy in applied.disabled:
            self._disables[proxy] -= 1
            if self._disables[proxy] > 0:
                continue
            del self._disables[proxy]
            try:
                await self.api.set_enabled(proxy, True)
            except InfraError as exc:
                self._disables[proxy] += 1
                left.disabled.append(proxy)
                errors.append(str(exc))
        if errors:
            # Keep what is still applied, so a later heal (or heal_all) can finish the job.
            self._applied[key] = left.snapshot()
            raise InfraError(f"heal of step {key} incomplete ({len(errors)} call(s) failed): {errors[0]}")
        return applied

    async def teardown(self) -> None:
        """Heal everything: every proxy enabled, every toxic removed."""
        await self.heal_all()

    async def heal_all(self) -> dict[str, ProxyInfo]:
        """Enable every proxy and remove every toxic, one by one; returns the proxies.

        Done by hand rather than with POST /reset: on the noxious-based server a reset leaves a proxy
        that had a downstream `timeout` toxic passing no data (seen with 0.1.0-noxious-1.0.4), while
        removing toxics one by one works on both servers.
        """
        self._applied.clear()
        self._disables.clear()
        proxies = await self.api.proxies()
        errors: list[str] = []
        for name, info in sorted(proxies.items()):
            try:  # one stuck proxy must not leave the others unhealed
                if not info.enabled:
                    await self.api.set_enabled(name, True)
                for toxic in await self.api.toxics(name):
                    await self.api.remove_toxic(name, toxic.name)
            except InfraError as exc:
                errors.append(str(exc))
        if errors:
            raise InfraError(f"heal-all incomplete ({len(errors)} proxies): {errors[0]}")
        return await self.api.proxies()

    async def _partition(self, step: int, grudge: Grudge, mode: str, description: str) -> AppliedFault:
        links = [proxy_name(src, dst) for src, dst in cut_links(grudge)]
        record = _Recording(step, description)
        self._applied[step] = record.snapshot()
        try:
            for proxy in links:
                if mode == "reject":
                    self._disables[proxy] += 1
                    record.disabled.append(proxy)
                    if self._disables[proxy] == 1:
                        await self.api.set_enabled(proxy, False)
                else:
                    for stream in ("upstream", "downstream"):
                        name = f"chaos-{step}-drop-{stream}"
                        record.toxics.append((proxy, name))
                        await self.api.add_toxic(proxy, name=name, type="timeout", stream=stream,
                                                 attributes={"timeout": 0})
        finally:
            self._applied[step] = record.snapshot()
        return self._applied[step]

    async def _link(self, step: int, fault: LinkToxic, leader: int | None) -> AppliedFault:
        proxies = fault.proxies(size=self.size, leader=leader)
        record = _Recording(step, _describe_link(fault, leader))
        try:
            for proxy in proxies:
                for stream in _streams_of(fault):
                    name = f"chaos-{step}-{fault.toxic}-{stream}"
                    record.toxics.append((proxy, name))
                    await self.api.add_toxic(proxy, name=name, type=fault.toxic, stream=stream,
                                             toxicity=fault.toxicity, attributes=dict(fault.attributes))
        finally:
            self._applied[step] = record.snapshot()
        return self._applied[step]


def _streams_of(fault: LinkToxic) -> tuple[str, ...]:
    """The streams a link toxic goes on: reset_peer only upstream (its first data resets the whole
    connection, a downstream copy would add nothing), every other toxic on both."""
    return ("upstream",) if fault.toxic == "reset_peer" else ("upstream", "downstream")


class _Recording:
    """Mutable collector of what an apply did so far, frozen into `AppliedFault` snapshots."""

    def __init__(self, step: int, description: str) -> None:
        self.step = step
        self.description = description
        self.toxics: list[tuple[str, str]] = []
        self.disabled: list[str] = []

    def snapshot(self) -> AppliedFault:
        return AppliedFault(step=self.step, description=self.description, toxics=tuple(self.toxics),
                            disabled=tuple(self.disabled))


def _describe_link(fault: LinkToxic, leader: int | None) -> str:
    text = describe(fault)
    return text if fault.nodes is not None else f"{text} (leader = n{leader})"
