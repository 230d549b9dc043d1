"""Cluster lifecycle: up N / down / status / wait healthy / leader lookup, by docker compose + Docker SDK.

A cluster is one compose project (`--project`, default `paxos-chaos`): a Toxiproxy container and replicas
`n1..nN` (see `harness.compose` for the topology). Host ports: the Toxiproxy API on `PORT_BASE + 474` and
proxy `client-ni` on `PORT_BASE + i`, all on 127.0.0.1 (PORT_BASE defaults to 8000, so 8474 and 8001..).

Teardown never trusts compose alone: `remove_project` deletes every container, network and volume that
carries both the compose project label and our label `io.paxos-chaos.managed=true`, so it also cleans up
after a crash, a failed test or Ctrl-C, and never touches anything that is not ours.

CLI (what `make up/down/status` call)::

    python -m harness.cluster up [--n 3] [--target paxos] [--project P] [--port-base 8000]
    python -m harness.cluster status [--project P]
    python -m harness.cluster down [--project P | --all]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import docker
import docker.errors
from docker import DockerClient
from docker.models.containers import Container

from faults.schema import PowerfsModel
from harness import compose
from harness.compose_tool import compose_command
from targets.contract import NodeState, Target, agreed_leader
from targets.errors import HarnessError, InfraError, UsageError
from targets.registry import DEFAULT_TARGET, get_target

__all__ = [
    "Cluster",
    "ClusterSpec",
    "NodeStatus",
    "agreed_leader",
    "compose_command",
    "list_projects",
    "remove_project",
]

ROOT = Path(__file__).resolve().parent.parent
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
MANAGED = f"{compose.MANAGED_LABEL}=true"
DEFAULT_PROJECT = "paxos-chaos"
API_OFFSET = 474
HTTP_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """What to start: `n` nodes of `target` with its `options`; `env` passes settings (paxos: FSYNC, BUGS)
    through to the compose file."""

    n: int = 3
    target: str = DEFAULT_TARGET
    options: Mapping[str, str] = field(default_factory=dict)
    project: str = DEFAULT_PROJECT
    port_base: int = 8000
    env: Mapping[str, str] = field(default_factory=dict)
    direct: bool = False  # benchmarks only: peers bypass Toxiproxy, replicas published on PORT_BASE+100+i
    # With a powerfs model (strict or ext4), each node's data directory runs under powerfs, so power-loss
    # faults can apply (docs/powerfs.md); None: plain volumes.
    powerfs: PowerfsModel | None = None

    def __post_init__(self) -> None:
        compose.check_size(self.n)
        get_target(self.target)
        if not 1024 <= self.port_base <= 65535 - API_OFFSET:
            raise UsageError(f"PORT_BASE={self.port_base} is out of range: use 1024..{65535 - API_OFFSET}")
        if not self.project or not all(c.isalnum() or c in "-_" for c in self.project) or self.project != self.project.lower():
            raise UsageError(f"project name {self.project!r} is invalid: use lowercase letters, digits, - and _")

    @property
    def system(self) -> Target:
        return get_target(self.target)

    @property
    def api_port(self) -> int:
        return self.port_base + API_OFFSET

    def client_port(self, i: int) -> int:
        return self.port_base + i

    def direct_port(self, i: int) -> int:
        return self.port_base + 100 + i

    def host_ports(self) -> list[int]:
        ports = [self.api_port] + [self.client_port(i) for i in range(1, self.n + 1)]
        return ports + ([self.direct_port(i) for i in range(1, self.n + 1)] if self.direct else [])


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatus:
    """One node as seen from the host: container state, Docker health, and what its target's probe saw."""

    node: int
    state: str
    health: str
    probe: NodeState

    @property
    def status(self) -> Mapping[str, Any] | None:
        return self.probe.raw

    @property
    def error(self) -> str | None:
        return self.probe.error

    @property
    def role(self) -> str | None:
        return self.probe.role


def connect() -> DockerClient:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # several unrelated exception types
        raise InfraError(f"cannot reach the Docker engine ({exc}); start Docker and check `docker ps`") from exc
    return client


def _by_project(project: str) -> dict[str, str | list[str] | bool]:
    return {"label": [MANAGED, f"{PROJECT_LABEL}={project}"]}


def list_projects(client: DockerClient) -> set[str]:
    """Every compose project that has a container, network or volume of ours."""
    found: set[str] = set()
    objs: list[Any] = list(client.containers.list(all=True, filters={"label": MANAGED}))
    objs += client.networks.list(filters={"label": MANAGED})
    objs += client.volumes.list(filters={"label": MANAGED})
    for obj in objs:
        labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
        if PROJECT_LABEL in labels:
            found.add(labels[PROJECT_LABEL])
    return found


