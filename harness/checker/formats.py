"""Reading histories from text: our JSONL, Jepsen/Knossos EDN, Jepsen log lines, Porcupine's kv histories.

Pure: every function takes the text (and a `source` name for messages) and never opens files.
Each parser returns a `Parsed`: the events (numbered 0, 1, 2, ... in file order), the format, the model
the format implies, and a `where(event)` function giving "file:line" for error messages.

How each format maps onto our history (docs/checker.md has the table):

- EDN is read as EDN: one map per line (Jepsen's history.edn), a top-level vector or list of maps over
  many lines (Knossos), or any mix; `;` comments, commas as whitespace. Ops of named processes
  (`:nemesis`) are not client operations and are skipped.
- Jepsen log lines: `jepsen.util - PROCESS TYPE F [VALUE [ERROR]]`, fields separated by tabs or any run
  of whitespace; other log lines are skipped.
- In EDN and Jepsen logs a read completing `:ok` with value nil constrains nothing (Knossos's register
  models accept it in any state: the value was not observed). Such a read becomes an `info` event (an
  unknown-outcome read, which the checker drops). Our JSONL keeps its meaning: an ok get of null saw
  the key absent. Porcupine's kv histories are left as they are (absent reads as "").
- A history with no client operations (an empty file, nemesis ops only) is valid input: 0 events.

Errors are `HistoryFormatError` with "<source>:<line>: what is wrong; expected what".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from harness.checker.edn import EdnError, read_at, skip
from targets.errors import HistoryFormatError
from workloads.history import CasValue, Event, Value, parse_jsonl, short_repr

FORMATS: Final = ("jsonl", "edn", "jepsen-log", "porcupine-kv")

_EDN_EXAMPLE: Final = '{:process 0, :type :invoke, :f :read, :value nil}'
_LOG_EXAMPLE: Final = "INFO  jepsen.util - 3<TAB or spaces>:invoke<TAB or spaces>:cas<TAB or spaces>[1 2]"
# Porcupine's kv lines all look alike; a regex reads them ~10x faster than the general EDN reader.
_PORCUPINE_LINE: Final = re.compile(
    r'\{:process (\d+), :type :(invoke|ok|fail|info), :f :(get|put|append), :key "([^"\\]*)", '
    r':value (?:nil|"([^"\\]*)")\}\s*')
# fields are separated by tabs in most Jepsen logs, by runs of spaces in some (etcd's): any whitespace
_LOG_LINE: Final = re.compile(
    r"jepsen\.util\S*\s*[-:]?\s*(?P<proc>:?[\w-]+)\s+(?P<type>:[\w-]+)\s+(?P<f>:[\w-]+)(?:\s+(?P<rest>.*))?$")
_TYPES: Final = {":invoke": "invoke", ":ok": "ok", ":fail": "fail", ":info": "info"}
_READS: Final = frozenset({"read", "get"})
NIL_READ: Final = "nil read: value not observed"
"""The `error` of an ok read of nil in EDN or a Jepsen log, imported as `info` (Knossos's meaning)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """A history read from text. `model` is the model the format implies: kv, kv-empty or register."""

    events: list[Event]
    format: str
    model: str
    where: Callable[[Event], str]


def detect(text: str, *, source: str) -> str:
    """Guess the format from the content. Raises HistoryFormatError when no format fits.

    An empty text (or only blank lines) is "jsonl": an empty history, valid in every format.
    """
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()]
    if not lines:
        return "jsonl"
    content = [ln.lstrip() for ln in lines if not ln.lstrip().startswith(";")]
    if not content:
        return "edn"  # EDN comments only
    first = content[0]
    if first.startswith('{"') or first.startswith("{ \""):
        return "jsonl"
    if first.startswith("{"):
        return "porcupine-kv" if _PORCUPINE_LINE.fullmatch(first) else "edn"
    if any(_LOG_LINE.search(ln) for ln in lines):
        return "jepsen-log"
    if first.startswith(("[", "(")):
        return "edn"  # Knossos: one vector (or list) of op maps
    raise HistoryFormatError(
        f"{source}:1: cannot tell the history format from {first[:60]!r}; expected JSONL "
        f"({{\"index\": 0, ...}}), EDN ({_EDN_EXAMPLE}, one per line or in one [...]) or Jepsen log lines "
        f"({_LOG_EXAMPLE}); or name it with --format")


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


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _parse_edn(text: str, source: str, *, porcupine: bool) -> Parsed:
    """EDN maps, one per line or spread over lines, at the top level or inside top-level vectors/lists."""
    events: list[Event] = []
    starts: list[int] = []  # the offset of each event's map; line numbers are counted only when asked
    closer: str | None = None  # inside a top-level vector or list: the bracket that closes it
    opened_at = 0
    fast = _PORCUPINE_LINE.match
    pos = skip(text, 0)
    n = len(text)
    while pos < n:
        c = text[pos]
        if closer is None and c in "[(":
            closer, opened_at = "]" if c == "[" else ")", pos
            pos = skip(text, pos + 1)
            continue
        if c == closer:
            closer = None
            pos = skip(text, pos + 1)
            continue
        m = fast(text, pos)
        if m is not None:  # fast path, same result as the general reader
            proc, typ, f, key, val = m.groups()
            events.append(Event(index=len(events), time=None, process=int(proc), type=typ, f=f, key=key,
                                value=val))
            starts.append(pos)
            pos = skip(text, m.end())
            continue
        try:
            obj, end = read_at(text, pos, depth=0 if closer is None else 1)
        except EdnError as exc:
            at = _line_at(text, pos if exc.pos is None else exc.pos)
            raise HistoryFormatError(f"{source}:{at}: {exc}; expected EDN maps like {_EDN_EXAMPLE}, one per "
                                     "line or inside one [...]") from None
        try:
            event = _edn_event(obj, index=len(events), knossos=not porcupine)
        except ValueError as exc:
            raise HistoryFormatError(f"{source}:{_line_at(text, pos)}: {exc}") from None
        if event is not None:
            events.append(event)
            starts.append(pos)
        pos = skip(text, end)
    if closer is not None:
        raise HistoryFormatError(f"{source}:{_line_at(text, opened_at)}: expected {closer!r} to close the "
                                 f"{'[' if closer == ']' else '('} opened here, got the end of the file")
    model = "kv-empty" if porcupine else _implied_model(events)

    def where(event: Event) -> str:
        if event.index < len(starts):
            return f"{source}:{_line_at(text, starts[event.index])}"
        return f"{source} event {event.index}"
    return Parsed(events=events, format="porcupine-kv" if porcupine else "edn", model=model, where=where)


