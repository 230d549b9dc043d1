"""Process faults through the Docker SDK: kill -9, restart, pause/unpause, rolling restart.

This module is the one place that knows how a replica maps to a container: compose labels
(`com.docker.compose.project`, `com.docker.compose.service` = `n<i>`). The Docker SDK is synchronous,
so every call runs in a worker thread (`asyncio.to_thread`) and never blocks the event loop that is
also driving the workload.

Every action is bounded in time and raises `InfraError` with a message that says what to check.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from harness.errors import InfraError

__all__ = ["DockerProcesses", "ProcessState", "connect"]

log = logging.getLogger(__name__)

_PROJECT_LABEL = "com.docker.compose.project"
_SERVICE_LABEL = "com.docker.compose.service"


def connect(*, timeout_s: float = 30.0) -> docker.DockerClient:
    """Connect to the local Docker engine.

    Raises:
        InfraError: the engine does not answer (one line, meant for the terminal).
    """
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfraError(
            f"Docker is not running or not reachable ({_first_line(exc)}); "
            "start the Docker engine and check `docker ps`"
        ) from None
    return client


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessState:
    """What Docker says about one replica's container."""

    node: int
    container: str
    status: str  # created | running | paused | restarting | exited | dead


class DockerProcesses:
    """Kill, restart, pause and unpause the replica containers of one compose project.

    Args:
        project: the compose project name the cluster was started with.
        client: a Docker client (from `connect()`); one is made when omitted.
    """

    def __init__(self, *, project: str, client: docker.DockerClient | None = None) -> None:
        self._project = project
        self._client = client if client is not None else connect()

    # -- lookup ---------------------------------------------------------------------------

    def _container(self, node: int) -> Container:
        found = self._client.containers.list(
            all=True,
            filters={"label": [f"{_PROJECT_LABEL}={self._project}", f"{_SERVICE_LABEL}=n{node}"]},
        )
        if not found:
            raise InfraError(
                f"no container for replica n{node} in compose project {self._project!r}; "
                "is the cluster up? (`paxos-chaos status`)"
            )
        container: Container = found[0]
        return container

    def states_sync(self) -> list[ProcessState]:
        """Every replica container of the project, by node id (blocking; for status output)."""
        states = []
        for c in self._client.containers.list(all=True, filters={"label": f"{_PROJECT_LABEL}={self._project}"}):
            service = str(c.labels.get(_SERVICE_LABEL, ""))
            if service.startswith("n") and service[1:].isdigit():
                states.append(ProcessState(node=int(service[1:]), container=str(c.name), status=str(c.status)))
        return sorted(states, key=lambda s: s.node)

    async def states(self) -> list[ProcessState]:
        return await asyncio.to_thread(self.states_sync)

    # -- actions --------------------------------------------------------------------------

    async def kill(self, node: int) -> None:
        """SIGKILL the replica: no shutdown hook runs, only what it fsynced survives."""
        await self._do(node, "kill", lambda c: c.kill(signal="SIGKILL"))

    async def start(self, node: int) -> None:
        """Start a stopped (killed) replica from its volume."""
        await self._do(node, "start", lambda c: c.start())

    async def stop(self, node: int, *, grace_s: int = 10) -> None:
        """SIGTERM, then SIGKILL after `grace_s`: a graceful stop."""
        await self._do(node, "stop", lambda c: c.stop(timeout=grace_s))

    async def restart(self, node: int, *, grace_s: int = 10) -> None:
        """Graceful restart: stop (SIGTERM, SIGKILL after `grace_s`) then start."""
        await self._do(node, "restart", lambda c: c.restart(timeout=grace_s))

    async def pause(self, node: int) -> None:
        """Freeze every process of the replica (cgroup freezer): it neither crashes nor answers."""
        await self._do(node, "pause", lambda c: c.pause())

    async def unpause(self, node: int) -> None:
        await self._do(node, "unpause", lambda c: c.unpause())

    async def heal(self) -> list[int]:
        """Undo every process fault: unpause paused replicas, start stopped ones.

        Returns the nodes that needed healing. Safe to call at any time (idempotent).
        """
        healed = []
        for state in await self.states():
            if state.status == "paused":
                await self.unpause(state.node)
                healed.append(state.node)
            elif state.status in ("exited", "created", "dead"):
                await self.start(state.node)
                healed.append(state.node)
        return healed

    async def _do(self, node: int, what: str, action: Any) -> None:
        def run() -> None:
            container = self._container(node)
            try:
                action(container)
            except docker.errors.APIError as exc:
                if _already_in_state(what, exc):
                    return
                raise InfraError(f"docker {what} of replica n{node} failed: {_first_line(exc)}") from None

        log.info("process fault: %s n%d", what, node)
        await asyncio.wait_for(asyncio.to_thread(run), timeout=60.0)


def _already_in_state(what: str, exc: docker.errors.APIError) -> bool:
    """Docker refuses to pause a paused container or kill a stopped one; for a nemesis that is success."""
    text = str(exc).lower()
    return (
        (what == "kill" and "is not running" in text)
        or (what == "pause" and "already paused" in text)
        or (what == "unpause" and "is not paused" in text)
        or (what == "start" and "already started" in text)
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