def remove_project(client: DockerClient, project: str, *, attempts: int = 5) -> list[str]:
    """Remove every container, network and volume of `project` that carries our label; returns what went.

    Bounded retries, because a volume stays "in use" for a moment after its container is removed.
    Raises InfraError if something of ours is still there afterwards.
    """
    removed: list[str] = []
    leftovers: list[str] = []
    for _ in range(attempts):
        leftovers = []
        for c in client.containers.list(all=True, filters=_by_project(project)):
            _try(lambda c=c: c.remove(force=True, v=True), f"container {c.name}", removed, leftovers)
        for net in client.networks.list(filters=_by_project(project)):
            _try(net.remove, f"network {net.name}", removed, leftovers)
        for vol in client.volumes.list(filters=_by_project(project)):
            _try(lambda v=vol: v.remove(force=True), f"volume {vol.name}", removed, leftovers)
        if not leftovers:
            return removed
        time.sleep(0.5)
    raise InfraError(f"could not remove {', '.join(leftovers)} of project {project}; "
                     f"check `docker ps -a --filter label={PROJECT_LABEL}={project}`")


def _try(action: Any, what: str, removed: list[str], leftovers: list[str]) -> None:
    try:
        action()
        removed.append(what)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError:
        leftovers.append(what)


def port_is_free(port: int) -> bool:
    """Whether Docker could publish `port` on 127.0.0.1 now (nothing listening there).

    SO_REUSEADDR as Docker's own proxy sets it: connections in TIME_WAIT from a cluster that was just
    removed must not make the port look busy.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Cluster:
    """One running (or to-be-started) cluster. A context manager: leaving the block always tears it down.

    Obligations: `up` fails with InfraError (after tearing down what it started) when the cluster is not
    healthy within its time limit; `down` leaves nothing of the project behind or raises InfraError.
    """

    def __init__(self, spec: ClusterSpec, *, workdir: Path | None = None,
                 client: DockerClient | None = None) -> None:
        self.spec = spec
        self._client = client
        # One secret per Cluster object: the replicas' peer messages carry its HMAC (docs/replica.md).
        # A user's own PAXOS_PEER_SECRET is kept, so `docker-compose` by hand can recreate a replica.
        self._secret = os.environ.get("PAXOS_PEER_SECRET") or secrets.token_hex(32)
        default_file = (spec.n == 3 and workdir is None and not spec.direct and spec.powerfs is None
                        and spec.target == DEFAULT_TARGET)
        self.workdir = ROOT if default_file else (workdir or ROOT / "store" / "_compose" / spec.project)

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    @property
    def compose_file(self) -> Path:
        return self.workdir / compose.COMPOSE_NAME

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.spec.api_port}"

    def client_url(self, i: int) -> str:
        """Base URL of proxy `client-ni` on the host (the only way the host reaches replica i)."""
        return f"http://127.0.0.1:{self.spec.client_port(i)}"

    def direct_url(self, i: int) -> str:
        """Replica i without any proxy: only in a `direct` (benchmark) cluster."""
        if not self.spec.direct:
            raise UsageError("direct_url exists only for ClusterSpec(direct=True) benchmark clusters")
        return f"http://127.0.0.1:{self.spec.direct_port(i)}"

    @property
    def nodes(self) -> range:
        return range(1, self.spec.n + 1)

    def compose_env(self) -> dict[str, str]:
        env = {**os.environ, **self.spec.env, "PAXOS_API_PORT": str(self.spec.api_port),
               "PAXOS_PEER_SECRET": self._secret}
        env.update({f"PAXOS_CLIENT_PORT_{i}": str(self.spec.client_port(i)) for i in self.nodes})
        env.update({f"PAXOS_DIRECT_PORT_{i}": str(self.spec.direct_port(i)) for i in self.nodes})
        return env

    def compose(self, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
        """Run the compose tool on this cluster's file and project; InfraError with its stderr on failure."""
        cmd = [*compose_command(), "-p", self.spec.project, "-f", str(self.compose_file), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  env=self.compose_env(), cwd=self.workdir)
        except subprocess.TimeoutExpired as exc:
            raise InfraError(f"`{' '.join(cmd)}` did not finish in {timeout_s:.0f} s") from exc
        if proc.returncode != 0:
            raise InfraError(f"`{' '.join(cmd[:1] + list(args))}` failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-1500:]}")
        return proc

    def container(self, i: int | str) -> Container:
        """The container of replica i (or of "toxiproxy"), found by compose labels."""
        service = i if isinstance(i, str) else f"n{i}"
        labels: dict[str, str | list[str] | bool] = {
            "label": [f"{PROJECT_LABEL}={self.spec.project}", f"{SERVICE_LABEL}={service}"]}
        found = self.client.containers.list(all=True, filters=labels)
        if not found:
            raise InfraError(f"no container for {service} in project {self.spec.project}; is the cluster up?")
        return found[0]

    # ------------------------------------------------------------------ lifecycle
    def up(self, *, timeout_s: float = 120) -> None:
        """Start the cluster and wait until every container is healthy; tears down again on any failure."""
        self._check_images()
        try:
            self.spec.system.check_options(self.spec.options)
        except ValueError as exc:  # e.g. maelstrom without its node program
            raise UsageError(f"{exc}; with `up`, give it as --node PATH") from None
        busy = [p for p in self.spec.host_ports() if not port_is_free(p)]
        if busy:
            raise UsageError(f"ports {busy} on 127.0.0.1 are in use: is a cluster already up (`make status`)? "
                             "Choose another PORT_BASE, e.g. `make up PORT_BASE=9000`")
        if self.workdir != ROOT:
            compose.write_cluster_files(self.spec.n, self.workdir, target=self.spec.system,
                                        options=self.spec.options, direct=self.spec.direct,
                                        powerfs=self.spec.powerfs)
        deadline = time.monotonic() + timeout_s
        try:
            self.compose("up", "-d", "--no-build", timeout_s=timeout_s)
            self.wait_healthy(timeout_s=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.down()
            raise

    def down(self) -> list[str]:
        """Remove the project's containers, networks and volumes (compose first, then the label sweep)."""
        if self.compose_file.exists():
            try:
                self.compose("down", "-v", "--remove-orphans", "-t", "3", timeout_s=120)
            except InfraError:
                pass  # the label sweep below is authoritative
        return remove_project(self.client, self.spec.project)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def _check_images(self) -> None:
        for image in (self.spec.system.image, compose.TOXIPROXY_IMAGE):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound as exc:
                raise InfraError(f"image {image} is missing: run `make images` first") from exc

    # ------------------------------------------------------------------ observation
    def health(self) -> dict[str, str]:
        """Docker's view of every service: `healthy`, `starting`, `unhealthy`, or the container state."""
        out: dict[str, str] = {}
        for c in self.client.containers.list(all=True, filters=_by_project(self.spec.project)):
            c.reload()
            service = str(c.labels.get(SERVICE_LABEL, c.name))
            state = c.attrs.get("State", {})
            running = bool(state.get("Running"))
            out[service] = str(state.get("Health", {}).get("Status", "none") if running else state.get("Status", "?"))
        return out

    def wait_healthy(self, *, timeout_s: float = 60, services: Sequence[str] | None = None) -> None:
        """Poll Docker health until every service (default: toxiproxy + all replicas) is healthy."""
        wanted = list(services or ["toxiproxy", *[f"n{i}" for i in self.nodes]])
        deadline = time.monotonic() + timeout_s
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            health = self.health()
            if all(health.get(s) == "healthy" for s in wanted):
                return
            if any(health.get(s) in ("exited", "dead") for s in wanted):
                break  # no restart policy: a node that exited will not become healthy; say so now
            time.sleep(0.3)
        bad = {s: health.get(s, "missing") for s in wanted if health.get(s) != "healthy"}
        logs = "; ".join(f"{s} ({state}): last log lines: {self._log_tail(s) or '(empty)'}" for s, state in bad.items())
        raise InfraError(f"target {self.spec.target}: node(s) {', '.join(bad)} of cluster {self.spec.project} "
                         f"did not become healthy (limit {timeout_s:.0f} s): {logs}")

    def _log_tail(self, service: str) -> str:
        try:
            raw: bytes = self.container(service).logs(tail=5)
            return raw.decode("utf-8", "replace").strip()[-600:]
        except (InfraError, docker.errors.APIError):
            return ""

    def _container_state(self, i: int) -> tuple[str, str]:
        try:
            c = self.container(i)
            c.reload()
            state = c.attrs.get("State", {})
            return str(state.get("Status", "?")), str(state.get("Health", {}).get("Status", "-"))
        except InfraError:
            return "missing", "-"

    def node_status(self, i: int) -> NodeStatus:
        """Node i's container state, health, and its target's probe through `client-ni`."""
        cstate, health = self._container_state(i)
        probe = self.spec.system.probe(i, self.client_url(i), timeout_s=HTTP_TIMEOUT_S)
        return NodeStatus(node=i, state=cstate, health=health, probe=probe)

    def status(self) -> list[NodeStatus]:
        return [self.node_status(i) for i in self.nodes]

    def common_states(self) -> list[NodeState]:
        """Every node's (index, digest) at a point they can be compared at (the target's state probe)."""
        urls = {i: self.client_url(i) for i in self.nodes}
        return self.spec.system.common_states(urls, timeout_s=HTTP_TIMEOUT_S)

    def leader(self, *, timeout_s: float = 30, among: Sequence[int] | None = None) -> int:
        """The node that says it leads and that a majority of the cluster names as leader."""
        nodes = list(among or self.nodes)
        deadline = time.monotonic() + timeout_s
        seen: list[NodeState] = []
        system = self.spec.system
        while time.monotonic() < deadline:
            seen = [system.probe(i, self.client_url(i), timeout_s=HTTP_TIMEOUT_S) for i in nodes]
            found = agreed_leader(seen, n=self.spec.n)
            if found is not None:
                return found
            time.sleep(0.3)
        summary = {s.node: (s.role, s.leader, s.error) for s in seen}
        raise InfraError(f"no agreed leader among {nodes} after {timeout_s:.0f} s: {summary}")


# ------------------------------------------------------------------------------------------- CLI


def print_status(cluster: Cluster) -> None:
    health = cluster.health()
    if not health:
        print(f"project {cluster.spec.project}: no containers (start one with `make up`)")
        return
    print(f"project {cluster.spec.project}: toxiproxy {health.get('toxiproxy', 'missing')}, "
          f"API {cluster.api_url}")
    for s in cluster.status():
        p = s.probe
        print(f"  n{s.node}: {s.state}/{s.health} via {cluster.client_url(s.node)}  role={p.role or '-'} "
              f"leader={p.leader if p.leader is not None else '-'} index={p.index if p.index is not None else '-'}"
              + (f"  ({p.error})" if p.error else ""))


def add_arguments(p: argparse.ArgumentParser, cmd: str) -> None:
    """The options of `up`, `status` or `down` (here and under `paxos-chaos`; `--project` is the caller's)."""
    if cmd == "down":
        p.add_argument("--all", action="store_true", help="remove every paxos-chaos project, not just --project")
        return
    p.add_argument("--n", type=int, default=int(os.environ.get("N", "3")), help="nodes: 3, 5 or 7")
    p.add_argument("--target", default=os.environ.get("TARGET") or DEFAULT_TARGET,
                   help="the system under test: paxos (default), etcd or maelstrom")
    if cmd == "up":
        p.add_argument("--node", default=os.environ.get("NODE") or None, metavar="PATH",
                       help="target maelstrom: the node program to run")
    p.add_argument("--port-base", type=int, default=int(os.environ.get("PORT_BASE", "8000")),
                   help="Toxiproxy API on PORT_BASE+474, client-ni on PORT_BASE+i (default 8000)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for health (default 120)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.cluster", description="paxos-chaos cluster lifecycle")
    p.add_argument("--project", default=os.environ.get("PROJECT", DEFAULT_PROJECT),
                   help="compose project name (default paxos-chaos)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("up", "status", "down"):
        add_arguments(sub.add_parser(name), name)
    return p


def run(args: argparse.Namespace) -> int:
    if args.cmd == "down":
        client = connect()
        projects = sorted(list_projects(client)) if args.all else [args.project]
        for project in projects:
            gone = remove_project(client, project)
            print(f"project {project}: removed {len(gone)} objects" + (f" ({', '.join(gone)})" if gone else ""))
        return 0
    target = args.target
    if args.cmd == "status":  # the running cluster says what it is (the label harness.compose puts on nodes)
        labels = [c.labels.get(compose.TARGET_LABEL) for c in
                  connect().containers.list(all=True, filters=_by_project(args.project))]
        target = next((name for name in labels if name), target)
    options: dict[str, str] = {}
    if getattr(args, "node", None):
        try:
            options["node"] = get_target(target).resolve_path("node", args.node, base=Path.cwd())
        except ValueError as exc:
            raise UsageError(f"--node {exc}") from None
    spec = ClusterSpec(n=args.n, project=args.project, port_base=args.port_base, target=target, options=options)
    cluster = Cluster(spec)
    if args.cmd == "status":
        print_status(cluster)
        return 0
    t0 = time.monotonic()
    cluster.up(timeout_s=args.timeout)
    print(f"cluster {spec.project} healthy in {time.monotonic() - t0:.1f} s: {spec.n} {spec.target} nodes, "
          f"Toxiproxy API {cluster.api_url}, clients {cluster.client_url(1)} .. {cluster.client_url(spec.n)}")
    print_status(cluster)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except HarnessError as exc:
        print(f"harness.cluster {args.cmd}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
