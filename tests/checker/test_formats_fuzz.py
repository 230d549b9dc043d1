"""Property-based fuzz of the history readers that `paxos-chaos check` uses: random bytes, random text
and random mutations of the recorded corpus (tests/checker/corpus/), of a small JSONL history, of EDN
and of Jepsen log lines go to `harness.checker.parse` (every format and auto-detection), then to
`operations`. The contract: a parsed history or a `HistoryFormatError` naming the file, never another
exception. Inputs stay small (a few KB), so no example can hang.

Each test runs FUZZ_EXAMPLES examples (default 150, a few seconds); for a longer fuzz:

    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/checker/test_formats_fuzz.py -q -p no:cacheprovider

A crash found here is fixed in the reader and kept below as an `@example` or a plain test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.checker import FORMATS, operations, parse
from harness.checker.edn import EdnError, loads
from harness.cli import main
from targets.errors import HistoryFormatError, UsageError
from tests.checker.test_formats import LOG  # the Jepsen log the format tests read, as a fuzz seed

SOURCE = "fuzzed-history.txt"
CORPUS = Path(__file__).parent / "corpus"
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

JSONL = """\
{"index": 0, "time": 10, "process": 0, "type": "invoke", "f": "put", "key": "k", "value": "a", "node": null, "error": null}
{"index": 1, "time": 20, "process": 0, "type": "ok", "f": "put", "key": "k", "value": "a", "node": 1, "error": null}
{"index": 2, "time": 30, "process": 1, "type": "invoke", "f": "cas", "key": "k", "value": {"expect": "a", "value": "b"}}
{"index": 3, "time": 40, "process": 1, "type": "info", "f": "cas", "key": "k", "value": null, "error": "timeout"}
{"index": 4, "time": 50, "process": 2, "type": "invoke", "f": "get", "key": "k", "value": null}
{"index": 5, "time": 60, "process": 2, "type": "ok", "f": "get", "key": "k", "value": "b"}
"""
EDN = """\
{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}
{:type :invoke, :f :cas, :value [3 4], :process 1, :time 30}
{:type :info, :f :start, :value nil, :process :nemesis}
{:type :fail, :f :cas, :value [3 4], :process 1, :time 40, :error :timed-out}
{:type :invoke, :f :read, :value nil, :process 2, :time 50}
{:type :ok, :f :read, :value #{1 2}, :process 2, :time 60}
"""
KNOSSOS = """\
; Knossos: one vector of maps over many lines, comments, sets
[{:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 0}  ; initial 0
 {:process :nemesis, :type :info, :f :start, :value [:isolated {"n1" #{"n2"}}]}
 {:process 1 :type :invoke
  :f :cas :value [0 1]}
 {:process 1, :type :info, :f :cas, :value [0 1], :error :timed-out}]
"""
SPACED_LOG = LOG.replace("\t", "   ")
# the head of each corpus file: a few KB keep every example fast
SEEDS = [JSONL, EDN, LOG, KNOSSOS, SPACED_LOG] + ["".join(p.read_text(encoding="utf-8").splitlines(keepends=True)[:30])
                             for p in sorted(CORPUS.glob("*.txt"))]
# what breaks readers: deep nesting, huge numbers, bad escapes, odd digits and keys
NASTY = ["[" * 3000, "{" * 3000, "(" * 2000 + ")" * 2000, "9" * 5000, "-" + "9" * 4400, "1e99999",
         '"\\u12"', '"\\uzzzz"', '"\\', "\\u", "#{[] []}", "{[] 1}", "#inst", "#", "N", "1N", "1.5M",
         "²", "١", "\u2028", "\x00", "\ufeff", "NaN", "Infinity", "-Infinity", "1e400", "true", "null",
         '{"index": 0', '"index"', ":process", ":nemesis", ":type", ":invoke", ":ok", ":info", ":f",
         ":cas", "[1 2 3]", "nil", "\t", "\n", ",", ";", "jepsen.util", " - ", "{:process 0, ",
         '{"expect": 1, "value": 2}', '{"expect": [1]}']
FORMAT_CHOICES = ["auto", *FORMATS]


def _check(text: str, fmt: str) -> None:
    """The contract: parse + operations give a history, or a HistoryFormatError naming the file; the
    readers quote a bad value shortened, not the whole line (operations() quotes keys whole)."""
    try:
        parsed = parse(text, source=SOURCE, format=fmt)
    except HistoryFormatError as exc:
        assert SOURCE in str(exc), f"the message does not name the file: {exc}"
        assert len(str(exc)) < 1000, "the message should quote the bad value shortened"
        return
    try:
        operations(parsed.events, where=parsed.where)
    except HistoryFormatError as exc:
        assert SOURCE in str(exc), f"the message does not name the file: {exc}"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A seed history with a few random edits: deletions, insertions of nasty tokens, duplications."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "nasty", "duplicate", "replace-line"]))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == "insert":
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        elif kind == "nasty":
            text = text[:at] + draw(st.sampled_from(NASTY)) + text[at:]
        elif kind == "duplicate":
            text = text[:at] + text[at:at + draw(st.integers(1, 200))] * 2 + text[at + 1:]
        else:
            lines = text.splitlines(keepends=True) or [""]
            k = draw(st.integers(0, len(lines) - 1))
            lines[k] = draw(st.sampled_from(NASTY)) + "\n"
            text = "".join(lines)
    return text


@FUZZ
@given(text=mutated(), fmt=st.sampled_from(FORMAT_CHOICES))
def test_mutated_histories_parse_or_give_a_format_error(text: str, fmt: str) -> None:
    _check(text, fmt)


@FUZZ
@given(text=st.lists(st.sampled_from(NASTY) | st.text(max_size=10), max_size=30).map("".join),
       fmt=st.sampled_from(FORMAT_CHOICES))
def test_random_text_parses_or_gives_a_format_error(text: str, fmt: str) -> None:
    _check(text, fmt)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_through_the_check_command_exit_cleanly(
        data: bytes, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / SOURCE
    path.write_bytes(data)
    code = main(["check", str(path), "--timeout", "5s"])
    err = capsys.readouterr().err
    assert code in (0, 1, 2, 3) and "Traceback" not in err
    if code == 2:
        assert SOURCE in err


@FUZZ
@given(text=st.lists(st.sampled_from(NASTY) | st.text(max_size=6), max_size=20).map("".join))
def test_the_edn_reader_returns_a_value_or_an_edn_error(text: str) -> None:
    try:
        loads(text)
    except EdnError:
        pass


# -- what the fuzz found, kept as plain regression tests ----------------------------------------------

@pytest.mark.parametrize("text, fmt", [
    ("[" * 5000 + "]" * 5000, "edn"),                                   # RecursionError in the reader
    ("{:process 0, :type :invoke, :f :read, :value " + "[" * 5000, "edn"),
    ('{"index": 0, "process": 0, "type": "invoke", "f": "get", "value": ' + "[" * 5000 + "}", "jsonl"),
    ('{"index": 0, "process": 0, "type": "invoke", "f": "get", "time": ' + "1" * 5000 + "}", "jsonl"),
    ("{:process 0, :type :invoke, :f :read, :time " + "1" * 5000 + "}", "edn"),  # int() limit
    ('{:process 0, :type :invoke, :f :read, :value "\\uzz"}', "edn"),      # int(..., 16) on bad hex
    ("INFO  jepsen.util - 0\t:invoke\t:write\t" + "[" * 5000, "jepsen-log"),
])
def test_found_by_the_fuzz_deep_nesting_huge_numbers_bad_escapes(text: str, fmt: str) -> None:
    with pytest.raises(HistoryFormatError, match=SOURCE):
        parse(text, source=SOURCE, format=fmt)


@pytest.mark.parametrize("text, fmt", [
    ('{"index": 0, "process": 0, "type": "' + "[" * 3000 + '", "f": "get"}', "jsonl"),
    ('{"index": 0, "process": 0, "type": "invoke", "f": "get", "' + "x" * 3000 + '": 1}', "jsonl"),
    ("{:process 0, :type :" + "x" * 3000 + ", :f :read}", "edn"),
    ("INFO  jepsen.util - " + "9" * 3000 + "\t:invoke\t:write\t1", "jepsen-log"),
    ('{"index": 0}', "no-such-format"),
])
def test_found_by_the_fuzz_messages_quote_the_bad_value_shortened_and_name_the_file(text: str, fmt: str) -> None:
    with pytest.raises(HistoryFormatError, match=SOURCE) as info:
        parse(text, source=SOURCE, format=fmt)
    assert len(str(info.value)) < 400


def test_edn_errors_are_edn_errors_not_value_or_recursion_errors() -> None:
    for text in ("[" * 5000, "9" * 5000, '"\\uzzzz"'):
        with pytest.raises(EdnError):
            loads(text)
    assert loads('"\\u0041"') == "A"


def test_a_cli_check_of_garbage_bytes_is_one_line_and_exit_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"\xff\xfe\x00[[[")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "garbage.bin" in err and "Traceback" not in err


def test_usage_error_is_the_root_of_format_errors() -> None:
    # the CLI turns every UsageError into one line and exit 2: the readers must stay inside it
    assert issubclass(HistoryFormatError, UsageError)


@FUZZ
@example(text='{"index": 0, "process": 0, "type": "invoke", "f": "get", "value": NaN}')
@example(text='{"index": 0, "process": 0, "type": "invoke", "f": "get", "key": {"a": 1}}')
@given(text=mutated())
def test_jsonl_reader_alone(text: str) -> None:
    _check(text, "jsonl")
