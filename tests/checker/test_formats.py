"""Reading histories: detection, JSONL, Jepsen EDN, Jepsen log lines, Porcupine kv; clear errors."""

from __future__ import annotations

import io

import pytest

from harness.checker import Verdict, check, detect, model_for, operations, parse
from harness.checker.edn import EdnError, loads
from harness.errors import HistoryFormatError
from harness.history import CasValue, write_jsonl
from tests.checker.histories import cas, h

LOG = """\
2017-03-01 12:00:00,000 some other log line
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:info\t:cas\t:timed-out
INFO  jepsen.util - 2\t:ok\t:read\t2
INFO  jepsen.util - 3\t:invoke\t:cas\t[5 6]
INFO  jepsen.util - 3\t:fail\t:cas\t[5 6]
"""

EDN = """\
{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 25}
{:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}
{:type :ok, :f :read, :value 3, :process 1, :time 40, :index 3}
"""


def _verdict(text: str, source: str = "x", **kw: str) -> Verdict:
    parsed = parse(text, source=source, **kw)
    return check(model_for(parsed.model), operations(parsed.events, where=parsed.where)).verdict


def test_jepsen_log_lines_register() -> None:
    parsed = parse(LOG, source="etcd.log")
    assert parsed.format == "jepsen-log" and parsed.model == "register"
    assert [e.process for e in parsed.events] == [0, 0, 1, 2, 1, 2, 3, 3]
    assert parsed.events[2].value == CasValue(expect=1, value=2)
    assert parsed.events[4].type == "info" and parsed.events[4].error == ":timed-out"
    assert _verdict(LOG) == Verdict.VALID  # the info cas 1->2 must have happened before the read
    assert _verdict(LOG.replace(":ok\t:read\t2", ":ok\t:read\t7")) == Verdict.INVALID


def test_jepsen_edn_history_skips_the_nemesis() -> None:
    parsed = parse(EDN, source="h.edn")
    assert parsed.format == "edn" and parsed.model == "register"
    assert len(parsed.events) == 4 and parsed.events[0].time == 10
    assert _verdict(EDN) == Verdict.VALID
    assert _verdict(EDN.replace(":value 3, :process 1", ":value 4, :process 1")) == Verdict.INVALID


def test_our_jsonl_round_trips_through_the_checker() -> None:
    buf = io.StringIO()
    write_jsonl(h((0, "invoke", "cas", "k", cas(None, "a")), (0, "ok", "cas", "k", None),
                  (1, "invoke", "get", "k", None), (1, "ok", "get", "k", "a")), buf)
    parsed = parse(buf.getvalue(), source="history.jsonl")
    assert parsed.format == "jsonl" and parsed.model == "kv"
    assert _verdict(buf.getvalue()) == Verdict.VALID


def test_porcupine_kv_detected_and_absent_reads_empty() -> None:
    text = ('{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n'
            '{:process 0, :type :ok, :f :get, :key "1", :value ""}\n')
    parsed = parse(text, source="c.txt")
    assert parsed.format == "porcupine-kv" and parsed.model == "kv-empty"
    assert _verdict(text) == Verdict.VALID


def test_fast_and_general_edn_paths_agree() -> None:
    line = '{:process 3, :type :ok, :f :append, :key "7", :value "x 3 1 y"}'
    fast = parse(line + "\n", source="a", format="porcupine-kv").events
    general = parse(" " + line + "\n", source="b", format="porcupine-kv").events  # leading space: general reader
    assert fast == general


@pytest.mark.parametrize(
    ("text", "fmt", "needle"),
    [
        ("", "auto", "x.txt: the file is empty"),
        ("hello world\n", "auto", "x.txt:1: cannot tell the history format"),
        ('{:process 0, :type :invoke, :f :get\n', "edn", "x.txt:1: expected '}' to close '{'"),
        ('{:process 0, :type :done, :f :get}\n', "edn", "x.txt:1: :type ':done'; expected :invoke"),
        ('{:process 0, :f :get}\n', "edn", "x.txt:1: missing :type"),
        ('{:process 0, :type :ok, :f :get, :value 1.5}\n', "edn", "x.txt:1: value 1.5 is not a string"),
        ("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2 3]\n", "jepsen-log", "x.txt:1: cas value (1, 2, 3)"),
        ("INFO  jepsen.util - 0\t:invoke\t:write\t[1\n", "jepsen-log", "x.txt:1: expected ']'"),
        ("nothing here\n", "jepsen-log", "x.txt: no Jepsen operations found"),
        ('{"index": 0, "process": 0, "type": "ok", "f": "get"}\n{"index": 1,', "auto", "x.txt:2: not valid JSON"),
    ],
)
def test_unreadable_input_names_file_line_and_expectation(text: str, fmt: str, needle: str) -> None:
    with pytest.raises(HistoryFormatError) as info:
        parse(text, source="x.txt", format=fmt)
    assert needle in str(info.value)


def test_pairing_errors_name_the_line() -> None:
    text = ('{"index": 0, "process": 0, "type": "invoke", "f": "get", "key": "k"}\n'
            '\n'
            '{"index": 1, "process": 0, "type": "invoke", "f": "get", "key": "k"}\n')
    parsed = parse(text, source="h.jsonl")
    with pytest.raises(HistoryFormatError, match=r"h.jsonl:3: process 0 invokes get while its get from h.jsonl:1"):
        operations(parsed.events, where=parsed.where)
    orphan = '{"index": 4, "process": 2, "type": "ok", "f": "put", "key": "k", "value": "v"}\n'
    parsed = parse(orphan, source="h.jsonl")
    with pytest.raises(HistoryFormatError, match=r"h.jsonl:1: ok put of process 2 completes nothing"):
        operations(parsed.events, where=parsed.where)


def test_model_cannot_interpret_operation() -> None:
    parsed = parse("INFO  jepsen.util - 0\t:invoke\t:append\t1\n", source="x.log")
    with pytest.raises(HistoryFormatError, match="no operation 'append'"):
        check(model_for("register"), operations(parsed.events, where=parsed.where))


def test_detect() -> None:
    assert detect('{"index":0}', source="s") == "jsonl"
    assert detect("{:process 0}", source="s") == "edn"
    assert detect("junk\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n", source="s") == "jepsen-log"


def test_edn_reader() -> None:
    assert loads('{:a [1 "x\\"y" nil] :b #{:k} :c (true false) :d -3 :e 2.5}') == {
        ":a": (1, 'x"y', None), ":b": frozenset({":k"}), ":c": (True, False), ":d": -3, ":e": 2.5}
    assert loads('#inst "2020-01-01"') == "2020-01-01"
    for bad in ("{:a", "[1 2}", "{:a}", "", "1 2", ")"):
        with pytest.raises(EdnError):
            loads(bad)
