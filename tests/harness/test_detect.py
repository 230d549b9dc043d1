"""`paxos-chaos detect`'s pure parts: which scenarios a bug meets first, the table, the bug names."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.detect import HINTS, Detection, ScenarioSimDetection, SimDetection, order, render, simulate_bug_scenarios
from harness.scenario import load_scenario, scenario_files
from replica_image.bugs import KNOWN_BUGS

ROOT = Path(__file__).resolve().parents[2]
SUITE = [load_scenario(p) for p in scenario_files(ROOT / "scenarios")]


def test_every_bug_has_hints_naming_shipped_scenarios() -> None:
    names = {s.name for s in SUITE}
    assert set(HINTS) == KNOWN_BUGS
    for bug, hints in HINTS.items():
        assert hints and set(hints) <= names, (bug, set(hints) - names)


def test_order_puts_the_hints_first_and_keeps_the_whole_suite() -> None:
    ordered = order(SUITE, "no-fsync")
    assert [s.name for s in ordered[:3]] == list(HINTS["no-fsync"])
    assert sorted(s.name for s in ordered) == sorted(s.name for s in SUITE)
    rest = [s.name for s in ordered[3:]]
    assert rest == sorted(rest)


def test_render_shows_caught_and_missed_bugs_and_the_rate() -> None:
    table = render([
        Detection(bug="local-reads", caught=True, scenario="halves", seed=3, runs=2, seconds=95.4,
                  failures=("leader-isolation",), report="r.html"),
        Detection(bug="no-dedup", caught=False, scenario=None, seed=None, runs=14, seconds=900.0, failures=(),
                  report=None),
    ])
    assert "| local-reads | yes | halves (3) | 95 s | 2 | not run | - | - | not run | - | - | leader-isolation |" in table
    assert "| no-dedup | NO | NOT CAUGHT | 900 s | 14 | not run | - | - | not run | - | - | - |" in table
    assert table.endswith("detection rate: 1/2\nsuite alone: 1/2")


def test_render_counts_a_bug_caught_by_the_simulator_alone_as_caught() -> None:
    sim = SimDetection(caught=True, seed=284, check="agreement", seeds=285, seconds=14.2, liveness=(7,))
    missed = SimDetection(caught=False, seed=None, check=None, seeds=3000, seconds=150.0, liveness=())
    table = render([
        Detection(bug="forget-promise-on-restart", caught=False, scenario=None, seed=None, runs=16, seconds=900.0,
                  failures=(), report=None, sim=sim),
        Detection(bug="no-dedup", caught=False, scenario=None, seed=None, runs=0, seconds=0.0, failures=(),
                  report=None, sim=missed),
    ])
    assert ("| forget-promise-on-restart | yes | NOT CAUGHT | 900 s | 16 | 284 (agreement) | 14.2 s | 285 | "
            "not run | - | - | simulator, other checks: seeds 7 |") in table
    assert "| no-dedup | NO | not run | - | - | NOT CAUGHT | 150.0 s | 3000 | not run | - | - | - |" in table
    assert table.endswith("detection rate: 1/2\nsuite alone: 0/1\nsimulator alone: 1/2")


def test_detect_no_docker_runs_the_simulator_only_and_writes_the_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["detect", "--no-docker", "--bugs", "small-quorum,local-reads", "--sim-seeds", "50",
                 "--scenario-seeds", "0", "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    tables = list((tmp_path / "detect").glob("*/detect.md"))
    assert len(tables) == 1
    text = tables[0].read_text()
    assert "| small-quorum | yes | not run |" in text and "simulator alone: 2/2" in text


def test_a_seed_offset_is_another_trial_with_other_simulator_seeds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["detect", "--no-docker", "--bugs", "small-quorum", "--sim-seeds", "50", "--seed-offset", "2",
                 "--scenario-seeds", "0", "--store", str(tmp_path)])
    assert code == 0
    assert "CAUGHT by the simulator, seed 2000" in capsys.readouterr().out  # seeds 2000000, 2000001, ...


@pytest.mark.parametrize("argv, words", [
    (["--no-docker", "--sim-seeds", "0", "--scenario-seeds", "0"], "nothing runs"),
    (["--no-docker", "--seed-offset", "-1"], "--seed-offset must be >= 0"),
])
def test_inconsistent_options_are_a_usage_error(argv: list[str], words: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", *argv]) == 2
    assert words in capsys.readouterr().err


def test_unknown_bug_names_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--bugs", "local-reads,nope"]) == 2
    assert "--bugs 'local-reads,nope': unknown bug 'nope'" in capsys.readouterr().err


def test_a_state_divergence_counts_as_a_catch_and_liveness_alone_does_not() -> None:
    from harness.detect import safety_failure
    from harness.junit import CaseResult
    from harness.runner import AGREEMENT

    live = CaseResult(name="liveness: leader and convergence after heal", outcome="fail")
    assert safety_failure([CaseResult(name="linearizable", outcome="pass"), live]) is None
    assert safety_failure([CaseResult(name=AGREEMENT, outcome="fail"), live]) == "agreement"
    assert safety_failure([CaseResult(name="linearizable", outcome="fail"),
                           CaseResult(name=AGREEMENT, outcome="fail")]) == "linearizability"


def test_render_counts_a_bug_caught_by_a_scenario_in_the_simulator() -> None:
    scen = ScenarioSimDetection(caught=True, scenario="halves", seed=4, check="linearizability", seeds=2,
                                seconds=3.5, tried=("halves",), report="r.html")
    table = render([Detection(bug="local-reads", caught=False, scenario=None, seed=None, runs=0, seconds=0.0,
                              failures=(), report=None, scen=scen)])
    assert "| local-reads | yes | not run | - | - | not run | - | - | halves (4, linearizability) | 3.5 s | 2 | - |" in table
    assert table.endswith("detection rate: 1/1\nscenarios in the simulator alone: 1/1")


def test_the_shipped_scenarios_catch_a_bug_in_the_simulator_and_write_the_catching_run(tmp_path: Path) -> None:
    suite = [load_scenario(p) for p in scenario_files(ROOT / "scenarios")]
    found = simulate_bug_scenarios("local-reads", suite, seeds=3, store=tmp_path)
    assert found.caught and found.scenario == found.tried[-1] and found.tried[0] == HINTS["local-reads"][0]
    assert found.check == "linearizability" and found.report is not None and Path(found.report).is_file()
