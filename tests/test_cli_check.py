"""`paxos-chaos check`: verdicts, exit codes (0 valid, 1 invalid, 2 could not run, 3 unknown), errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main, parse_duration_s
from targets.errors import UsageError
from tests.checker.histories import Execution, concurrent_puts, h
from workloads.history import Event, write_jsonl

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


# -- issue 14: histories other tools accept ------------------------------------------------------------

KNOSSOS_CAS = """\
; Knossos cas-register: the register starts at 0
[{:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 0}        ; valid only if the register starts at 0
 {:process :nemesis, :type :info, :f :start, :value #{"n1" "n2"}}
 {:process 1, :type :invoke, :f :cas, :value [0 1]}
 {:process 1, :type :ok,
  :f :cas, :value [0 1]}
 {:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 1}]
"""


def test_space_separated_jepsen_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "etcd.log"
    path.write_text("2017-03-01 12:00:00,000 INFO  jepsen.core - Running test\n"
                    "INFO  jepsen.util - 3    :invoke    :write    1\n"
                    "INFO  jepsen.util - 3    :ok    :write    1\n"
                    "INFO  jepsen.util - :nemesis    :info    :start    nil\n"
                    "INFO  jepsen.util - 4  :invoke  :cas  [1 2]\n"
                    "INFO  jepsen.util - 4  :ok  :cas  [1 2]\n"
                    "INFO  jepsen.util - 3    :invoke    :read    nil\n"
                    "INFO  jepsen.util - 3    :ok    :read    2\n")
    assert main(["check", str(path)]) == 0
    assert "etcd.log: VALID (register model, 3 ops" in capsys.readouterr().out
    path.write_text(path.read_text().replace(":read    2", ":read    1"))
    assert main(["check", str(path)]) == 1


def test_knossos_edn_vector_with_comments_and_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cas.edn"
    path.write_text(KNOSSOS_CAS)
    assert main(["check", "--initial", "0", "--json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "edn" and doc["verdict"] == "valid" and doc["ops"] == 3
    assert doc["model"] == "register(initial=0)"


def test_initial_value_changes_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cas.edn"
    path.write_text(KNOSSOS_CAS)
    assert main(["check", str(path)]) == 1  # our default, nil, as Jepsen's cas-register: the read of 0 is wrong
    assert "cas.edn: INVALID (register model" in capsys.readouterr().out
    assert main(["check", "--initial", "0", str(path)]) == 0
    assert main(["check", "--initial", "nil", str(path)]) == 1
    assert main(["check", "--initial", '"0"', str(path)]) == 1  # the string "0" is not the integer 0
    capsys.readouterr()
    nil_first = tmp_path / "nil.log"  # and the other way round: a cas from nil needs the nil default
    nil_first.write_text("INFO  jepsen.util - 0\t:invoke\t:cas\t[nil 5]\nINFO  jepsen.util - 0\t:ok\t:cas\t[nil 5]\n"
                         "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t5\n")
    assert main(["check", str(nil_first)]) == 0
    assert main(["check", "--initial", "null", str(nil_first)]) == 0
    assert main(["check", "--initial", "0", str(nil_first)]) == 1


@pytest.mark.parametrize(("argv", "needle"), [
    (["--initial", "zero"], "--initial 'zero' is not an integer, a quoted string or nil"),
    (["--initial", "1.5"], "--initial '1.5' is not an integer"),
    (["--initial", '"a" "b"'], "is not an integer, a quoted string or nil"),
    (["--initial", "9" * 2000], "is not an integer"),
    (["--initial", ":k"], "is not an integer"),
    (["--initial", "0", "--model", "kv"], "--initial is for the register model, but this history is checked "
                                          "against the kv model"),
])
def test_bad_initial_exits_2_with_one_line(tmp_path: Path, argv: list[str], needle: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cas.edn"
    path.write_text(KNOSSOS_CAS)
    assert main(["check", *argv, str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_initial_is_refused_for_a_kv_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path, "h.jsonl", h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a")))
    assert main(["check", "--initial", "0", path]) == 2
    assert "add --model register or drop --initial" in capsys.readouterr().err
    assert main(["check", "--initial", "0", "--model", "register", path]) == 0


@pytest.mark.parametrize(("name", "text"), [
    ("empty.edn", ""),
    ("blank.jsonl", "\n\n"),
    ("nemesis.edn", "{:process :nemesis, :type :info, :f :start, :value nil}\n"
                    "{:process :nemesis, :type :info, :f :stop, :value [:isolated #{\"n1\"}]}\n"),
    ("nemesis-vector.edn", "; only faults\n[{:process :nemesis, :type :info, :f :start}\n"
                           " {:process :nemesis, :type :info, :f :stop}]\n"),
    ("nemesis.log", "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
                    "INFO  jepsen.util - :nemesis    :info    :stop    nil\n"),
])
def test_no_client_operations_exits_0_with_0_operations(tmp_path: Path, name: str, text: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{name}: VALID" in out and "0 operations" in out
    assert main(["check", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["ops"] == 0
    assert main(["check", "--initial", "0", str(path)]) == 0  # no ops: any model will do


def test_nil_read_is_unconstrained_in_knossos_edn_but_absent_in_our_jsonl(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edn = tmp_path / "k.edn"
    edn.write_text("[{:process 0, :type :invoke, :f :write, :value 3}\n {:process 0, :type :ok, :f :write, :value 3}\n"
                   " {:process 1, :type :invoke, :f :read, :value nil}\n {:process 1, :type :ok, :f :read, :value nil}]\n")
    assert main(["check", str(edn)]) == 0  # Knossos: a read of nil did not observe a value
    ours = _jsonl(tmp_path, "h.jsonl", h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
                                         (1, "invoke", "get", "k", None), (1, "ok", "get", "k", None)))
    assert main(["check", ours]) == 1  # ours: a get of null saw the key absent, but it holds "a"
    assert "INVALID" in capsys.readouterr().out
