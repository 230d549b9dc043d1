"""Replica configuration from the environment, the same inside and outside a container.

``load_config(os.environ)`` returns a frozen ``Config`` or raises ``ConfigError`` whose message is one
line naming the variable, the bad value and the fix (``python -m replica_image`` prints it and exits 2).

Variables (required ones have no default):

=====================  ============  =========================================================================
name                   default       meaning
=====================  ============  =========================================================================
NODE_ID                (required)    this replica's id, one of the ids in PEERS (1..N)
PEERS                  (required)    ``1=http://h1:p1,2=http://h2:p2,...``: how THIS node reaches every node
                                     (itself included); ids exactly 1..N, N >= 1
LISTEN                 (required)    ``host:port`` to serve the client and peer API on
DATA_DIR               (required)    directory for the durable log (created if missing)
FSYNC                  always        ``always`` (fsync before replying/sending) or ``never`` (BENCHMARKS ONLY:
                                     a crash may lose promises/accepts and break safety; logged loudly)
BUGS                   (empty)       comma-separated deliberate bugs to enable (DESIGN section 9); loud log
TICK_MS                10            period of the core's logical clock tick
HEARTBEAT_MS           50            leader heartbeat period (rounded to ticks)
ELECTION_TIMEOUT_MS    300           minimum election timeout; each wait is randomized in [T, 2T)
REQUEST_TIMEOUT_MS     2000          client deadline: after it the replica answers 503
PEER_TIMEOUT_MS        500           timeout of one peer HTTP request
RETRANSMIT_MS          100           unanswered prepares/accepts/catch-ups are resent this often
BATCH_MAX              256           max client commands per slot (1..4096)
WINDOW                 64            max slots in flight in phase 2 (pipelining)
SNAPSHOT_EVERY         1000          snapshot the KV and truncate the log every this many applied slots
PEER_QUEUE_MAX         1024          outgoing messages queued per peer before new ones are dropped
CLIENT_MAX_BYTES       1048576       max request body; larger bodies get 400
LOG_LEVEL              INFO          DEBUG, INFO, WARNING or ERROR
=====================  ============  =========================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from replica_image.bugs import KNOWN_BUGS

__all__ = ["Config", "ConfigError", "load_config"]

_BUG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
T = TypeVar("T")


class ConfigError(Exception):
    """A configuration variable is missing or malformed.

    The message is one line naming the variable, its value and the fix. The replica does not start
    (``python -m replica_image`` exits with code 2, no traceback).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The validated configuration of one replica (see the module docstring for every field)."""

    node_id: int
    peers: Mapping[int, str]
    listen_host: str
    listen_port: int
    data_dir: Path
    fsync: bool
    bugs: frozenset[str]
    tick_ms: int = 10
    heartbeat_ms: int = 50
    election_timeout_ms: int = 300
    request_timeout_ms: int = 2000
    peer_timeout_ms: int = 500
    retransmit_ms: int = 100
    batch_max: int = 256
    window: int = 64
    snapshot_every: int = 1000
    peer_queue_max: int = 1024
    client_max_bytes: int = 1 << 20
    log_level: str = "INFO"

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted(self.peers))

    def ticks(self, ms: int) -> int:
        """Convert a duration to whole ticks (at least 1)."""
        return max(1, round(ms / self.tick_ms))

    def summary(self) -> str:
        """One log line with every setting (logged at start)."""
        peers = ",".join(f"{i}={u}" for i, u in sorted(self.peers.items()))
        return (
            f"node_id={self.node_id} listen={self.listen_host}:{self.listen_port} peers={peers} "
            f"data_dir={self.data_dir} fsync={'always' if self.fsync else 'never'} "
            f"bugs={','.join(sorted(self.bugs)) or '-'} tick_ms={self.tick_ms} "
            f"heartbeat_ms={self.heartbeat_ms} election_timeout_ms={self.election_timeout_ms} "
            f"request_timeout_ms={self.request_timeout_ms} peer_timeout_ms={self.peer_timeout_ms} "
            f"retransmit_ms={self.retransmit_ms} "
            f"batch_max={self.batch_max} window={self.window} snapshot_every={self.snapshot_every} "
            f"peer_queue_max={self.peer_queue_max} client_max_bytes={self.client_max_bytes}"
        )


def _required(env: Mapping[str, str], name: str, example: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: set it, e.g. {name}={example}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"{name}={raw!r} is not an integer in {low}..{high}: set e.g. {name}={default} (the default)"
        )
    return value


def _parse_peer(item: str) -> tuple[int, str]:
    ident, sep, url = item.partition("=")
    fix = "use PEERS=1=http://h1:8001,2=http://h2:8002,3=http://h3:8003"
    if not sep or not (ident.strip().isascii() and ident.strip().isdigit()):
        raise ConfigError(f"PEERS entry {item!r} is not id=url: {fix}")
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(f"PEERS entry {item!r}: {url!r} is not http://host:port: {fix}")
    return int(ident), f"http://{parts.netloc}"


def _peers(raw: str) -> dict[int, str]:
    peers: dict[int, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        ident, url = _parse_peer(item.strip())
        if ident in peers:
            raise ConfigError(f"PEERS lists id {ident} twice: list every node exactly once")
        peers[ident] = url
    if sorted(peers) != list(range(1, len(peers) + 1)):
        raise ConfigError(
            f"PEERS={raw!r} has ids {sorted(peers)}: ids must be exactly 1..N, each node listed once"
        )
    return peers


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ConfigError(f"LISTEN={raw!r} is not host:port: use e.g. LISTEN=0.0.0.0:8000")
    return host.strip("[]"), int(port)


def _choice(env: Mapping[str, str], name: str, options: Mapping[str, T], default: str) -> T:
    raw = env.get(name, "").strip() or default
    key = raw.lower() if name != "LOG_LEVEL" else raw.upper()
    if key not in options:
        raise ConfigError(f"{name}={raw!r} is not one of {'|'.join(options)}: e.g. {name}={default}")
    return options[key]


def _bugs(raw: str, known: frozenset[str] | None) -> frozenset[str]:
    names = frozenset(b.strip() for b in raw.split(",") if b.strip())
    for name in sorted(names):
        if not _BUG_NAME.match(name) or (known is not None and name not in known):
            hint = f"known: {','.join(sorted(known))}" if known is not None else "lowercase names"
            raise ConfigError(f"BUGS contains unknown bug {name!r} ({hint}); leave BUGS empty for none")
    return names


def load_config(env: Mapping[str, str], *, known_bugs: frozenset[str] | None = KNOWN_BUGS) -> Config:
    """Build the Config from ``env`` (normally ``os.environ``).

    Args:
        env: the environment.
        known_bugs: the bug names the replica implements (replica_image.bugs); others in BUGS are rejected.

    Raises:
        ConfigError: one line naming the variable and the fix.
    """
    peers = _peers(_required(env, "PEERS", "1=http://127.0.0.1:8001,2=http://127.0.0.1:8002"))
    raw_id = _required(env, "NODE_ID", "1")
    if not (raw_id.isascii() and raw_id.isdigit()) or int(raw_id) not in peers:
        raise ConfigError(f"NODE_ID={raw_id!r} is not an id listed in PEERS ({sorted(peers)}): e.g. NODE_ID=1")
    host, port = _listen(_required(env, "LISTEN", "0.0.0.0:8000"))
    data_dir = Path(_required(env, "DATA_DIR", "/data"))
    i = _int
    cfg = Config(
        node_id=int(raw_id),
        peers=peers,
        listen_host=host,
        listen_port=port,
        data_dir=data_dir,
        fsync=_choice(env, "FSYNC", {"always": True, "never": False}, "always"),
        bugs=_bugs(env.get("BUGS", ""), known_bugs),
        tick_ms=i(env, "TICK_MS", 10, low=1, high=1000),
        heartbeat_ms=i(env, "HEARTBEAT_MS", 50, low=1, high=60_000),
        election_timeout_ms=i(env, "ELECTION_TIMEOUT_MS", 300, low=10, high=600_000),
        request_timeout_ms=i(env, "REQUEST_TIMEOUT_MS", 2000, low=10, high=600_000),
        peer_timeout_ms=i(env, "PEER_TIMEOUT_MS", 500, low=10, high=60_000),
        retransmit_ms=i(env, "RETRANSMIT_MS", 100, low=1, high=60_000),
        batch_max=i(env, "BATCH_MAX", 256, low=1, high=4096),
        window=i(env, "WINDOW", 64, low=1, high=10_000),
        snapshot_every=i(env, "SNAPSHOT_EVERY", 1000, low=1, high=10_000_000),
        peer_queue_max=i(env, "PEER_QUEUE_MAX", 1024, low=1, high=1_000_000),
        client_max_bytes=i(env, "CLIENT_MAX_BYTES", 1 << 20, low=1024, high=1 << 30),
        log_level=_choice(env, "LOG_LEVEL", {v: v for v in _LOG_LEVELS}, "INFO"),
    )
    _check_timing(cfg)
    return cfg


def _check_timing(cfg: Config) -> None:
    # A heartbeat slower than the election timeout makes followers depose a healthy leader forever.
    if cfg.heartbeat_ms < cfg.tick_ms:
        raise ConfigError(
            f"HEARTBEAT_MS={cfg.heartbeat_ms} is shorter than TICK_MS={cfg.tick_ms}: raise HEARTBEAT_MS"
        )
    if cfg.heartbeat_ms * 2 > cfg.election_timeout_ms:
        raise ConfigError(
            f"ELECTION_TIMEOUT_MS={cfg.election_timeout_ms} must be at least 2 x HEARTBEAT_MS="
            f"{cfg.heartbeat_ms}: raise ELECTION_TIMEOUT_MS or lower HEARTBEAT_MS"
        )
