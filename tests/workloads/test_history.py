"""workloads.history: the Event record and its JSONL form."""

from __future__ import annotations

import io

import pytest

from targets.errors import HistoryFormatError
from workloads.history import CasValue, Event, HistoryRecorder, parse_jsonl, read_jsonl, write_jsonl


def _events() -> list[Event]:
    return [
        Event(index=0, time=10, process=1, type="invoke", f="cas", key="k",
              value=CasValue(expect=None, value="a")),
        Event(index=1, time=20, process=1, type="ok", f="cas", key="k", node=2),
        Event(index=2, time=30, process=2, type="invoke", f="get", key="k"),
        Event(index=3, time=40, process=2, type="info", f="get", key="k", error="timeout"),
        Event(index=4, time=None, process=7, type="invoke", f="append", key="k", value="x"),
    ]


def test_round_trip_preserves_every_field() -> None:
    buf = io.StringIO()
    assert write_jsonl(_events(), buf) == 5
    back = read_jsonl(io.StringIO(buf.getvalue()), source="h.jsonl")
    assert back == _events()


def test_cas_value_is_an_object_with_expect_and_value() -> None:
    buf = io.StringIO()
    write_jsonl(_events()[:1], buf)
    assert '"value":{"expect":null,"value":"a"}' in buf.getvalue()


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{not json", "h.jsonl:2: not valid JSON"),
        ('{"index":1,"process":1,"type":"done","f":"get"}', "type must be one of invoke|ok|fail|info"),
        ('{"index":1,"process":1,"type":"ok","f":"frob"}', "f must be one of"),
        ('{"index":1,"process":-1,"type":"ok","f":"get"}', "process must be an int >= 0"),
        ('{"index":1,"type":"ok","f":"get"}', "missing field 'process'"),
        ('{"index":1,"process":1,"type":"ok","f":"get","colour":1}', "unknown field(s) 'colour'"),
        ('{"index":1,"process":1,"type":"invoke","f":"cas","value":"x"}', "a cas invoke needs value"),
        ('{"index":1,"process":1,"type":"ok","f":"get","value":[1]}', "value must be a string"),
        ('{"index":0,"process":1,"type":"ok","f":"get"}', "index 0 does not increase"),
    ],
)
def test_bad_lines_name_file_line_and_expectation(line: str, needle: str) -> None:
    text = '{"index":0,"process":1,"type":"invoke","f":"get"}\n' + line + "\n"
    with pytest.raises(HistoryFormatError) as info:
        list(parse_jsonl(text.splitlines(), source="h.jsonl"))
    assert needle in str(info.value)
    assert str(info.value).startswith("h.jsonl:2:")


def test_blank_lines_are_skipped() -> None:
    text = '\n{"index":0,"process":1,"type":"invoke","f":"get"}\n\n'
    assert len(list(parse_jsonl(text.splitlines()))) == 1


def test_recorder_numbers_events_and_streams_them() -> None:
    buf = io.StringIO()
    ticks = iter([100, 200])
    rec = HistoryRecorder(fp=buf, clock_ns=lambda: next(ticks))
    rec.record(process=0, type="invoke", f="put", key="a", value="1")
    rec.record(process=0, type="ok", f="put", key="a", value="1", node=1)
    assert [e.index for e in rec.events] == [0, 1]
    assert [e.time for e in rec.events] == [100, 200]
    assert read_jsonl(io.StringIO(buf.getvalue())) == rec.events
