"""Target `paxos` (the default): our Multi-Paxos replica from `replica_image/` (docs/replica.md).

Node i gets `PEERS` naming, for every other node j, proxy `ni-nj`; its peer listener (7100) is what
those proxies forward to and is never published. The client adapter speaks the replica's HTTP API
(docs/replica-contract.md): the outcome rules below are the replica's own status codes. Probes read
`/status` (role, leader, applied index, state digest). Its option is `cluster.bugs` (the `BUGS`
switch, section 9 of DESIGN); the timing knobs pass through from the environment.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from replica_image.bugs import KNOWN_BUGS, parse_bugs
from targets.contract import OPS, Answer, NodeState, Op, Target, http_healthcheck, http_json, json_object
from targets.errors import InfraError

__all__ = ["PAXOS", "PaxosTarget"]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "replica_image"
REPLICA_PORT = 7000
PEER_PORT = 7100
TUNABLES = ("TICK_MS", "HEARTBEAT_MS", "ELECTION_TIMEOUT_MS", "REQUEST_TIMEOUT_MS", "SNAPSHOT_EVERY")
DEFAULT_MIX = (("get", 40.0), ("put", 25.0), ("append", 20.0), ("cas", 10.0), ("delete", 5.0))


class PaxosAdapter:
    """The replica's HTTP API. 200 ok; 409 precondition (fail); other 4xx fail (refused: malformed 400,
    too large 413, too slow 408, request id reused 422); 503 `proposed: false` not applied (retry,
    maybe at the `leader` hint); anything else (503 proposed, an odd status or body) unknown."""

    async def attempt(self, session: aiohttp.ClientSession, base_url: str, op: Op, *, client_id: str,
                      request_id: int, timeout: aiohttp.ClientTimeout) -> Answer:
        method, path, body = _http_request(op)
        headers = {"X-Client-Id": client_id, "X-Request-Id": str(request_id)}
        async with session.request(method, base_url + path, json=body, headers=headers, timeout=timeout) as resp:
            raw = await resp.read()
            return interpret(op, resp.status, raw)


def _http_request(op: Op) -> tuple[str, str, dict[str, str | None] | None]:
    path = f"/kv/{quote(op.key, safe='')}"
    match op.f:
        case "get":
            return "GET", path, None
        case "delete":
            return "DELETE", path, None
        case "put":
            return "PUT", path, {"value": op.value}
        case "append":
            return "POST", path + "/append", {"value": op.value}
        case _:
            return "POST", path + "/cas", {"expect": op.expect, "value": op.value}


def interpret(op: Op, status: int, raw: bytes) -> Answer:
    """Map one HTTP answer of the replica to an `Answer`."""
    body = json_object(raw)
    if status == 200:
        if op.f != "get":
            return Answer(kind="ok")
        if body is None or "value" not in body or not (body["value"] is None or isinstance(body["value"], str)):
            return Answer(kind="unknown", error=f"200 without a string value: {raw[:80]!r}")
        return Answer(kind="ok", read=body["value"])
    if status == 409:
        return Answer(kind="fail", error="precondition")
    if 400 <= status < 500:
        msg = body.get("error") if body else None
        text = msg if isinstance(msg, str) else raw[:120].decode("utf-8", "replace")
        return Answer(kind="fail", error=f"{status}: {text[:200]}")
    if status == 503 and body is not None and body.get("proposed") is False:
        leader = body.get("leader")
        return Answer(kind="not-applied", error="unavailable (not proposed)",
                      leader=leader if isinstance(leader, int) and not isinstance(leader, bool) else None)
    return Answer(kind="unknown", error=f"{status}{' proposed' if status == 503 else ''}")


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class PaxosTarget(Target):
    name = "paxos"
    image = "paxos-chaos/replica:latest"
    entrypoint = ("python3", "-m", "replica_image")  # the Dockerfile's ENTRYPOINT (powerfs starts it)
    run_as = "paxos"  # the Dockerfile's USER
    description = "our Multi-Paxos replicated key-value store (replica_image/)"
    client_port = REPLICA_PORT
    ops = OPS
    default_mix = DEFAULT_MIX
    dedup = True
    known_bugs = KNOWN_BUGS

    def parse_bugs(self, names: Sequence[str]) -> tuple[str, ...]:
        return parse_bugs(names)  # the replica's own parser: what BUGS= accepts

    def sources(self) -> list[Path]:
        return [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]

    def build_context(self, ctx: Path, *, base: str, project_base: bool) -> None:
        if not (PACKAGE / "__main__.py").exists():
            raise InfraError("replica_image/__main__.py does not exist: the replica cannot be started")
        (ctx / "wheels").mkdir(parents=True)
        shutil.copytree(PACKAGE, ctx / "replica_image", ignore=shutil.ignore_patterns("__pycache__", "*.pyc",
                                                                                    "Dockerfile"))
        shutil.copy(PACKAGE / "Dockerfile", ctx / "Dockerfile")
        if not project_base:
            _host_aiohttp_wheels(ctx / "wheels")
        (ctx / "wheels" / ".keep").touch()

    def peer_port(self, j: int) -> int:
        return PEER_PORT

    def service(self, i: int, n: int, *, routes: Mapping[int, str], options: Mapping[str, str]) -> dict[str, Any]:
        peers = ",".join(f"{j}=http://{routes[j]}" if j != i else f"{j}=http://n{j}:{PEER_PORT}"
                         for j in range(1, n + 1))
        return {
            "image": self.image,
            "environment": {
                "NODE_ID": str(i),
                "PEERS": peers,
                "LISTEN": f"0.0.0.0:{REPLICA_PORT}",
                "PEER_LISTEN": f"0.0.0.0:{PEER_PORT}",
                "PEER_SECRET": "${PAXOS_PEER_SECRET:-}",
                "DATA_DIR": self.data_dir,
                "FSYNC": "${FSYNC:-always}",
                "BUGS": "${BUGS:-}",
                # Empty means the replica's default (replica_image/config.py); the harness may tune these.
                **{name: f"${{{name}:-}}" for name in TUNABLES},
            },
            "healthcheck": http_healthcheck(REPLICA_PORT, retries=30, start_period="2s"),
            "stop_grace_period": "5s",
        }

    def adapter(self, options: Mapping[str, str]) -> PaxosAdapter:
        return PaxosAdapter()

    def probe(self, node: int, url: str, *, timeout_s: float) -> NodeState:
        try:
            status, body = http_json("GET", f"{url}/status", timeout_s=timeout_s)
        except (OSError, ValueError) as exc:
            return NodeState(node=node, error=str(exc)[:200])
        if status != 200 or not isinstance(body, dict):
            return NodeState(node=node, error=f"/status answered {status}")
        role = body.get("role")
        digest = body.get("state_digest")
        return NodeState(node=node, role=str(role).lower() if role is not None else None,
                         leader=_int(body.get("leader", body.get("leader_id"))), index=_int(body.get("applied_index")),
                         digest=digest if isinstance(digest, str) else None, raw=body)


def _host_aiohttp_wheels(dest: Path) -> None:
    """aiohttp wheels (the host's version) for a base without aiohttp; best effort, offline is fine."""
    try:
        from importlib.metadata import version

        pin = f"aiohttp=={version('aiohttp')}"
    except Exception:
        pin = "aiohttp"
    machine = {"arm64": "aarch64"}.get(platform.machine(), platform.machine())
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(dest),
           "--python-version", "3.11", "--implementation", "cp",
           "--platform", f"manylinux_2_17_{machine}", "--platform", f"manylinux2014_{machine}", pin]
    print(f"[images] downloading {pin} wheels for the image (the base has no aiohttp)", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        print(f"[images]   wheel download failed, the build needs aiohttp in the base: {proc.stderr.strip()[-200:]}",
              file=sys.stderr)


PAXOS = PaxosTarget()
