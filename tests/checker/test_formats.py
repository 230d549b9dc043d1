"""Reading histories: detection, JSONL, Jepsen EDN, Jepsen log lines, Porcupine kv; clear errors."""

from __future__ import annotations

import io

import pytest

from harness.checker import Verdict, check, detect, model_for, operations, parse
from harness.checker.edn import EdnError, loads, skip
from targets.errors import HistoryFormatError, UsageError
from tests.checker.histories import cas, h
from workloads.history import CasValue, write_jsonl

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
        ("[{:process 0, :type :invoke, :f :read}\n\n", "auto", "x.txt:1: expected ']' to close the [ opened here"),
        ("; c\n[{:process 0, :type :invoke,\n  :f :read, :value}]\n", "edn", "x.txt:2: a map needs an even number"),
        ("[{:process 0, :type :invoke, :f :read}\n [1 2]]\n", "edn", "x.txt:2: got tuple; expected an EDN map"),
        ("[{:process 0, :type :invoke, :f :read}]\n)\n", "edn", "x.txt:2: unexpected ')'"),
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


# -- issue 14: formats other tools read ---------------------------------------------------------------

def _same_ops(a: str, b: str, **kw: str) -> None:
    pa, pb = parse(a, source="a", **kw), parse(b, source="b", **kw)
    assert pa.events == pb.events


def test_jepsen_log_fields_separated_by_runs_of_spaces_read_like_tabs() -> None:
    spaced = LOG.replace("\t", "    ")
    mixed = LOG.replace("\t", " \t  ", 3)
    assert detect(spaced, source="s") == "jepsen-log"
    _same_ops(LOG, spaced)
    _same_ops(LOG, mixed)
    parsed = parse("INFO  jepsen.util - 1  :info  :cas  [1 2]   indeterminate: Read timed out\n", source="s")
    [event] = parsed.events
    assert event.value == CasValue(expect=1, value=2) and event.error == "indeterminate: Read timed out"
    assert _verdict(spaced.replace(":ok    :read    2", ":ok    :read    7")) == Verdict.INVALID


KNOSSOS = """\
; a Knossos cas-register history: one vector over many lines
[{:process 0, :type :invoke, :f :write, :value 3}
 {:process 0, :type :ok, :f :write, :value 3}   ; comment after an op
 {:process :nemesis, :type :info, :f :start, :value [:isolated {"n1" #{"n2" "n3"}}]}
 {:process 1 :type :invoke :f :cas :value [3 4] :nodes #{"n1" "n2"}}
 {:process 1
  :type :ok
  :f :cas
  :value [3 4]}
 ;; {:process 2, :type :invoke, :f :read, :value nil} commented out
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value 4}]
"""
KNOSSOS_LINES = """\
{:process 0, :type :invoke, :f :write, :value 3}
{:process 0, :type :ok, :f :write, :value 3}
{:process 1, :type :invoke, :f :cas, :value [3 4]}
{:process 1, :type :ok, :f :cas, :value [3 4]}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value 4}
"""


def test_knossos_edn_vector_over_many_lines_with_comments_and_sets() -> None:
    parsed = parse(KNOSSOS, source="k.edn")
    assert parsed.format == "edn" and parsed.model == "register"
    assert [e.f for e in parsed.events] == ["write", "write", "cas", "cas", "read", "read"]
    assert [parsed.where(e) for e in parsed.events] == [f"k.edn:{n}" for n in (2, 3, 5, 6, 11, 12)]
    _same_ops(KNOSSOS, KNOSSOS_LINES)
    _same_ops(KNOSSOS.replace("[{", "({", 1).replace("4}]", "4})"), KNOSSOS_LINES)  # a list
    _same_ops(KNOSSOS_LINES.replace("\n", ",\n"), KNOSSOS_LINES)  # commas are whitespace
    assert _verdict(KNOSSOS) == Verdict.VALID
    assert _verdict(KNOSSOS.replace(":value 4}]", ":value 3}]")) == Verdict.INVALID


