"""Process and disk faults through the Docker SDK: kill -9, restart, pause/unpause, power loss, corrupt.

The nemesis is handed a lookup from replica id to container (the cluster knows the compose labels;
this module does not). The Docker SDK is synchronous, so every call runs in a worker thread
(`asyncio.to_thread`) and never blocks the event loop that is also driving the workload.

Every action is bounded in time and raises `InfraError` with a message that says what to check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import docker.errors
from docker.models.containers import Container

from faults import corrupt
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

    async def power_loss(self, node: int) -> None:
        """Cut the node's power: powerfs (its PID 1) kills every process, drops every write that was not
        fsynced, and exits. The node stays down until started (docs/powerfs.md)."""
        await self._do(node, "power-loss", lambda c: c.kill(signal="SIGUSR1"))
        await asyncio.to_thread(self._wait_exited, node, "power-loss",
                                "is the cluster running under powerfs (a scenario with a power-loss fault)?")

    async def corrupt(self, node: int, *, where: str, salt: int, data_dir: str) -> dict[str, object]:
        """Kill the node (-9), then damage its stopped data files (faults/corrupt.py) from a one-shot
        container on the node's own image and volumes. Returns what was damaged."""
        await self.kill(node)
        await asyncio.to_thread(self._wait_exited, node, "corrupt", "")

        def run() -> dict[str, object]:
            container = self._lookup(node)
            source = Path(corrupt.__file__).read_text(encoding="utf-8")
            client, image = container.client, container.attrs.get("Image")
            if client is None or not isinstance(image, str) or container.id is None:
                raise InfraError(f"corrupt: container of n{node} has no image or client")
            try:
                out = client.containers.run(
                    image, entrypoint=["python3", "-c", source, data_dir, where, str(salt)],
                    volumes_from=[container.id], user="0:0", network_disabled=True, remove=True,
                    labels={k: v for k, v in container.labels.items()  # ours, so teardown finds it
                            if k.startswith("io.paxos-chaos.") or k == "com.docker.compose.project"}
                    | {"io.paxos-chaos.node": f"corrupt-n{node}"},
                    stdout=True, stderr=True)
            except docker.errors.DockerException as exc:
                raise InfraError(f"corrupting n{node}'s files failed: {_first_line(exc)}") from None
            lines = out.decode(errors="replace").strip().splitlines()
            try:
                result = json.loads(lines[-1]) if lines else None
            except ValueError:
                result = None
            if not isinstance(result, dict):
                raise InfraError(f"corrupting n{node}'s files printed no result: {out[-300:]!r}")
            return result

        log.info("disk fault: corrupt (%s) n%d", where, node)
        return await asyncio.wait_for(asyncio.to_thread(run), timeout=120.0)

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

    async def refused_start(self, node: int, *, within_s: float) -> str | None:
        """None if the node is still running `within_s` after a start; else the last line of its log (why)."""
        def watch() -> str | None:
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline:
                if self._status(node) in ("exited", "dead"):
                    lines = self._lookup(node).logs(tail=5).decode(errors="replace").strip().splitlines()
                    return lines[-1][:400] if lines else "it exited without a word"
                time.sleep(0.25)
            return None

        return await asyncio.to_thread(watch)

    def _wait_exited(self, node: int, what: str, hint: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self._status(node) not in ("exited", "dead", "created"):
            if time.monotonic() > deadline:
                raise InfraError(f"{what}: n{node} was still running {timeout_s:g}s after the signal; {hint}"
                                 .rstrip("; "))
            time.sleep(0.1)

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
        (what in ("kill", "power-loss") and "is not running" in text)
        or (what == "pause" and "already paused" in text)
        or (what == "unpause" and "is not paused" in text)
        or (what == "start" and "already started" in text)
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
