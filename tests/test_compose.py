"""The compose generator: one source for 3, 5 and 7 replicas, and the committed default equals it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import compose
from targets.contract import POWERFS_PATH
from targets.errors import UsageError
from targets.registry import get_target
from targets.paxos import PEER_PORT, REPLICA_PORT

ROOT = Path(__file__).resolve().parent.parent


def test_committed_default_equals_generator_output() -> None:
    assert (ROOT / compose.COMPOSE_NAME).read_text(encoding="utf-8") == compose.render_compose(3), (
        "docker-compose.yml is stale: run `python -m harness.compose --n 3 --out .`")
    assert (ROOT / compose.CONFIG_NAME).read_text(encoding="utf-8") == compose.render_proxies(3)


@pytest.mark.parametrize("n", compose.SIZES)
def test_every_ordered_pair_and_every_client_has_a_proxy(n: int) -> None:
    proxies = {p["name"]: p for p in compose.proxy_config(n)}
    assert len(proxies) == n + n * (n - 1)
    listens = [p["listen"] for p in proxies.values()]
    assert len(set(listens)) == len(listens), "two proxies listen on the same port"
    for i in range(1, n + 1):
        assert proxies[f"client-n{i}"]["upstream"] == f"n{i}:{REPLICA_PORT}"
        for j in range(1, n + 1):
            if i != j:
                # peer links end at the peer listener, which is never published (issue 11)
                assert proxies[f"n{i}-n{j}"]["upstream"] == f"n{j}:{PEER_PORT}"


@pytest.mark.parametrize("n", compose.SIZES)
def test_the_peer_listener_is_separate_unpublished_and_every_replica_shares_the_secret(n: int) -> None:
    doc = yaml.safe_load(compose.render_compose(n))
    for i in range(1, n + 1):
        svc = doc["services"][f"n{i}"]
        env = svc["environment"]
        assert env["LISTEN"].endswith(f":{REPLICA_PORT}") and env["PEER_LISTEN"].endswith(f":{PEER_PORT}")
        assert env["PEER_SECRET"] == "${PAXOS_PEER_SECRET:-}"
        assert "ports" not in svc


@pytest.mark.parametrize("n", compose.SIZES)
def test_replicas_reach_each_other_only_through_their_own_proxies(n: int) -> None:
    doc = yaml.safe_load(compose.render_compose(n))
    proxies = {p["listen"].rsplit(":", 1)[1]: p for p in compose.proxy_config(n)}
    for i in range(1, n + 1):
        peers = dict(part.split("=", 1) for part in doc["services"][f"n{i}"]["environment"]["PEERS"].split(","))
        assert sorted(map(int, peers)) == list(range(1, n + 1))
        for j_text, url in peers.items():
            j = int(j_text)
            if j == i:
                continue
            m = re.fullmatch(r"http://toxiproxy:(\d+)", url)
            assert m, f"n{i} reaches n{j} directly: {url}"
            assert proxies[m.group(1)]["name"] == f"n{i}-n{j}"


@pytest.mark.parametrize("n", compose.SIZES)
def test_host_ports_are_loopback_only_and_everything_is_labelled(n: int) -> None:
    doc = yaml.safe_load(compose.render_compose(n))
    published = [p for s in doc["services"].values() for p in s.get("ports", [])]
    assert len(published) == n + 1
    assert all(p.startswith("127.0.0.1:") for p in published)
    groups = [*doc["services"].values(), *doc["networks"].values(), *doc["volumes"].values()]
    assert all(g["labels"][compose.MANAGED_LABEL] == "true" for g in groups)
    assert sorted(doc["volumes"]) == sorted(f"n{i}-data" for i in range(1, n + 1))
    for i in range(1, n + 1):
        svc = doc["services"][f"n{i}"]
        assert svc["depends_on"] == {"toxiproxy": {"condition": "service_healthy"}}
        assert svc["healthcheck"]["test"][:2] == ["CMD", "python3"]


def test_proxy_file_is_the_populate_format() -> None:
    parsed = json.loads(compose.render_proxies(5))
    assert isinstance(parsed, list)
    assert all(set(p) == {"name", "listen", "upstream", "enabled"} for p in parsed)


@pytest.mark.parametrize("n", [0, 1, 2, 4, 9])
def test_unsupported_sizes_are_refused_with_the_fix(n: int) -> None:
    with pytest.raises(UsageError, match="use N=3, N=5 or N=7"):
        compose.render_compose(n)


@pytest.mark.parametrize("n", compose.SIZES)
def test_docker_compose_accepts_the_generated_file(n: int, tmp_path: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed")
    path = compose.write_cluster_files(n, tmp_path)
    proc = subprocess.run([tool, "-f", str(path), "config", "-q"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_direct_benchmark_variant_bypasses_proxies_and_says_so() -> None:
    text = compose.render_compose(3, direct=True)
    assert "DIRECT PEERS (benchmark only)" in text
    doc = yaml.safe_load(text)
    for i in range(1, 4):
        svc = doc["services"][f"n{i}"]
        assert "toxiproxy" not in svc["environment"]["PEERS"]
        assert svc["ports"] == [f"127.0.0.1:${{PAXOS_DIRECT_PORT_{i}}}:{REPLICA_PORT}"]
    assert "DIRECT" not in compose.render_compose(3)


@pytest.mark.parametrize("name", ["paxos", "etcd", "maelstrom"])
def test_powerfs_wraps_each_targets_own_entrypoint_as_its_own_user(name: str) -> None:
    tgt = get_target(name)
    opts = {"node": str(Path(__file__).resolve())} if name == "maelstrom" else {}
    plain = compose.compose_document(3, target=tgt, options=opts)["services"]["n2"]
    wrapped = compose.compose_document(3, target=tgt, options=opts, powerfs="ext4")["services"]["n2"]
    assert wrapped["entrypoint"] == [POWERFS_PATH, "--user", tgt.run_as, tgt.data_dir, "--", *tgt.entrypoint]
    assert wrapped["user"] == "0:0" and wrapped["devices"] == ["/dev/fuse:/dev/fuse"]
    assert set(wrapped["cap_add"]) == {"SYS_ADMIN", *plain.get("cap_add", [])}  # etcd keeps NET_ADMIN
    assert "privileged" not in wrapped
    assert wrapped["environment"] == {**plain.get("environment", {}), "POWERFS_MODEL": "ext4"}
    changed = ("entrypoint", "user", "devices", "cap_add", "security_opt", "environment")
    assert {k: v for k, v in wrapped.items() if k not in changed} == {
        k: v for k, v in plain.items() if k not in changed}