def test_edn_maps_spread_over_lines_without_a_vector() -> None:
    text = "{:process 0\n :type :invoke\n :f :write :value 1}\n\n{:process 0 :type :ok\n :f :write :value 1}"
    parsed = parse(text, source="m.edn")
    assert [parsed.where(e) for e in parsed.events] == ["m.edn:1", "m.edn:5"]


@pytest.mark.parametrize("text", [
    "", "\n  \n", "; only a comment\n", "[]\n", "[\n; nothing yet\n]\n", "()",
    "{:process :nemesis, :type :info, :f :start, :value nil}\n{:process :nemesis, :type :info, :f :stop}\n",
    "[{:process :nemesis, :type :info, :f :start, :value #{\"n1\"}}]\n",
    "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\nINFO  jepsen.util - :nemesis  :info  :stop  nil\n",
])
def test_no_client_operations_is_an_empty_valid_history(text: str) -> None:
    parsed = parse(text, source="e")
    assert parsed.events == []
    result = check(model_for(parsed.model), operations(parsed.events, where=parsed.where))
    assert result.verdict == Verdict.VALID and result.ops == 0


def test_knossos_nil_read_is_unconstrained_but_our_jsonl_null_get_means_absent() -> None:
    edn = ("{:process 0, :type :invoke, :f :write, :value 3}\n{:process 0, :type :ok, :f :write, :value 3}\n"
           "{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value nil}\n")
    parsed = parse(edn, source="k.edn")
    assert parsed.events[3].type == "info"  # an unknown-outcome read: it constrains nothing
    assert _verdict(edn) == Verdict.VALID
    log = "".join(f"INFO  jepsen.util - {p}  :{t}  :{f}  {v}\n" for p, t, f, v in
                  [(0, "invoke", "write", 3), (0, "ok", "write", 3), (1, "invoke", "read", "nil"),
                   (1, "ok", "read", "nil")])
    assert _verdict(log) == Verdict.VALID
    buf = io.StringIO()
    write_jsonl(h((0, "invoke", "put", "k", "a"), (0, "ok", "put", "k", "a"),
                  (1, "invoke", "get", "k", None), (1, "ok", "get", "k", None)), buf)
    assert parse(buf.getvalue(), source="h.jsonl").events[3].type == "ok"
    assert _verdict(buf.getvalue()) == Verdict.INVALID  # null = the key is absent, but it holds "a"
    buf = io.StringIO()
    write_jsonl(h((0, "invoke", "write", None, 3), (0, "ok", "write", None, 3),
                  (1, "invoke", "read", None, None), (1, "ok", "read", None, None)), buf)
    assert _verdict(buf.getvalue()) == Verdict.INVALID  # our register: null = the register is nil


def test_register_initial_value() -> None:
    edn = ("{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 0}\n"
           "{:process 1, :type :invoke, :f :cas, :value [0 1]}\n{:process 1, :type :ok, :f :cas, :value [0 1]}\n")
    ops = operations(parse(edn, source="k.edn").events)
    assert check(model_for("register"), ops).verdict == Verdict.INVALID
    assert check(model_for("register", initial=0), ops).verdict == Verdict.VALID
    assert check(model_for("register", initial="0"), ops).verdict == Verdict.INVALID
    assert model_for("register", initial=0).name == "register(initial=0)"
    with pytest.raises(UsageError, match="only to the register model"):
        model_for("kv", initial=0)


def test_edn_reader_comments_and_commas() -> None:
    assert loads("[1, 2 ; three\n 4]") == (1, 2, 4)
    assert loads('{:a "x;y"} ; trailing') == {":a": "x;y"}
    assert loads("a;b") == "a"
    assert skip(";" * 10_000 + "\n, x", 0) == 10_003
    with pytest.raises(EdnError) as info:
        loads("[1\n 2\n  3")
    assert info.value.pos == 0
