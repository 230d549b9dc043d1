"""`paxos-chaos check`: verdicts, exit codes (0 valid, 1 invalid, 2 could not run, 3 unknown), errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main, parse_duration_s
from harness.errors import UsageError
from harness.history import Event, write_jsonl
from tests.checker.histories import Execution, concurrent_puts, h

CORPUS = Path(__file__).parent / "checker" / "corpus"


def _jsonl(tmp_path: Path, name: str, events: list[Event]) -> str:
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as fp:
        write_jsonl(events, fp)
    return str(path)


def test_valid_file_exits_0_and_prints_a_per_key_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(CORPUS / "c10-ok.txt")]) == 0
    out = capsys.readouterr().out
    assert "c10-ok.txt: VALID" in out
    assert out.count("  key ") == 10


def test_invalid_file_exits_1_with_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(CORPUS / "c01-bad.txt")]) == 1
    out = capsys.readouterr().out
    assert "c01-bad.txt: INVALID" in out and "counterexample for key '7'" in out and "could not place" in out


def test_several_files_merge_and_report_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(CORPUS / "c01-ok.txt"), str(CORPUS / "c01-bad.txt")]) == 1
    out = capsys.readouterr().out
    assert "c01-ok.txt: VALID" in out and "c01-bad.txt: INVALID" in out


def test_unknown_within_a_tiny_budget_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = concurrent_puts(16, "never")  # ~2**16 configurations: far more than one slice of search
    path = _jsonl(tmp_path, "hard.jsonl", h(*rows))
    assert main(["check", "--timeout", "0.000001s", path]) == 3  # 1 µs: spent after one slice
    assert "UNKNOWN" in capsys.readouterr().out


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = Execution(seed=3, ops=100)
    ex.run()
    path = _jsonl(tmp_path, "h.jsonl", ex.tail("stale-read"))
    assert main(["check", "--json", path]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "invalid" and doc["format"] == "jsonl"
    [bad] = [p for p in doc["partitions"] if p["verdict"] == "invalid"]
    assert bad["counterexample"]["key"] == "k0"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["check", "/nonexistent/h.jsonl"], "/nonexistent/h.jsonl: no such file"),
        (["check", "--timeout", "soon", "x"], "--timeout 'soon' is not a duration"),
        (["check", "--format", "xml", "x"], "invalid choice: 'xml'"),
        (["check"], "the following arguments are required: FILE"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_file_exits_2_but_other_files_are_still_checked(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"index": 0, "process": 0, "type": "invoke", "f": "get"}\n{"index": 1, "oops"\n')
    assert main(["check", str(bad), str(CORPUS / "c01-ok.txt")]) == 2
    captured = capsys.readouterr()
    assert f"{bad}:2: not valid JSON" in captured.err
    assert "c01-ok.txt: VALID" in captured.out


def test_model_option_forces_the_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.log"
    path.write_text("INFO  jepsen.util - 0\t:invoke\t:append\t1\nINFO  jepsen.util - 0\t:ok\t:append\t1\n")
    assert main(["check", "--model", "register", str(path)]) == 2
    assert "no operation 'append'" in capsys.readouterr().err


def test_parse_duration() -> None:
    assert parse_duration_s("60s", option="--t") == 60.0
    assert parse_duration_s("500ms", option="--t") == 0.5
    assert parse_duration_s("2m", option="--t") == 120.0
    assert parse_duration_s("1.5", option="--t") == 1.5
    for bad in ("0s", "-1s", "inf", "nan", "s", ""):
        with pytest.raises(UsageError):
            parse_duration_s(bad, option="--t")


def test_console_script_runs() -> None:
    exe = shutil.which("paxos-chaos", path=str(Path(sys.executable).parent))
    assert exe is not None, "console script missing: run `.venv/bin/pip install -e .`"
    proc = subprocess.run([exe, "check", str(CORPUS / "c01-ok.txt")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "VALID" in proc.stdout
