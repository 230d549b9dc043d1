"""Operations: invocations paired with their completions, the unit the checker linearizes.

`pair` is the one pairing of a history's invokes with their completions: the checker (`operations`)
and the HTML report (harness/report/html.py) both read a history through it, so they agree on which
completion ends which operation and which are still open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from targets.errors import HistoryFormatError
from workloads.history import CasValue, Event, Value

OK: Final = "ok"
INFO: Final = "info"
PENDING: Final = "pending"


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One operation of a history.

    `call` and `ret` are event indexes (the history's order is the real-time order). `ret` is None when
    the outcome is unknown (`status` "info": the completion said so, or "pending": no completion
    before the end of the history); such an operation may take effect at any point after `call`, or
    never. Failed operations never become Operations: they definitely did not happen.
    """

    id: int
    process: int
    f: str
    key: str | None
    input: Value
    output: Value
    call: int
    ret: int | None
    status: str
    call_time: int | None = None
    ret_time: int | None = None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (cas values become {"expect", "value"} objects)."""
        def enc(v: Value) -> object:
            return {"expect": v.expect, "value": v.value} if isinstance(v, CasValue) else v
        return {"id": self.id, "process": self.process, "f": self.f, "key": self.key,
                "input": enc(self.input), "output": enc(self.output), "call": self.call, "ret": self.ret,
                "status": self.status, "call_time": self.call_time, "ret_time": self.ret_time}


_READS: Final = frozenset({"get", "read"})


def _event_where(event: Event) -> str:
    return f"event {event.index}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pairing:
    """A history read as operations.

    Attributes:
        pairs: (invoke, completion) of each completed operation, in completion order.
        open: the invokes never completed, in invoke order.
        problems: where the history breaks the rules of one open operation per process (a completion
            of nothing, an invoke over an open one, a completion whose f or key differ), in history
            order; each message names the events through `where`.
    """

    pairs: list[tuple[Event, Event]]
    open: list[Event]
    problems: list[str]


def pair(events: Iterable[Event], *, where: Callable[[Event], str] = _event_where) -> Pairing:
    """Pair each invoke with the next completion of the same process (see `Pairing`).

    Never raises: a reader that must refuse a malformed history (the checker) raises on the first of
    `problems`; one that shows what it can (the report) goes on. After a problem: a completion of
    nothing is left out, an invoke over an open one replaces it, and a mismatched completion is paired.
    """
    open_: dict[int, Event] = {}
    pairs: list[tuple[Event, Event]] = []
    problems: list[str] = []
    for ev in events:
        if ev.type == "invoke":
            prior = open_.get(ev.process)
            if prior is not None:
                problems.append(f"{where(ev)}: process {ev.process} invokes {ev.f} while its {prior.f} from "
                                f"{where(prior)} is still open; expected a completion (ok/fail/info) first")
                del open_[ev.process]
            open_[ev.process] = ev
            continue
        inv = open_.pop(ev.process, None)
        if inv is None:
            problems.append(f"{where(ev)}: {ev.type} {ev.f} of process {ev.process} completes nothing; expected "
                            "an earlier invoke by the same process")
            continue
        if inv.f != ev.f or inv.key != ev.key:
            problems.append(f"{where(ev)}: completion {ev.f} {ev.key!r} does not match the invoke {inv.f} "
                            f"{inv.key!r} at {where(inv)}; expected the same f and key")
        pairs.append((inv, ev))
    return Pairing(pairs=pairs, open=sorted(open_.values(), key=lambda e: e.index), problems=problems)


def operations(events: Iterable[Event], *, where: Callable[[Event], str] = _event_where) -> list[Operation]:
    """The operations of a history (`pair`), as the checker linearizes them.

    Drops `fail` operations (they did not happen) and reads whose outcome is unknown (they cannot
    change the state, so they constrain nothing). A process may invoke again after an `info`
    completion (Jepsen retires it, but some recorders do not); the `info` operation stays open in
    real time.

    Raises:
        HistoryFormatError: a completion with no open invoke, an invoke while the process already has an
            open operation, or a completion whose f/key differ from the invoke (the first of them); the
            message comes from `where(event)` (e.g. "file:line").
    """
    paired = pair(events, where=where)
    if paired.problems:
        raise HistoryFormatError(paired.problems[0])
    out: list[Operation] = []
    for inv, ev in paired.pairs:
        if ev.type == "fail" or (ev.type == "info" and ev.f in _READS):
            continue
        known = ev.type == "ok"
        out.append(_op(len(out), inv, ev if known else None, OK if known else INFO))
    for inv in paired.open:
        if inv.f not in _READS:
            out.append(_op(len(out), inv, None, PENDING))
    return out


def _op(op_id: int, inv: Event, done: Event | None, status: str) -> Operation:
    output: Value = done.value if done is not None and inv.f in _READS else None
    return Operation(id=op_id, process=inv.process, f=inv.f, key=inv.key, input=inv.value, output=output,
                     call=inv.index, ret=done.index if done is not None else None, status=status,
                     call_time=inv.time, ret_time=done.time if done is not None else None)
