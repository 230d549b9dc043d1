"""Replica configuration from the environment, the same inside and outside a container.

``load_config(os.environ)`` returns a frozen ``Config`` or raises ``ConfigError`` whose message is one
line naming the variable, the bad value and the fix (``python -m replica_image`` prints it and exits 2).

Variables (required ones have no default):

=====================  ============  =========================================================================
name                   default       meaning
=====================  ============  =========================================================================
NODE_ID                (required)    this replica's id, one of the ids in PEERS (1..N)
PEERS                  (required)    ``1=http://h1:p1,2=http://h2:p2,...``: how THIS node reaches every node's
                                     PEER_LISTEN (itself included); ids exactly 1..N, N >= 1; no user:password@
LISTEN                 (required)    ``host:port`` of the client API (get/put/..., /status, /health, /metrics)
PEER_LISTEN            (required)    ``host:port`` of the peer API (Paxos messages, forwarded client requests);
                                     never publish it: only replicas (through their proxies) dial it
PEER_SECRET            (required)    the cluster's shared secret (16..1024 printable ASCII characters): every
                                     peer message carries an HMAC-SHA256 tag made with it; never logged
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
WINDOW                 64            max slots in flight in phase 2 (pipelining; 1..2048)
SNAPSHOT_EVERY         1000          snapshot the KV and truncate the log every this many applied slots
PEER_QUEUE_MAX         1024          outgoing messages queued per peer before new ones are dropped
CLIENT_MAX_BYTES       1048576       max request body; larger bodies get 400
PEER_MAX_BYTES         67108864      max peer request body (a batch or a whole snapshot); larger get 413
LOG_LEVEL              INFO          DEBUG, INFO, WARNING or ERROR
=====================  ============  =========================================================================
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from replica_image.bugs import KNOWN_BUGS, UnknownBug, parse_bugs
from replica_image.errors import brief as _show
from replica_image.paxos.messages import MAX_ENTRIES

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
    peer_host: str
    peer_port: int
    peer_secret: bytes = dataclasses.field(repr=False)
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
    peer_max_bytes: int = 64 << 20
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
            f"node_id={self.node_id} listen={self.listen_host}:{self.listen_port} "
            f"peer_listen={self.peer_host}:{self.peer_port} peers={peers} peer_secret=<{len(self.peer_secret)} bytes> "
            f"data_dir={self.data_dir} fsync={'always' if self.fsync else 'never'} "
            f"bugs={','.join(sorted(self.bugs)) or '-'} tick_ms={self.tick_ms} "
            f"heartbeat_ms={self.heartbeat_ms} election_timeout_ms={self.election_timeout_ms} "
            f"request_timeout_ms={self.request_timeout_ms} peer_timeout_ms={self.peer_timeout_ms} "
            f"retransmit_ms={self.retransmit_ms} "
            f"batch_max={self.batch_max} window={self.window} snapshot_every={self.snapshot_every} "
            f"peer_queue_max={self.peer_queue_max} client_max_bytes={self.client_max_bytes} "
            f"peer_max_bytes={self.peer_max_bytes}"
        )


def _digits(text: str, max_digits: int = 18) -> int | None:
    """The value of a plain decimal number (ASCII digits only: no sign, no ``_``, no other scripts'
    digits, at most ``max_digits`` of them so int() never meets its 4,300-digit limit), else None."""
    if not 1 <= len(text) <= max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _required(env: Mapping[str, str], name: str, example: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: set it, e.g. {name}={example}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = _digits(raw.strip())
    if value is None or not low <= value <= high:
        raise ConfigError(
            f"{name}={raw!r} is not an integer in {low}..{high}: set e.g. {name}={default} (the default)"
        )
    return value


def _parse_peer(item: str) -> tuple[int, str]:
    ident, sep, url = item.partition("=")
    fix = "use PEERS=1=http://h1:8001,2=http://h2:8002,3=http://h3:8003"
    node = _digits(ident.strip(), max_digits=4)
    if not sep or node is None:
        raise ConfigError(f"PEERS entry {_show(item)} is not id=url: {fix}")
    parts = urlsplit(url.strip())
    if "@" in parts.netloc:
        # never echo it: whatever precedes the @ may be a password
        raise ConfigError(f"PEERS entry for id {node} has user:password@ in its URL: peers authenticate "
                          "with PEER_SECRET, remove the credentials")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ConfigError(f"PEERS entry {_show(item)}: {_show(url)} is not http://host:port: {fix}")
    return node, f"http://{parts.netloc}"



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


def _listen(raw: str, name: str = "LISTEN", example: str = "0.0.0.0:8000") -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    number = _digits(port, max_digits=5)
    if not sep or not host or number is None or not 1 <= number <= 65535:
        raise ConfigError(f"{name}={_show(raw)} is not host:port: use e.g. {name}={example}")
    return host.strip("[]"), number


PEER_SECRET_MIN = 16
PEER_SECRET_MAX = 1024


def _secret(env: Mapping[str, str]) -> bytes:
    raw = env.get("PEER_SECRET", "")
    fix = ("every replica of a cluster needs the same one: `make up` and `paxos-chaos run` make one per "
           "cluster; with plain docker-compose set PAXOS_PEER_SECRET, e.g. to the output of "
           "`python3 -c 'import secrets; print(secrets.token_hex(32))'`")
    if not raw:
        raise ConfigError(f"PEER_SECRET is not set: {fix}")
    printable = set(string.printable) - set(string.whitespace)
    if not PEER_SECRET_MIN <= len(raw) <= PEER_SECRET_MAX or not set(raw) <= printable:
        # the value itself is never printed
        raise ConfigError(f"PEER_SECRET must be {PEER_SECRET_MIN}..{PEER_SECRET_MAX} printable ASCII characters "
                          f"without blanks (it has {len(raw)} characters): {fix}")
    return raw.encode("ascii")


def _choice(env: Mapping[str, str], name: str, options: Mapping[str, T], default: str) -> T:
    raw = env.get(name, "").strip() or default
    key = raw.lower() if name != "LOG_LEVEL" else raw.upper()
    if key not in options:
        raise ConfigError(f"{name}={_show(raw)} is not one of {'|'.join(options)}: e.g. {name}={default}")
    return options[key]


def _bugs(raw: str, known: frozenset[str] | None) -> frozenset[str]:
    if known == KNOWN_BUGS:  # every real start: the one parser, so BUGS = what --bugs/cluster.bugs take
        try:
            return frozenset(parse_bugs(raw))
        except UnknownBug as exc:
            raise ConfigError(f"BUGS contains {exc}; leave BUGS empty for none") from None
    # load_config(known_bugs=...) of the loader's own tests: their names are not real bugs
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
    node_id = _digits(raw_id, max_digits=4)
    if node_id is None or node_id not in peers:
        raise ConfigError(f"NODE_ID={_show(raw_id)} is not an id listed in PEERS ({sorted(peers)}): e.g. NODE_ID=1")
    host, port = _listen(_required(env, "LISTEN", "0.0.0.0:8000"))
    peer_host, peer_port = _listen(_required(env, "PEER_LISTEN", "0.0.0.0:7100"), "PEER_LISTEN", "0.0.0.0:7100")
    if (peer_host, peer_port) == (host, port):
        raise ConfigError(f"PEER_LISTEN={peer_host}:{peer_port} equals LISTEN: the peer API needs a port of its "
                          "own (never published to clients), e.g. PEER_LISTEN=0.0.0.0:7100")
    data_dir = Path(_required(env, "DATA_DIR", "/data"))
    i = _int
    cfg = Config(
        node_id=node_id,
        peers=peers,
        listen_host=host,
        listen_port=port,
        peer_host=peer_host,
        peer_port=peer_port,
        peer_secret=_secret(env),
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
        window=i(env, "WINDOW", 64, low=1, high=MAX_ENTRIES // 2),
        snapshot_every=i(env, "SNAPSHOT_EVERY", 1000, low=1, high=10_000_000),
        peer_queue_max=i(env, "PEER_QUEUE_MAX", 1024, low=1, high=1_000_000),
        client_max_bytes=i(env, "CLIENT_MAX_BYTES", 1 << 20, low=1024, high=1 << 30),
        peer_max_bytes=i(env, "PEER_MAX_BYTES", 64 << 20, low=1 << 16, high=1 << 30),
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
