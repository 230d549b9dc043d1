"""Process faults through the Docker SDK: kill -9, restart, pause/unpause.

The nemesis is handed a lookup from replica id to container (the cluster knows the compose labels;
this module does not). The Docker SDK is synchronous, so every call runs in a worker thread
(`asyncio.to_thread`) and never blocks the event loop that is also driving the workload.

Every action is bounded in time and raises `InfraError` with a message that says what to check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import docker.errors
from docker.models.containers import Container

from targets.errors import InfraError

__all__ = ["DockerProcesses"]

log = logging.getLogger(__name__)

ContainerLookup = Callable[[int], Container]


class DockerProcesses:
    """Kill, restart, pause and unpause the replica containers of one cluster.

    Args:
        nodes: the replica ids.
        lookup: replica id -> its container (raises InfraError when there is none).
    """

    def __init__(self, *, nodes: Sequence[int], lookup: ContainerLookup) -> None:
        self._nodes = tuple(nodes)
        self._lookup = lookup

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
        for node in self._nodes:
            status = await asyncio.to_thread(self._status, node)
            if status == "paused":
                await self.unpause(node)
                healed.append(node)
            elif status in ("exited", "created", "dead"):
                await self.start(node)
                healed.append(node)
        return healed

    def _status(self, node: int) -> str:
        container = self._lookup(node)
        container.reload()
        return str(container.status)

    async def _do(self, node: int, what: str, action: Any) -> None:
        def run() -> None:
            container = self._lookup(node)
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
