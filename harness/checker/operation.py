"""Operations: invocations paired with their completions, the unit the checker linearizes."""

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


def operations(events: Iterable[Event], *, where: Callable[[Event], str] = _event_where) -> list[Operation]:
    """Pair each invoke with the next completion of the same process.

    Drops `fail` operations (they did not happen) and reads whose outcome is unknown (they cannot
    change the state, so they constrain nothing). A process may invoke again after an `info`
    completion (Jepsen retires it, but some recorders do not); the `info` operation stays open in
    real time.

    Raises:
        HistoryFormatError: a completion with no open invoke, an invoke while the process already has an
            open operation, or a completion whose f/key differ from the invoke; the message comes from
            `where(event)` (e.g. "file:line").
    """
    open_: dict[int, Event] = {}
    out: list[Operation] = []
    for ev in events:
        if ev.type == "invoke":
            prior = open_.get(ev.process)
            if prior is not None:
                raise HistoryFormatError(
                    f"{where(ev)}: process {ev.process} invokes {ev.f} while its {prior.f} from "
                    f"{where(prior)} is still open; expected a completion (ok/fail/info) first")
            open_[ev.process] = ev
            continue
        inv = open_.pop(ev.process, None)
        if inv is None:
            raise HistoryFormatError(
                f"{where(ev)}: {ev.type} {ev.f} of process {ev.process} completes nothing; expected an "
                "earlier invoke by the same process")
        if inv.f != ev.f or inv.key != ev.key:
            raise HistoryFormatError(
                f"{where(ev)}: completion {ev.f} {ev.key!r} does not match the invoke {inv.f} {inv.key!r} "
                f"at {where(inv)}; expected the same f and key")
        if ev.type == "fail" or (ev.type == "info" and ev.f in _READS):
            continue
        known = ev.type == "ok"
        out.append(_op(len(out), inv, ev if known else None, OK if known else INFO))
    for inv in sorted(open_.values(), key=lambda e: e.index):
        if inv.f not in _READS:
            out.append(_op(len(out), inv, None, PENDING))
    return out


def _op(op_id: int, inv: Event, done: Event | None, status: str) -> Operation:
    output: Value = done.value if done is not None and inv.f in _READS else None
    return Operation(id=op_id, process=inv.process, f=inv.f, key=inv.key, input=inv.value, output=output,
                     call=inv.index, ret=done.index if done is not None else None, status=status,
                     call_time=inv.time, ret_time=done.time if done is not None else None)
