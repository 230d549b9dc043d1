"""Histories: the event record of a run (DESIGN section 7) and its JSON Lines form.

One `Event` per line, with Jepsen's semantics:

    {"index": 0, "time": 1200, "process": 3, "type": "invoke", "f": "cas", "key": "k1",
     "value": {"expect": "a", "value": "b"}, "node": null, "error": null}

- `index`: position in the history, 0, 1, 2, ... (strictly increasing in a file).
- `time`: nanoseconds since the run started (`null` when imported from a format without times).
- `process`: the logical client, an int >= 0. A process is sequential: it has at most one open
  operation. After an `info` the process is retired; the client goes on under a new process id.
- `type`: `invoke` opens an operation; `ok` (it happened), `fail` (it definitely did not happen) or
  `info` (unknown: it may have happened, at any time after the invoke) closes it.
- `f`: `get | put | append | delete | cas` (the KV workload) or `read | write | cas` (a Jepsen register).
- `value`: for get, `null` on invoke and the value read on ok (`null` = the key is absent);
  for put/append the value written; for delete `null`; for cas `{"expect": e, "value": v}` on the
  invoke (and optionally repeated on the completion). A cas whose precondition did not hold is
  recorded as `fail` with `error: "precondition"`: it definitely did not change the state.
- `node`: which replica answered (int or string), or `null`.
- `error`: a short reason for `fail`/`info` (`"timeout"`, `"precondition"`, `"503"`...), or `null`.

Reading never raises anything but `HistoryFormatError`, whose message names the file, the line and
what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Final

from targets.errors import HistoryFormatError

Scalar = str | int | None
"""A value stored under a key (our KV: str; a Jepsen register: int) or `None` for absent/unknown."""

EVENT_TYPES: Final = frozenset({"invoke", "ok", "fail", "info"})
KV_FUNCTIONS: Final = frozenset({"get", "put", "append", "delete", "cas"})
REGISTER_FUNCTIONS: Final = frozenset({"read", "write", "cas"})
FUNCTIONS: Final = KV_FUNCTIONS | REGISTER_FUNCTIONS
_FIELDS: Final = ("index", "time", "process", "type", "f", "key", "value", "node", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class CasValue:
    """The argument of a compare-and-set: set to `value` if the current value equals `expect`."""

    expect: Scalar
    value: Scalar


Value = Scalar | CasValue


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One line of a history. Validates its own fields; raises ValueError naming the field."""

    index: int
    time: int | None
    process: int
    type: str
    f: str
    key: str | None = None
    value: Value = None
    node: int | str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.index) or self.index < 0:
            raise ValueError(f"index must be an int >= 0, got {short_repr(self.index)}")
        if self.time is not None and not _is_int(self.time):
            raise ValueError(f"time must be an int (ns since run start) or null, got {short_repr(self.time)}")
        if not _is_int(self.process) or self.process < 0:
            raise ValueError(f"process must be an int >= 0, got {short_repr(self.process)}")
        if self.type not in EVENT_TYPES:
            raise ValueError(f"type must be one of invoke|ok|fail|info, got {short_repr(self.type)}")
        if self.f not in FUNCTIONS:
            raise ValueError(f"f must be one of {'|'.join(sorted(FUNCTIONS))}, got {short_repr(self.f)}")
        if self.key is not None and not isinstance(self.key, str):
            raise ValueError(f"key must be a string or null, got {short_repr(self.key)}")
        if self.f == "cas" and self.type == "invoke" and not isinstance(self.value, CasValue):
            raise ValueError(f"a cas invoke needs value {{\"expect\": e, \"value\": v}}, got {short_repr(self.value)}")
        if not isinstance(self.value, CasValue) and not _is_scalar(self.value):
            raise ValueError(f"value must be a string, an int or null, got {short_repr(self.value)}")
        if self.node is not None and not isinstance(self.node, (int, str)):
            raise ValueError(f"node must be an int, a string or null, got {short_repr(self.node)}")
        if self.error is not None and not isinstance(self.error, str):
            raise ValueError(f"error must be a string or null, got {short_repr(self.error)}")

    def to_dict(self) -> dict[str, object]:
        """The JSON object of this event (all nine fields, in DESIGN order)."""
        value: object = self.value
        if isinstance(self.value, CasValue):
            value = {"expect": self.value.expect, "value": self.value.value}
        return {"index": self.index, "time": self.time, "process": self.process, "type": self.type,
                "f": self.f, "key": self.key, "value": value, "node": self.node, "error": self.error}

    @classmethod
    def from_dict(cls, obj: object) -> Event:
        """Build an Event from a decoded JSON object. Raises ValueError naming the bad field."""
        if not isinstance(obj, dict):
            raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - set(_FIELDS))
        if unknown:
            shown = ", ".join(short_repr(u, 30) for u in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(f"unknown field(s) {shown}; allowed: {', '.join(_FIELDS)}")
        for name in ("index", "process", "type", "f"):
            if name not in obj:
                raise ValueError(f"missing field {name!r}")
        value = obj.get("value")
        if isinstance(value, dict):
            if set(value) != {"expect", "value"}:
                raise ValueError(f"a cas value must be {{\"expect\": e, \"value\": v}}, got {short_repr(value)}")
            value = CasValue(expect=value["expect"], value=value["value"])
            if not (_is_scalar(value.expect) and _is_scalar(value.value)):
                raise ValueError(f"cas expect/value must be strings, ints or null, got {short_repr(obj.get('value'))}")
        return cls(index=obj["index"], time=obj.get("time"), process=obj["process"], type=obj["type"],
                   f=obj["f"], key=obj.get("key"), value=value, node=obj.get("node"), error=obj.get("error"))


def short_repr(x: object, limit: int = 60) -> str:
    """`repr(x)` cut to about `limit` characters: messages quote the bad value, not a whole line of it."""
    text = repr(x)
    return text if len(text) <= limit else f"{text[:limit - 8]}...{text[-5:]}"


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_scalar(x: object) -> bool:
    return x is None or isinstance(x, str) or _is_int(x)


def dumps(event: Event) -> str:
    """One JSONL line (no trailing newline) for `event`."""
    return json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False)


