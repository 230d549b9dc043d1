"""`paxos-chaos sim`: a sweep that passes, a sweep that stops at a failing seed and writes it, a replay
that gives the same history, and bad arguments that get one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


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


@pytest.mark.parametrize("argv, words", [
    (["sim", "--bugs", "nope"], "unknown bug(s) ['nope']"),
    (["sim", "--duration", "10 sec"], "--duration/--max-time"),
    (["sim", "--seeds", "0"], "at least 1"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
