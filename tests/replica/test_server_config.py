"""Config from the environment: defaults, every variable parsed, bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from replica_image.config import ConfigError, load_config

BASE = {
    "NODE_ID": "2",
    "PEERS": "1=http://127.0.0.1:9001,2=http://127.0.0.1:9002,3=http://localhost:9003/",
    "LISTEN": "127.0.0.1:9002",
    "PEER_LISTEN": "127.0.0.1:9102",
    "PEER_SECRET": "test-secret-0123456789",
    "DATA_DIR": "/tmp/x",
}


def test_defaults_and_required() -> None:
    cfg = load_config(BASE)
    assert cfg.node_id == 2
    assert cfg.peers == {1: "http://127.0.0.1:9001", 2: "http://127.0.0.1:9002", 3: "http://localhost:9003"}
    assert cfg.nodes == (1, 2, 3)
    assert (cfg.listen_host, cfg.listen_port) == ("127.0.0.1", 9002)
    assert cfg.data_dir == Path("/tmp/x")
    assert cfg.fsync is True
    assert cfg.bugs == frozenset()
    assert cfg.ticks(cfg.election_timeout_ms) == 30
    assert "fsync=always" in cfg.summary()


def test_every_optional_variable_is_read() -> None:
    env = dict(BASE, FSYNC="never", BUGS="local-reads, no-dedup", TICK_MS="5", HEARTBEAT_MS="20",
               ELECTION_TIMEOUT_MS="100", REQUEST_TIMEOUT_MS="700", PEER_TIMEOUT_MS="300", RETRANSMIT_MS="40",
               BATCH_MAX="7", WINDOW="3", SNAPSHOT_EVERY="50", PEER_QUEUE_MAX="9",
               CLIENT_MAX_BYTES="4096", LOG_LEVEL="debug")
    cfg = load_config(env)
    assert cfg.fsync is False
    assert cfg.bugs == {"local-reads", "no-dedup"}
    assert (cfg.tick_ms, cfg.heartbeat_ms, cfg.election_timeout_ms) == (5, 20, 100)
    assert (cfg.request_timeout_ms, cfg.peer_timeout_ms, cfg.retransmit_ms) == (700, 300, 40)
    assert (cfg.batch_max, cfg.window, cfg.snapshot_every, cfg.peer_queue_max) == (7, 3, 50, 9)
    assert cfg.client_max_bytes == 4096
    assert cfg.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"NODE_ID": ""}, "NODE_ID"),
        ({"NODE_ID": "4"}, "NODE_ID"),
        ({"NODE_ID": "one"}, "NODE_ID"),
        ({"NODE_ID": "\u00b9"}, "NODE_ID"),
        ({"PEERS": "\u00b9=http://a:1"}, "PEERS"),
        ({"LISTEN": "h:\u00b9"}, "LISTEN"),
        ({"PEERS": ""}, "PEERS"),
        ({"PEERS": "1=http://a:1,3=http://c:3"}, "PEERS"),
        ({"PEERS": "1=http://a:1,1=http://b:2"}, "PEERS"),
        ({"PEERS": "1=https://a:1"}, "PEERS"),
        ({"PEERS": "1=http://a"}, "PEERS"),
        ({"PEERS": "1=http://a:99999"}, "PEERS"),
        ({"PEERS": "http://a:1"}, "PEERS"),
        ({"LISTEN": "8000"}, "LISTEN"),
        ({"LISTEN": "h:0"}, "LISTEN"),
        ({"DATA_DIR": " "}, "DATA_DIR"),
        ({"FSYNC": "sometimes"}, "FSYNC"),
        ({"BUGS": "Bad Name"}, "BUGS"),
        ({"TICK_MS": "ten"}, "TICK_MS"),
        ({"TICK_MS": "0"}, "TICK_MS"),
        ({"BATCH_MAX": "-1"}, "BATCH_MAX"),
        ({"HEARTBEAT_MS": "200"}, "ELECTION_TIMEOUT_MS"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        # issue 11: no traceback on 5,000 digits, no Python-only number syntax
        ({"NODE_ID": "1" * 5000}, "NODE_ID"),
        ({"LISTEN": "h:" + "1" * 5000}, "LISTEN"),
        ({"PEERS": "1" * 5000 + "=http://a:1"}, "PEERS"),
        ({"PEERS": "1=http://a:" + "1" * 5000}, "PEERS"),
        ({"TICK_MS": "1" * 5000}, "TICK_MS"),
        ({"PEER_QUEUE_MAX": "1_000"}, "PEER_QUEUE_MAX"),
        ({"PEER_QUEUE_MAX": "+1000"}, "PEER_QUEUE_MAX"),
        ({"PEER_LISTEN": ""}, "PEER_LISTEN"),
        ({"PEER_LISTEN": "127.0.0.1:9002"}, "PEER_LISTEN"),
        ({"PEER_SECRET": ""}, "PEER_SECRET"),
        ({"PEER_SECRET": "short"}, "PEER_SECRET"),
        ({"PEER_SECRET": "has a blank in it, long enough"}, "PEER_SECRET"),
        ({"PEER_MAX_BYTES": "10"}, "PEER_MAX_BYTES"),
    ],
)
def test_bad_value_names_the_variable(override: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({**BASE, **override})
    msg = str(info.value)
    assert msg.startswith(name) or f" {name}" in msg or f"{name}=" in msg
    assert "\n" not in msg


def test_unknown_bug_rejected_when_known_list_given() -> None:
    with pytest.raises(ConfigError, match="BUGS"):
        load_config({**BASE, "BUGS": "nope"}, known_bugs=frozenset({"real"}))
    assert load_config({**BASE, "BUGS": "real"}, known_bugs=frozenset({"real"})).bugs == {"real"}


def test_credentials_in_peers_are_refused_and_never_printed() -> None:
    peers = "1=http://127.0.0.1:9001,2=http://admin:hunter2@127.0.0.1:9002,3=http://localhost:9003"
    with pytest.raises(ConfigError) as info:
        load_config({**BASE, "PEERS": peers})
    assert "PEERS" in str(info.value) and "hunter2" not in str(info.value) and "admin" not in str(info.value)


def test_the_secret_is_never_in_the_summary_or_repr() -> None:
    cfg = load_config(BASE)
    assert cfg.peer_secret == BASE["PEER_SECRET"].encode()
    assert BASE["PEER_SECRET"] not in cfg.summary() and BASE["PEER_SECRET"] not in repr(cfg)
    with pytest.raises(ConfigError) as info:
        load_config({**BASE, "PEER_SECRET": "x y" * 10})
    assert "x y" not in str(info.value)