def _edn_event(obj: object, *, index: int, knossos: bool) -> Event | None:
    """One EDN map -> Event; None for nemesis/log entries that are not client operations.

    Raises ValueError saying what is wrong (the caller adds the file and line)."""
    if not isinstance(obj, dict):
        raise ValueError(f"got {type(obj).__name__}; expected an EDN map like {_EDN_EXAMPLE}")
    proc = obj.get(":process")
    if isinstance(proc, str):  # :nemesis and other named processes are not clients
        return None
    for field in (":process", ":type", ":f"):
        if field not in obj:
            raise ValueError(f"missing {field}; expected a map like {_EDN_EXAMPLE}")
    typ = _TYPES.get(str(obj[":type"]))
    if typ is None:
        raise ValueError(f":type {short_repr(obj[':type'])}; expected :invoke, :ok, :fail or :info")
    f = str(obj[":f"]).lstrip(":")
    key = obj.get(":key")
    time = obj.get(":time")
    err = obj.get(":error")
    raw = obj.get(":value")
    error = None if err is None else str(err)
    if knossos and typ == "ok" and f in _READS and raw is None:
        typ, error = "info", NIL_READ  # Knossos: a nil read constrains nothing
    return Event(index=index, time=time if isinstance(time, int) else None, process=proc,  # type: ignore[arg-type]
                 type=typ, f=f, key=None if key is None else str(key),
                 value=_value(raw, f=f, typ=typ), error=error)


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
    jepsen_lines = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _LOG_LINE.search(line)
        if m is None:
            continue  # other log output
        jepsen_lines += 1
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
        rest = m.group("rest") or ""
        try:
            start = skip(rest, 0)
            raw, end = read_at(rest, start) if start < len(rest) else (None, start)
            error = rest[end:].strip() or None  # what follows the value: Jepsen's error, if any
            raw_text = rest[start:end]
            if typ in ("info", "fail") and raw_text.startswith(":"):
                error = error or raw_text
            if typ == "ok" and f in _READS and raw is None:
                typ, error = "info", NIL_READ  # Knossos: a nil read constrains nothing
            events.append(Event(index=len(events), time=None, process=int(proc), type=typ, f=f,
                                value=_value(raw, f=f, typ=typ), error=error))
        except (EdnError, ValueError) as exc:
            raise HistoryFormatError(f"{at}: {exc}; expected a value like nil, 3 or [1 2]") from None
        line_of.append(lineno)
    if not jepsen_lines:
        raise HistoryFormatError(f"{source}: no Jepsen operations found; expected lines like {_LOG_EXAMPLE}")
    return Parsed(events=events, format="jepsen-log", model=_implied_model(events),
                  where=_where_by_line(source, line_of))
