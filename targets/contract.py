"""The target contract: everything the harness may know about a system under test (DESIGN 13).

A target says, in one place (docs/targets.md walks through writing one):

- its image: `image` (the tag) and `build_context` (fills a Docker build context from files of the
  project; the harness builds it on the offline Debian base, so no registry is needed);
- how node i of N starts: `service(i, n, options)`, a compose service fragment (image, command,
  environment, capabilities, health check); the harness adds the network, the data volume at
  `data_dir`, the labels and the Toxiproxy routing. Node i reaches node j only through proxy `ni-nj`,
  which forwards to port `peer_port(j)` of node j; the host reaches node i only through `client-ni`,
  which forwards to `client_port`. How the node is made to dial the proxy is the target's business
  (per-node PEERS for paxos, port-matched DNAT for etcd);
- the client: `adapter(options)` turns one `Op` into requests against `client-ni` and the answer into an
  `Answer` (Jepsen's rule: `fail` or `not-applied` only when the op certainly did not take effect);
- which ops it supports (`ops`) and its default mix, its options (`options`, validated like every key
  of a scenario), whether a retried request is applied once (`dedup`), and the faults it cannot take;
- optional probes: `probe` (one node's role, leader and state digest) and `common_states` (every node's
  digest at a common point). A target without a probe says so (`leader_probe`, `state_probe` False) and
  the report shows the check as "not available", never as a pass.

Pure declarations plus small synchronous HTTP probes to 127.0.0.1; no Docker here (the harness owns it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Protocol

import aiohttp

__all__ = [
    "POWERFS_PATH",
    "OPS", "Answer", "ClientAdapter", "NodeState", "Op", "OpName", "Target", "TargetOption", "agreed_leader",
    "http_healthcheck", "http_json", "json_object",
]

OpName = Literal["get", "put", "append", "delete", "cas"]
OPS: tuple[OpName, ...] = ("get", "put", "append", "delete", "cas")


# Every target image carries powerfs (faults/powerfs, built by harness/images.py) here.
POWERFS_PATH = "/usr/local/bin/powerfs"

@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One operation to perform. `value` is the written value (put/append/cas), `expect` the cas
    precondition (None = the key is absent)."""

    f: OpName
    key: str
    value: str | None = None
    expect: str | None = None

    def __post_init__(self) -> None:
        writes = self.f in ("put", "append", "cas")
        if writes != (self.value is not None):
            raise ValueError(f"{self.f} {'needs' if writes else 'takes no'} value, got {self.value!r}")
        if self.f != "cas" and self.expect is not None:
            raise ValueError(f"only cas takes expect, {self.f} got {self.expect!r}")


