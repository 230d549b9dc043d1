"""`paxos-chaos sim`: a sweep that passes, a sweep that stops at a failing seed and writes it, a replay
that gives the same history, and bad arguments that get one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.sim import SimConfig
from harness.sim.sweep import sweep


def test_a_sweep_of_a_correct_replica_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seeds", "5", "--duration", "2s"]) == 0
    assert "every seed passed: 0..4" in capsys.readouterr().out


def test_a_failing_seed_stops_the_sweep_is_written_and_replays_to_the_same_history(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seeds", "50", "--bugs", "local-reads", "--store", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "history is not linearizable" in out and "replay: paxos-chaos sim --seed" in out
    [written] = list((tmp_path / "sim").iterdir())
    history = (written / "history.jsonl").read_bytes()
    assert "replay:" in (written / "summary.txt").read_text()
    assert main(["check", str(written / "history.jsonl")]) == 1  # the stand-alone checker agrees
    seed = written.name.rsplit("seed", 1)[1]
    (written / "history.jsonl").unlink()
    assert main(["sim", "--seed", seed, "--bugs", "local-reads", "--store", str(tmp_path)]) == 1
    assert (written / "history.jsonl").read_bytes() == history


def test_a_parallel_sweep_stops_at_the_same_seed_with_the_same_result() -> None:
    base = SimConfig(bugs=frozenset({"ignore-phase1-values"}))  # first caught at seed 2, among seeds of 3 and 5
    one = sweep(base, first=0, count=20, until="safety")
    two = sweep(base, first=0, count=20, until="safety", jobs=2)
    assert one.failure is not None and two.failure is not None
    assert (one.seeds, one.ops, one.passed_over) == (two.seeds, two.ops, two.passed_over)
    assert one.failure.events == two.failure.events and one.failure.agreement == two.failure.agreement


def test_until_safety_passes_over_seeds_that_fail_only_liveness() -> None:
    # 1 ms to settle after the final heal: ops are still open, so liveness fails; safety holds
    base = SimConfig(settle_ms=1, duration_ms=1_000, size=3)  # one replica may settle within 1 ms
    stopped = sweep(base, first=0, count=5)
    assert stopped.failure is not None and stopped.seeds == 1
    assert stopped.failure.liveness and stopped.failure.safety_violation is None
    done = sweep(base, first=0, count=5, until="safety")
    assert done.failure is None and done.seeds == 5 and done.passed_over == (0, 1, 2, 3, 4)


@pytest.mark.parametrize("argv, words", [
    (["sim", "--bugs", "nope"], "--bugs 'nope': unknown bug 'nope'"),
    (["sim", "--duration", "10 sec"], "--duration/--max-time"),
    (["sim", "--seeds", "0"], "at least 1"),
    (["sim", "--jobs", "0"], "at least 1"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`paxos-chaos sim ... | head -1`: no traceback when the pipe closes before the output is written."""
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("paxos-chaos"))
    proc = subprocess.Popen([exe, "sim", "--seeds", "2", "--duration", "1s", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before anything was written: the first flush meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err and "Exception ignored" not in err


def test_a_stop_iteration_out_of_a_run_fails_the_sweep_instead_of_ending_it_as_passed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.sim import sweep as sweep_module

    def run(cfg: SimConfig) -> None:
        raise StopIteration  # what next() on an empty generator in the core raises

    monkeypatch.setattr(sweep_module, "simulate", run)
    with pytest.raises(RuntimeError, match="seed 0: the run raised StopIteration"):
        sweep(SimConfig(), first=0, count=3)
