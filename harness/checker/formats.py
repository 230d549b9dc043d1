"""Reading histories from text: our JSONL, Jepsen EDN, Jepsen log lines, Porcupine's kv histories.

Pure: every function takes the text (and a `source` name for messages) and never opens files.
Each parser returns a `Parsed`: the events (numbered 0, 1, 2, ... in file order), the format, the model
the format implies, and a `where(event)` function giving "file:line" for error messages.

Errors are `HistoryFormatError` with "<source>:<line>: what is wrong; expected what".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from harness.checker.edn import EdnError, loads
from harness.errors import HistoryFormatError
from harness.history import CasValue, Event, Value, parse_jsonl, short_repr

FORMATS: Final = ("jsonl", "edn", "jepsen-log", "porcupine-kv")

_EDN_EXAMPLE: Final = '{:process 0, :type :invoke, :f :read, :value nil}'
_LOG_EXAMPLE: Final = "INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 2]"
# Porcupine's kv lines all look alike; a regex reads them ~10x faster than the general EDN reader.
_PORCUPINE_LINE: Final = re.compile(
    r'\{:process (\d+), :type :(invoke|ok|fail|info), :f :(get|put|append), :key "([^"\\]*)", '
    r':value (?:nil|"([^"\\]*)")\}\s*')
_LOG_LINE: Final = re.compile(
    r"jepsen\.util\S*\s*[-:]?\s*(?P<proc>:?[\w-]+)\t(?P<type>:[\w-]+)\t(?P<f>:[\w-]+)(?:\t(?P<rest>.*))?$")
_TYPES: Final = {":invoke": "invoke", ":ok": "ok", ":fail": "fail", ":info": "info"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """A history read from text. `model` is the model the format implies: kv, kv-empty or register."""

    events: list[Event]
    format: str
    model: str
    where: Callable[[Event], str]


def detect(text: str, *, source: str) -> str:
    """Guess the format from the content. Raises HistoryFormatError when no format fits."""
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()]
    if not lines:
        raise HistoryFormatError(f"{source}: the file is empty; expected a history (one event per line)")
    first = lines[0].lstrip()
    if first.startswith('{"') or first.startswith("{ \""):
        return "jsonl"
    if first.startswith("{"):
        return "porcupine-kv" if _PORCUPINE_LINE.fullmatch(first) else "edn"
    if any(_LOG_LINE.search(ln) for ln in lines):
        return "jepsen-log"
    raise HistoryFormatError(
        f"{source}:1: cannot tell the history format from {first[:60]!r}; expected JSONL "
        f"({{\"index\": 0, ...}}), EDN ({_EDN_EXAMPLE}) or Jepsen log lines ({_LOG_EXAMPLE}); "
        "or name it with --format")


def parse(text: str, *, source: str, format: str = "auto") -> Parsed:
    """Parse `text` in `format` ("auto" detects it). Raises HistoryFormatError naming file and line."""
    fmt = detect(text, source=source) if format == "auto" else format
    if fmt == "jsonl":
        return _parse_jsonl(text, source)
    if fmt in ("edn", "porcupine-kv"):
        return _parse_edn(text, source, porcupine=fmt == "porcupine-kv")
    if fmt == "jepsen-log":
        return _parse_log(text, source)
    raise HistoryFormatError(f"{source}: unknown history format {short_repr(format)}; expected auto or one of "
                             f"{', '.join(FORMATS)}")


def _implied_model(events: list[Event], *, absent_empty: bool = False) -> str:
    fs = {e.f for e in events}
    if fs and fs <= {"read", "write", "cas"}:
        return "register"
    return "kv-empty" if absent_empty else "kv"


def _where_by_line(source: str, line_of: list[int]) -> Callable[[Event], str]:
    def where(event: Event) -> str:
        line = line_of[event.index] if event.index < len(line_of) else None
        return f"{source}:{line}" if line is not None else f"{source} event {event.index}"
    return where


def _parse_jsonl(text: str, source: str) -> Parsed:
    lines = text.splitlines()
    events = list(parse_jsonl(lines, source=source))
    line_numbers = [n for n, ln in enumerate(lines, start=1) if ln.strip()]
    by_index = {e.index: line_numbers[k] for k, e in enumerate(events)}

    def where(event: Event) -> str:
        return f"{source}:{by_index.get(event.index, '?')}"
    return Parsed(events=events, format="jsonl", model=_implied_model(events), where=where)


def _parse_edn(text: str, source: str, *, porcupine: bool) -> Parsed:
    events: list[Event] = []
    line_of: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        m = _PORCUPINE_LINE.fullmatch(line)
        if m is not None:  # fast path, same result as the general reader
            proc, typ, f, key, val = m.groups()
            events.append(Event(index=len(events), time=None, process=int(proc), type=typ, f=f, key=key,
                                value=val))
            line_of.append(lineno)
            continue
        event = _edn_event(line, lineno, source, index=len(events))
        if event is not None:
            events.append(event)
            line_of.append(lineno)
    if not events:
        raise HistoryFormatError(f"{source}: no operations found; expected EDN maps like {_EDN_EXAMPLE}")
    model = "kv-empty" if porcupine else _implied_model(events)
    return Parsed(events=events, format="porcupine-kv" if porcupine else "edn", model=model,
                  where=_where_by_line(source, line_of))


def _edn_event(line: str, lineno: int, source: str, *, index: int) -> Event | None:
    """One EDN map -> Event; None for nemesis/log lines that are not client operations."""
    at = f"{source}:{lineno}"
    try:
        obj = loads(line)
    except EdnError as exc:
        raise HistoryFormatError(f"{at}: {exc}; expected one EDN map per line like {_EDN_EXAMPLE}") from None
    if not isinstance(obj, dict):
        raise HistoryFormatError(f"{at}: got {type(obj).__name__}; expected an EDN map like {_EDN_EXAMPLE}")
    proc = obj.get(":process")
    if isinstance(proc, str):  # :nemesis and other named processes are not clients
        return None
    for field in (":process", ":type", ":f"):
        if field not in obj:
            raise HistoryFormatError(f"{at}: missing {field}; expected a map like {_EDN_EXAMPLE}")
    typ = _TYPES.get(str(obj[":type"]))
    if typ is None:
        raise HistoryFormatError(f"{at}: :type {short_repr(obj[':type'])}; expected :invoke, :ok, :fail or :info")
    f = str(obj[":f"]).lstrip(":")
    key = obj.get(":key")
    time = obj.get(":time")
    err = obj.get(":error")
    try:
        return Event(index=index, time=time if isinstance(time, int) else None, process=proc,  # type: ignore[arg-type]
                     type=typ, f=f, key=None if key is None else str(key),
                     value=_value(obj.get(":value"), f=f, typ=typ),
                     error=None if err is None else str(err))
    except ValueError as exc:
        raise HistoryFormatError(f"{at}: {exc}") from None


def _value(raw: object, *, f: str, typ: str) -> Value:
    """EDN value -> history value: cas [old new] -> CasValue; strings and ints as they are."""
    if f == "cas" and isinstance(raw, tuple):
        if len(raw) != 2:
            raise ValueError(f"cas value {short_repr(raw)} must be [old new]")
        return CasValue(expect=_scalar(raw[0]), value=_scalar(raw[1]))
    if typ in ("info", "fail") and isinstance(raw, str) and raw.startswith(":"):
        return None  # Jepsen puts the error keyword (:timed-out) where the value goes
    return _scalar(raw)


def _scalar(raw: object) -> str | int | None:
    if raw is None or isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool)):
        return raw
    raise ValueError(f"value {short_repr(raw)} is not a string, an integer or nil")


def _parse_log(text: str, source: str) -> Parsed:
    events: list[Event] = []
    line_of: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _LOG_LINE.search(line)
        if m is None:
            continue  # other log output
        proc = m.group("proc")
        if proc.startswith(":"):  # :nemesis
            continue
        at = f"{source}:{lineno}"
        typ = _TYPES.get(m.group("type"))
        if typ is None or not (proc.isascii() and proc.isdigit()) or len(proc) > 18:  # int() takes "²" no
            raise HistoryFormatError(
                f"{at}: {short_repr(proc)} {short_repr(m.group('type'))}; expected a process number and "
                f":invoke, :ok, :fail or :info, as in {_LOG_EXAMPLE}")
        f = m.group("f")[1:]
        raw_value, _tab, error = (m.group("rest") or "nil").partition("\t")
        try:
            value = _value(loads(raw_value), f=f, typ=typ)
            if typ in ("info", "fail") and raw_value.startswith(":"):
                error = error or raw_value
            events.append(Event(index=len(events), time=None, process=int(proc), type=typ, f=f,
                                value=value, error=error or None))
        except (EdnError, ValueError) as exc:
            raise HistoryFormatError(f"{at}: {exc}; expected a value like nil, 3 or [1 2]") from None
        line_of.append(lineno)
    if not events:
        raise HistoryFormatError(f"{source}: no Jepsen operations found; expected lines like {_LOG_EXAMPLE}")
    return Parsed(events=events, format="jepsen-log", model=_implied_model(events),
                  where=_where_by_line(source, line_of))

