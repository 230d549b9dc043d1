"""targets/etcd/entrypoint.py's pure parts: the environment it refuses, and the etcd command line."""

from __future__ import annotations

import pytest

from targets.etcd.entrypoint import ConfigError, etcd_argv, parse_env

GOOD = {"NODE_INDEX": "2", "CLUSTER_SIZE": "3", "PEER_ROUTES": "1=toxiproxy:9021,3=toxiproxy:9023"}


def test_a_node_is_told_its_routes_and_advertises_its_own_peer_port() -> None:
    cfg = parse_env(GOOD)
    assert cfg.routes == ((1, "toxiproxy", 9021), (3, "toxiproxy", 9023))
    argv = etcd_argv(cfg)
    assert "--name=n2" in argv and "--listen-peer-urls=http://0.0.0.0:2382" in argv
    assert "--initial-cluster=n1=http://n1:2381,n2=http://n2:2382,n3=http://n3:2383" in argv


@pytest.mark.parametrize(("env", "message"), [
    ({**GOOD, "NODE_INDEX": "4"}, "NODE_INDEX=4 is out of range"),
    ({**GOOD, "CLUSTER_SIZE": "three"}, "CLUSTER_SIZE='three' is not an integer"),
    ({**GOOD, "PEER_ROUTES": "1=toxiproxy:9021"}, "node 2 of 3 needs exactly [1, 3]"),
    ({**GOOD, "PEER_ROUTES": "1=toxiproxy,3=toxiproxy:9023"}, "write j=host:port"),
    ({**GOOD, "PEER_ROUTES": "1=toxi proxy:9021,3=toxiproxy:9023"}, "write j=host:port"),
    ({**GOOD, "ETCD_EXTRA_ARGS": "rm -rf"}, "is not a flag"),
    ({**GOOD, "CLUSTER_TOKEN": "a b"}, "CLUSTER_TOKEN"),
])
def test_a_bad_environment_is_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_env(env)
    assert message in str(err.value)
