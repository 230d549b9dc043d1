"""One file, two worlds: the simulator-only `crash-point` key is validated like every fault, planned like every
fault, and refused by the Docker runner with file:line and the fix (a named file), or left out (a suite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import harness.cluster
import harness.run_command
from faults.plan import CrashPoint, make_plan
from faults.schema import CrashPointSpec, TargetSpec
from harness.cli import main
from harness.runner import RunOptions, run_scenario
from harness.scenario import parse_scenario
from harness.scenario.worlds import docker_refusal
from targets.errors import ScenarioError

BASE = "description: d\nseed: 3\nworkload: {duration: 10s}\nfaults:\n"
CRASH = BASE + "  - kill: {target: n1}\n    at: 1s\n    for: 1s\n  - crash-point: {target: leader, after: promise, down: 20ms}\n    at: 2s\n"


def test_a_crash_point_is_read_with_its_defaults_and_planned() -> None:
    s = parse_scenario(CRASH)
    assert s.faults[1].choices == (CrashPointSpec(target=TargetSpec(kind="leader"), after="promise", down_s=0.02),)
    assert parse_scenario(BASE + "  - crash-point:\n").faults[0].choices == (
        CrashPointSpec(target=TargetSpec(kind="random"), after="any", down_s=0.1),)
    [_, step] = make_plan(s, seed=s.seed).steps
    assert step.fault == CrashPoint(nodes=None, after="promise", down_s=0.02) and step.heal_s is None
    assert step.describe() == "crash-point leader after its next synced promise record, down 20ms"


@pytest.mark.parametrize(("item", "message"), [
    ("  - crash-point: {after: prepare}\n", "<string>:5 faults[0].crash-point.after: unknown value 'prepare'; "
                                            "use one of: promise, accept, any"),
    ("  - crash-point: {down: 2m}\n", "<string>:5 faults[0].crash-point.down: 2m is too long, the limit is 60s"),
    ("  - crash-point: {when: now}\n", "<string>:5 faults[0].crash-point.when: unknown key 'when'"),
])
def test_a_bad_crash_point_is_a_problem_with_file_and_line(item: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(BASE + item)
    assert str(err.value).startswith(message)


def test_the_docker_runner_refuses_a_crash_point_with_file_line_and_the_fix() -> None:
    s = parse_scenario(CRASH, source="scenarios/x.yaml")
    assert docker_refusal(s) == (
        "scenarios/x.yaml:8 faults[1]: crash-point is a simulator-only fault (it crashes a replica right after a "
        "sync, an instant no wall-clock nemesis can aim at); run the file with `paxos-chaos sim scenarios/x.yaml`, "
        "or remove this item to run it in Docker")
    one_of = parse_scenario(BASE + "  - one-of: [{kill: {}}, {crash-point: {}}]\n    at: 1s\n    for: 1s\n")
    assert "remove a choice of this one-of" in (docker_refusal(one_of) or "")
    assert docker_refusal(parse_scenario(BASE + "  []\n")) is None
    with pytest.raises(ScenarioError, match=r"faults\[1\]: crash-point is a simulator-only fault"):
        asyncio.run(run_scenario(s, RunOptions(store=Path("/nonexistent"))))  # before anything is created


def test_run_refuses_a_named_sim_only_file_before_docker_and_leaves_it_out_of_a_suite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    touched: list[str] = []
    monkeypatch.setattr(harness.cluster, "connect", lambda: touched.append("connect"))

    async def run_all(scenarios: list[object], opts: RunOptions) -> list[object]:
        touched.extend(getattr(s, "name") for s in scenarios)
        return []

    monkeypatch.setattr(harness.run_command, "_run_all", run_all)
    (tmp_path / "crash.yaml").write_text(CRASH, encoding="utf-8")
    (tmp_path / "plain.yaml").write_text(BASE + "  []\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "crash.yaml")]) == 2
    assert f"{tmp_path / 'crash.yaml'}:8 faults[1]: crash-point is a simulator-only fault" in capsys.readouterr().err
    assert touched == []
    assert main(["run", "--suite", str(tmp_path)]) == 0
    assert f"[crash] does not run in Docker, left out: {tmp_path / 'crash.yaml'}:8 faults[1]: crash-point is a " \
           "simulator-only fault" in capsys.readouterr().out
    assert touched == ["connect", "plain"]