def write_jsonl(events: Iterable[Event], fp: IO[str]) -> int:
    """Write `events` to the text stream `fp`, one per line. Returns the number written.

    The caller owns `fp` (opening, flushing, closing). Lines are written in the order given; the
    caller is responsible for increasing `index` values (see `HistoryRecorder` for a helper).
    """
    n = 0
    for event in events:
        fp.write(dumps(event))
        fp.write("\n")
        n += 1
    return n


def parse_jsonl(lines: Iterable[str], *, source: str = "<history>") -> Iterator[Event]:
    """Parse JSONL text lines into Events, lazily. Blank lines are skipped.

    Raises:
        HistoryFormatError: "<source>:<line>: <what is wrong>; expected <what>", for the first bad line,
            including an index that does not increase.
    """
    last_index = -1
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(
                f"{source}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); expected one history "
                "event object per line (DESIGN 7)") from None
        except (ValueError, RecursionError) as exc:
            # valid JSON the decoder still refuses: an integer over Python's 4,300 digits (ValueError)
            # or arrays nested thousands deep (RecursionError, raised cleanly by the C decoder)
            what = "nested too deep" if isinstance(exc, RecursionError) else "an integer with too many digits"
            raise HistoryFormatError(
                f"{source}:{lineno}: not a history event ({what}); expected one event object per line "
                "(DESIGN 7)") from None
        try:
            event = Event.from_dict(obj)
        except ValueError as exc:
            raise HistoryFormatError(f"{source}:{lineno}: {exc}") from None
        if event.index <= last_index:
            raise HistoryFormatError(
                f"{source}:{lineno}: index {event.index} does not increase (previous {last_index}); "
                "expected events in history order")
        last_index = event.index
        yield event


def read_jsonl(fp: IO[str], *, source: str | None = None) -> list[Event]:
    """Read a whole JSONL history from the text stream `fp` (see `parse_jsonl` for errors)."""
    name = source if source is not None else str(getattr(fp, "name", "<history>"))
    return list(parse_jsonl(fp, source=name))


class HistoryRecorder:
    """Assigns consecutive indexes and appends events to a list and, optionally, to a JSONL stream.

    Not thread-safe; one recorder per run, used from one asyncio loop. The `clock_ns` callable is
    injected (e.g. `lambda: time.monotonic_ns() - start`) so that the simulator can use virtual time.
    """

    def __init__(self, *, fp: IO[str] | None = None, clock_ns: Callable[[], int] | None = None) -> None:
        self._fp = fp
        self._clock = clock_ns
        self.events: list[Event] = []

    def record(self, *, process: int, type: str, f: str, key: str | None = None, value: Value = None,
               node: int | str | None = None, error: str | None = None, time: int | None = None) -> Event:
        """Append one event and return it. `time` defaults to the injected clock (or None)."""
        if time is None and self._clock is not None:
            time = self._clock()
        event = Event(index=len(self.events), time=time, process=process, type=type, f=f, key=key,
                      value=value, node=node, error=error)
        self.events.append(event)
        if self._fp is not None:
            self._fp.write(dumps(event))
            self._fp.write("\n")
        return event