AnswerKind = Literal["ok", "fail", "not-applied", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """How one attempt ended, as the target's adapter reads the system's answer.

    - `ok`: it took effect (a get carries the value read in `read`; None = absent);
    - `fail`: it certainly did not take effect and retrying will not help (a cas whose expectation did
      not hold: error `precondition`; a request the system refused as malformed);
    - `not-applied`: it certainly did not take effect and may be retried (no leader, overloaded);
      `leader` is a hint where to retry;
    - `unknown`: it may or may not take effect (a timeout, an ambiguous error): the op ends `info`.
    """

    kind: AnswerKind
    read: str | None = None
    error: str | None = None
    leader: int | None = None


class ClientAdapter(Protocol):
    """Runs one attempt of an op against one node's client endpoint (the `client-ni` proxy).

    Network exceptions (aiohttp's) propagate: the recording client classifies them once for every
    target (a connection never opened is `not-applied`, anything after the request left is `unknown`).
    """

    async def attempt(self, session: aiohttp.ClientSession, base_url: str, op: Op, *, client_id: str,
                      request_id: int, timeout: aiohttp.ClientTimeout) -> Answer: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeState:
    """One node as its probe saw it at one instant. `index` and `digest` are a point in the node's
    history and the state there (equal indexes must mean equal digests); None when not known. Nodes
    have converged when they report the same `head` (default: `index`) and the same digest."""

    node: int
    role: str | None = None
    leader: int | None = None
    index: int | None = None
    digest: str | None = None
    head: int | None = None  # the node's own latest point when `index` is a common one (etcd's revision)
    raw: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetOption:
    """A target-specific key of the scenario's `cluster:` section: one of `choices` (etcd's `reads`), or
    with `kind="path"` a file of the host (maelstrom's `node`), resolved against the scenario file's
    folder and checked by `Target.check_path`. A path option with `default=""` must be given."""

    name: str
    choices: tuple[str, ...] = ()
    default: str
    doc: str
    kind: Literal["choice", "path"] = "choice"


class Target(ABC):
    """One system under test. Subclasses set the class attributes and implement the abstract methods."""

    name: str
    image: str
    description: str
    client_port: int
    ops: tuple[OpName, ...]
    default_mix: tuple[tuple[str, float], ...]
    options: tuple[TargetOption, ...] = ()
    dedup: bool = False  # a retried (client id, request id) is applied once: `retry_unknown` is sound
    known_bugs: frozenset[str] = frozenset()  # deliberate bugs it can switch on (`cluster.bugs`)
    unsupported_faults: Mapping[str, str] = MappingProxyType({})  # fault kind -> why not
    leader_probe: bool = True
    state_probe: bool = True
    data_dir: str = "/data"
    start_timeout_s: float = 120.0
    # The image's ENTRYPOINT and the user it runs as: under powerfs (power-loss faults) the container
    # starts as root with `powerfs --user <run_as> <data_dir> -- <entrypoint>`, so both must be known.
    entrypoint: tuple[str, ...] = ()
    run_as: str = "root"

    # -- image ---------------------------------------------------------------------------------------
    @abstractmethod
    def sources(self) -> list[Path]:
        """The files the image is built from (their hash decides whether a rebuild is needed)."""

    @abstractmethod
    def build_context(self, ctx: Path, *, base: str, project_base: bool) -> None:
        """Fill the empty directory `ctx` with a Dockerfile (ARG BASE_IMAGE) and what it copies.

        `base` is the image it is built on; `project_base` says it is the project's own offline Debian
        base (python3 + aiohttp from Debian), not a python:3.11-slim found locally.

        Raises InfraError with what to install when something needed on the host is missing.
        """

    # -- nodes ---------------------------------------------------------------------------------------
    @abstractmethod
    def peer_port(self, j: int) -> int:
        """The port of node j that proxy `ni-nj` (any i) forwards to."""

    @abstractmethod
    def service(self, i: int, n: int, *, routes: Mapping[int, str], options: Mapping[str, str]) -> dict[str, Any]:
        """Node i's compose service fragment: image, command/environment, health check, capabilities.

        `routes[j]` is `host:port` of proxy `ni-nj` (node i's only way to node j, j != i).
        """

    # -- clients and probes --------------------------------------------------------------------------
    @abstractmethod
    def adapter(self, options: Mapping[str, str]) -> ClientAdapter:
        """The client adapter for these options."""

    def probe(self, node: int, url: str, *, timeout_s: float) -> NodeState:
        """Node `node`'s role, leader and state through its client endpoint `url`; never raises."""
        return NodeState(node=node, error="this target has no probe")

    def common_states(self, urls: Mapping[int, str], *, timeout_s: float) -> list[NodeState]:
        """Every node's (index, digest) at a point they can all be compared at; default: one probe each."""
        return [self.probe(i, url, timeout_s=timeout_s) for i, url in sorted(urls.items())]

    def parse_bugs(self, names: Sequence[str]) -> tuple[str, ...]:
        """The bug names, checked; ValueError naming an unknown one (default: this target has none)."""
        if names:
            raise ValueError(f"target {self.name} has no deliberate bugs")
        return ()

    def check_path(self, option: str, path: Path) -> str | None:
        """What is wrong with `path` (absolute) as the value of path option `option`, or None if nothing."""
        return None

    def resolve_path(self, option: str, raw: str, *, base: Path) -> str:
        """The value of path option `option` as given (`raw`, relative to `base`): absolute and checked.

        The one rule for the scenario's `cluster.<option>` (base: the scenario's folder) and the command
        line's `--<option>` (base: the working folder). ValueError says what is wrong and how to fix it.
        """
        if not raw.strip() or "\0" in raw or len(raw) > 4096:
            raise ValueError(f"{raw[:60]!r} is not a path; give the file's path, e.g. ./my-node.py")
        path = (base / Path(raw).expanduser()).resolve()
        why = self.check_path(option, path)
        if why is not None:
            raise ValueError(f"{raw} ({path}): {why}" if str(path) != raw else f"{raw}: {why}")
        return str(path)

    def check_options(self, options: Mapping[str, str]) -> dict[str, str]:
        """The options with defaults filled in; ValueError naming the key and the choices otherwise
        (also for a path option that must be given and is not)."""
        known = {o.name: o for o in self.options}
        out = {o.name: o.default for o in self.options}
        for key, value in options.items():
            opt = known.get(key)
            if opt is None:
                raise ValueError(f"target {self.name} has no option {key!r}")
            if opt.kind == "choice" and value not in opt.choices:
                raise ValueError(f"{key}: {value!r} is not one of {', '.join(opt.choices)}")
            out[key] = value
        for opt in self.options:
            if opt.kind == "path" and not out[opt.name]:
                raise ValueError(f"target {self.name} needs `{opt.name}`: {opt.doc}")
        return out


def http_healthcheck(port: int, *, retries: int = 30, start_period: str = "2s") -> dict[str, Any]:
    """A compose `healthcheck`: the image's python3 GETs http://127.0.0.1:<port>/health inside the
    container every second; healthy on a 2xx (every target image has python3: the project's base)."""
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)"
    return {"test": ["CMD", "python3", "-c", probe], "interval": "1s", "timeout": "3s", "retries": retries,
            "start_period": start_period}


def agreed_leader(states: Sequence[NodeState], *, n: int) -> int | None:
    """A node that says it leads and that a majority of the cluster (n//2+1) names as its leader.

    A lone old leader behind a partition still says "leader", so its own word is not enough.
    """
    votes: dict[int, int] = {}
    for s in states:
        if s.leader is not None:
            votes[s.leader] = votes.get(s.leader, 0) + 1
    for s in states:
        if s.role == "leader" and votes.get(s.node, 0) >= n // 2 + 1:
            return s.node
    return None


def http_json(method: str, url: str, body: Any = None, *, timeout_s: float) -> tuple[int, Any]:
    """One small JSON request for a probe: (status, decoded body or None). OSError/ValueError propagate
    for no answer or no JSON (the probe turns them into `NodeState.error`)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (127.0.0.1 only)
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw else None


def json_object(raw: bytes) -> dict[str, Any] | None:
    """`raw` as a JSON object, or None (empty, not JSON, not an object): adapters read answers with it."""
    try:
        obj = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None
