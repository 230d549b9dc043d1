"""Target `etcd`: etcd 3.4 from Debian bookworm's `etcd-server`, driven over its v3 JSON gateway.

Routing (docs/targets.md, "etcd"): etcd advertises one peer URL per member to every member, so
per-node addresses cannot express "node i reaches j through proxy ni-nj". Member j therefore listens
for peers on its own port `2380 + j` and advertises `http://nj:<that port>`; in node i's container the
entrypoint (`entrypoint.py`, root with NET_ADMIN, then etcd as an unprivileged user) adds one iptables
DNAT rule per peer, matching the destination *port* `2380 + j` and rewriting it to proxy `ni-nj`. The
rules match ports, not addresses, so they hold when a restarted peer comes back with another IP, and
they are made again on every start (the network namespace is new). Options weighed: per-node DNS
(needs a distinct address per directed link: one Toxiproxy IP cannot be that), a Toxiproxy inside each
node's namespace (N servers, and the nemesis would need N APIs), a forwarder process per link (a hop
of our own code on every peer byte). DNAT costs nothing per byte and keeps the one Toxiproxy.

Client: the grpc-gateway JSON API on the client port (keys and values base64): get = range, put,
delete = deleterange, cas = txn comparing the value (absent: create revision 0). No append. Reads are
linearizable unless the option `reads: serializable` (then any member answers from its own state,
which is what Jepsen found stale under partitions). Outcomes follow jepsen-io/etcd (see `classify`).
Probes: leader from /v3/maintenance/status (member ids named by /v3/cluster/member/list); state: a
digest of each member's keyspace at the lowest revision every member has reached.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from targets.contract import (
    Answer,
    NodeState,
    Op,
    Target,
    TargetOption,
    http_healthcheck,
    http_json,
    json_object,
)
from targets.errors import InfraError

__all__ = ["ETCD", "EtcdAdapter", "EtcdTarget", "classify"]

HERE = Path(__file__).resolve().parent
CLIENT_PORT = 2379
PEER_PORT_BASE = 2380
DEFAULT_MIX = (("get", 50.0), ("put", 30.0), ("cas", 15.0), ("delete", 5.0))
#: What the image installs on top of the base with dpkg (targets/debs.py adds their dependencies).
PACKAGES: tuple[str, ...] = ("etcd-server", "iptables")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _unb64(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def request_for(op: Op, *, serializable: bool) -> tuple[str, dict[str, Any]]:
    """The gateway path and JSON body of one op."""
    key = _b64(op.key)
    match op.f:
        case "get":
            return "/v3/kv/range", {"key": key, "serializable": serializable}
        case "put":
            return "/v3/kv/put", {"key": key, "value": _b64(op.value or "")}
        case "delete":
            return "/v3/kv/deleterange", {"key": key}
        case "cas":
            if op.expect is None:  # create if absent: the key has never been created (or was deleted)
                compare = {"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
            else:
                compare = {"key": key, "target": "VALUE", "result": "EQUAL", "value": _b64(op.expect)}
            return "/v3/kv/txn", {"compare": [compare],
                                  "success": [{"request_put": {"key": key, "value": _b64(op.value or "")}}]}
        case _:
            raise ValueError(f"etcd has no {op.f} (the scenario validator should have refused it)")


# What jepsen-io/etcd (src/jepsen/etcd/client.clj, `remap-errors`) treats as definite for a write:
# refused before anything was proposed, so a retry is safe. Everything UNAVAILABLE (code 14, HTTP 503:
# "no leader", "request timed out", "leader changed") it treats as indefinite, and so do we.
_DEFINITE = ("etcdserver: too many requests", "raft: stopped", "etcdserver: unhealthy cluster")


def classify(op: Op, status: int, raw: bytes) -> Answer:
    """One gateway answer -> an `Answer`, by Jepsen's rule as jepsen-io/etcd applies it to etcd.

    A get has no effect, so any error of a get is a definite failure (Jepsen's idempotent `:read`).
    For writes: the errors jepsen-io/etcd calls definite are `not-applied` (retried); any other 4xx
    except 408/429 is a refusal (`fail`); everything else (503 UNAVAILABLE, 504 deadline, 500 without
    a known message, an empty or unreadable body) may have committed: `unknown`, the op ends `info`.
    """
    body = json_object(raw)
    if status == 200 and body is not None:
        if op.f == "get":
            kvs = body.get("kvs")
            if kvs is None or kvs == []:
                return Answer(kind="ok", read=None)
            if isinstance(kvs, list) and len(kvs) == 1 and isinstance(kvs[0], dict):
                value = _unb64(kvs[0].get("value", ""))
                if value is not None:
                    return Answer(kind="ok", read=value)
            return Answer(kind="fail", error=f"range answered an unreadable kvs: {raw[:80]!r}")
        if op.f == "cas" and not body.get("succeeded", False):
            return Answer(kind="fail", error="precondition")
        return Answer(kind="ok")
    message = _message(body, raw)
    if op.f == "get":
        return Answer(kind="fail", error=f"{status}: {message}"[:200])
    if any(m in message for m in _DEFINITE):
        return Answer(kind="not-applied", error=message[:200])
    if 400 <= status < 500 and status not in (408, 429):
        return Answer(kind="fail", error=f"{status}: {message}"[:200])
    return Answer(kind="unknown", error=f"{status}: {message}"[:200])


def _message(body: dict[str, Any] | None, raw: bytes) -> str:
    if body is not None:
        for key in ("error", "message"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return raw[:120].decode("utf-8", "replace")


class EtcdAdapter:
    """The v3 JSON gateway. `serializable` reads are served by any member from its own state."""

    def __init__(self, *, serializable: bool) -> None:
        self.serializable = serializable

    async def attempt(self, session: aiohttp.ClientSession, base_url: str, op: Op, *, client_id: str,
                      request_id: int, timeout: aiohttp.ClientTimeout) -> Answer:
        path, body = request_for(op, serializable=self.serializable)
        async with session.post(base_url + path, json=body, timeout=timeout) as resp:
            return classify(op, resp.status, await resp.read())


def _uint(v: object) -> int | None:
    """grpc-gateway writes uint64 as a JSON string."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


class EtcdTarget(Target):
    name = "etcd"
    image = "paxos-chaos/etcd:latest"
    # The Dockerfile's ENTRYPOINT; powerfs starts it as root, and it drops to the etcd user itself.
    entrypoint = ("python3", "/usr/local/bin/etcd-entrypoint")
    description = "etcd 3.4 (Debian's etcd-server) over its v3 JSON gateway"
    client_port = CLIENT_PORT
    ops = ("get", "put", "delete", "cas")
    default_mix = DEFAULT_MIX
    options = (TargetOption(name="reads", choices=("linearizable", "serializable"), default="linearizable",
                            doc="linearizable: reads go through the leader's read index (etcd's default); "
                                "serializable: any member answers from its own state (may be stale)"),)

    def sources(self) -> list[Path]:
        return [HERE / "Dockerfile", HERE / "entrypoint.py", HERE.parent / "debs.py"]

    def build_context(self, ctx: Path, *, base: str, project_base: bool) -> None:
        from targets.debs import download_debs  # host-side apt work, only when building

        try:
            download_debs(ctx / "debs", PACKAGES)
        except RuntimeError as exc:
            raise InfraError(f"target etcd: cannot fetch etcd-server from the Debian mirror: {exc}") from exc
        shutil.copy(HERE / "Dockerfile", ctx / "Dockerfile")
        shutil.copy(HERE / "entrypoint.py", ctx / "entrypoint.py")

    def peer_port(self, j: int) -> int:
        return PEER_PORT_BASE + j

    def service(self, i: int, n: int, *, routes: Mapping[int, str], options: Mapping[str, str]) -> dict[str, Any]:
        return {
            "image": self.image,
            "environment": {
                "NODE_INDEX": str(i),
                "CLUSTER_SIZE": str(n),
                "PEER_ROUTES": ",".join(f"{j}={routes[j]}" for j in sorted(routes)),
                "CLUSTER_TOKEN": "paxos-chaos-etcd",  # each cluster has fresh volumes: no clash to avoid
            },
            "cap_add": ["NET_ADMIN"],
            "healthcheck": http_healthcheck(CLIENT_PORT, retries=60, start_period="2s"),
            "stop_grace_period": "5s",
        }

    def adapter(self, options: Mapping[str, str]) -> EtcdAdapter:
        return EtcdAdapter(serializable=self.check_options(options)["reads"] == "serializable")

    def probe(self, node: int, url: str, *, timeout_s: float) -> NodeState:
        try:
            status, body = http_json("POST", f"{url}/v3/maintenance/status", {}, timeout_s=timeout_s)
            if status != 200 or not isinstance(body, dict):
                return NodeState(node=node, error=f"maintenance/status answered {status}: {str(body)[:120]}")
            names = self._members(url, timeout_s=timeout_s)
        except (OSError, ValueError) as exc:
            return NodeState(node=node, error=str(exc)[:200])
        header: dict[str, Any] = body["header"] if isinstance(body.get("header"), dict) else {}
        me, leader = _uint(header.get("member_id")), _uint(body.get("leader"))
        role = "leader" if me is not None and me == leader else "follower"
        return NodeState(node=node, role=role, leader=names.get(leader) if leader else None,
                         index=_uint(header.get("revision")), raw=body)

    def _members(self, url: str, *, timeout_s: float) -> dict[int | None, int]:
        status, body = http_json("POST", f"{url}/v3/cluster/member/list", {}, timeout_s=timeout_s)
        out: dict[int | None, int] = {}
        for m in (body or {}).get("members", []) if status == 200 and isinstance(body, dict) else []:
            name = str(m.get("name", ""))
            if name.startswith("n") and name[1:].isdigit():
                out[_uint(m.get("ID"))] = int(name[1:])
        return out

    def common_states(self, urls: Mapping[int, str], *, timeout_s: float) -> list[NodeState]:
        """Every member's keyspace at the lowest revision all of them report, as a digest.

        The 3.4 gateway does not expose HashKV (and Hash covers the member's own metadata too), so the
        digest is ours: sha256 over every (key, value, mod revision) a serializable range at that
        revision returns from the member's own store. Members that agree on history agree on it; etcd
        keeps every revision until compacted, and the harness never compacts.
        """
        seen = {i: self.probe(i, url, timeout_s=timeout_s) for i, url in sorted(urls.items())}
        revisions = [s.index for s in seen.values() if s.index is not None]
        if len(revisions) < len(urls):
            return list(seen.values())
        common = min(revisions)
        out = []
        for i, url in sorted(urls.items()):
            s = seen[i]
            digest, error = self._digest(url, common, timeout_s=timeout_s)
            out.append(NodeState(node=i, role=s.role, leader=s.leader, index=common, head=s.index,
                                 digest=digest, raw=s.raw, error=error))
        return out

    def _digest(self, url: str, revision: int, *, timeout_s: float) -> tuple[str | None, str | None]:
        everything = {"key": "AA==", "range_end": "AA==", "revision": str(revision), "serializable": True}
        try:
            status, body = http_json("POST", f"{url}/v3/kv/range", everything, timeout_s=timeout_s)
        except (OSError, ValueError) as exc:
            return None, str(exc)[:200]
        if status != 200 or not isinstance(body, dict):
            return None, f"range at revision {revision} answered {status}: {str(body)[:120]}"
        h = hashlib.sha256()
        for kv in body.get("kvs") or []:
            if isinstance(kv, dict):
                h.update(json.dumps([kv.get("key"), kv.get("value"), kv.get("mod_revision")]).encode())
        return h.hexdigest()[:16], None


ETCD = EtcdTarget()
