"""The JSON edge: messages <-> JSON-able dicts, records <-> bytes. Pure; the only place JSON meets the core.

Decoding never trusts its input: every field is type-checked and every failure is an `InvalidMessage`
whose text names the field path (e.g. ``accept.entries[3].batch[0].op: expected one of [...]``), so the
server can return it as a 400. Ballots travel as ``[round, node]``. Every integer is bounded by
``INT_MAX`` (2^63-1): a round or slot beyond it is no real cluster's, and an unbounded one would break
the replica later (Python refuses to print an integer of over 4,300 digits).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from replica_image.errors import InvalidMessage, InvalidRecord
from replica_image.errors import brief as _brief
from replica_image.paxos.ballot import Ballot
from replica_image.paxos.messages import (
    MAX_BATCH, MAX_ENTRIES, Accept, Accepted, AcceptRecord, Batch, Catchup, Chosen, ChosenRecord,
    Command, Envelope, Message, Nack, Prepare, Promise, PromiseEntry, PromiseRecord, Proposal, Record,
    Snapshot, SnapshotRecord,
)

__all__ = [
    "KINDS", "kind_of", "encode_message", "decode_message", "encode_envelope", "decode_envelope",
    "encode_command", "decode_command", "encode_record", "decode_record",
]

T = TypeVar("T")
INT_MAX: Final = 2**63 - 1
KINDS: Final[dict[str, type[Message]]] = {
    cls.KIND: cls for cls in (Prepare, Promise, Accept, Accepted, Nack, Catchup, Chosen, Snapshot)
}


def kind_of(msg: Message) -> str:
    """The wire name of a message (the `<kind>` of `POST /paxos/<kind>`)."""
    return msg.KIND


# ---------------------------------------------------------------------------- encoding
def _ballot_out(b: Ballot) -> list[int]:
    return [b.round, b.node]


def encode_command(c: Command) -> dict[str, Any]:
    out: dict[str, Any] = {"client_id": c.client_id, "request_id": c.request_id, "op": c.op, "key": c.key}
    if c.value is not None:
        out["value"] = c.value
    if c.op == "cas":
        out["expect"] = c.expect
    return out


def _batch_out(batch: Batch) -> list[dict[str, Any]]:
    return [encode_command(c) for c in batch]


def _proposals_out(entries: tuple[Proposal, ...]) -> list[dict[str, Any]]:
    return [{"slot": e.slot, "batch": _batch_out(e.batch)} for e in entries]


def encode_message(msg: Message) -> dict[str, Any]:
    """A JSON-able dict of `msg` (without its kind; see `kind_of`)."""
    if isinstance(msg, Prepare):
        return {"ballot": _ballot_out(msg.ballot), "first_slot": msg.first_slot}
    if isinstance(msg, Promise):
        return {"ballot": _ballot_out(msg.ballot), "first_slot": msg.first_slot,
                "chosen_through": msg.chosen_through,
                "entries": [{"slot": e.slot, "ballot": _ballot_out(e.ballot), "batch": _batch_out(e.batch),
                             "chosen": e.chosen} for e in msg.entries]}
    if isinstance(msg, Accept):
        return {"ballot": _ballot_out(msg.ballot), "commit": msg.commit, "entries": _proposals_out(msg.entries)}
    if isinstance(msg, Accepted):
        return {"ballot": _ballot_out(msg.ballot), "slots": list(msg.slots), "first_unchosen": msg.first_unchosen}
    if isinstance(msg, Nack):
        return {"ballot": _ballot_out(msg.ballot), "rejected": _ballot_out(msg.rejected)}
    if isinstance(msg, Catchup):
        return {"from_slot": msg.from_slot}
    if isinstance(msg, Chosen):
        return {"entries": _proposals_out(msg.entries)}
    if isinstance(msg, Snapshot):
        return {"last_slot": msg.last_slot, "data": msg.data}
    raise InvalidMessage(f"cannot encode {type(msg).__name__}: not a Message")


def encode_envelope(env: Envelope) -> dict[str, Any]:
    """The body of `POST /paxos/<kind>`: ``{"src", "dst", "msg"}``."""
    return {"src": env.src, "dst": env.dst, "msg": encode_message(env.msg)}


# ---------------------------------------------------------------------------- decoding
class _Obj:
    """A JSON object being decoded, with its path for error messages."""

    __slots__ = ("d", "path")

    def __init__(self, d: object, path: str) -> None:
        if not isinstance(d, Mapping):
            raise InvalidMessage(f"{path}: expected an object, got {_type(d)}")
        self.d = d
        self.path = path

    def get(self, key: str) -> object:
        if key not in self.d:
            raise InvalidMessage(f"{self.path}.{key}: missing")
        return self.d[key]

    def nat(self, key: str, *, low: int = 0) -> int:
        v = self.get(key)
        if type(v) is not int or not low <= v <= INT_MAX:
            raise InvalidMessage(f"{self.path}.{key}: expected an integer {low}..2^63-1, got {_brief(v)}")
        return v

    def text(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str):
            raise InvalidMessage(f"{self.path}.{key}: expected a string, got {_type(v)}")
        return v

    def opt_text(self, key: str) -> str | None:
        v = self.d.get(key)
        if v is not None and not isinstance(v, str):
            raise InvalidMessage(f"{self.path}.{key}: expected a string or null, got {_type(v)}")
        return v

    def flag(self, key: str) -> bool:
        v = self.get(key)
        if not isinstance(v, bool):
            raise InvalidMessage(f"{self.path}.{key}: expected true or false, got {_brief(v)}")
        return v

    def ballot(self, key: str) -> Ballot:
        v = self.get(key)
        if (not isinstance(v, list) or len(v) != 2 or any(type(x) is not int or not 0 <= x <= INT_MAX for x in v)):
            raise InvalidMessage(f"{self.path}.{key}: expected a ballot [round, node] of integers 0..2^63-1, "
                                 f"got {_brief(v)}")
        return Ballot(round=v[0], node=v[1])

    def items(self, key: str, item: Callable[[object, str], T], *, max_len: int) -> tuple[T, ...]:
        v = self.get(key)
        if not isinstance(v, list):
            raise InvalidMessage(f"{self.path}.{key}: expected a list, got {_type(v)}")
        if len(v) > max_len:
            raise InvalidMessage(f"{self.path}.{key}: {len(v)} items, at most {max_len} allowed")
        return tuple(item(x, f"{self.path}.{key}[{i}]") for i, x in enumerate(v))


def _type(v: object) -> str:
    return "null" if v is None else type(v).__name__


def _build(path: str, ctor: Callable[..., T], **fields: Any) -> T:
    """Construct a validated dataclass, prefixing its validation error with the JSON path."""
    try:
        return ctor(**fields)
    except InvalidMessage as exc:
        text = str(exc)
        if text.startswith(path):
            raise
        raise type(exc)(f"{path}: {text}") from None


def _command(d: object, path: str) -> Command:
    o = _Obj(d, path)
    return _build(path, Command, client_id=o.text("client_id"), request_id=o.nat("request_id"), op=o.text("op"),
                  key=o.text("key"), value=o.opt_text("value"), expect=o.opt_text("expect"))


def decode_command(d: object, path: str = "command") -> Command:
    """A Command from its JSON dict; InvalidMessage names the field."""
    return _command(d, path)


def _batch(o: _Obj, key: str) -> Batch:
    return o.items(key, _command, max_len=MAX_BATCH)


def _proposal(d: object, path: str) -> Proposal:
    o = _Obj(d, path)
    return _build(path, Proposal, slot=o.nat("slot"), batch=_batch(o, "batch"))


def _promise_entry(d: object, path: str) -> PromiseEntry:
    o = _Obj(d, path)
    return _build(path, PromiseEntry, slot=o.nat("slot"), ballot=o.ballot("ballot"), batch=_batch(o, "batch"),
                  chosen=o.flag("chosen"))


def _slot(d: object, path: str) -> int:
    if type(d) is not int or not 0 <= d <= INT_MAX:
        raise InvalidMessage(f"{path}: expected an integer 0..2^63-1, got {_brief(d)}")
    return d


def _decode_fields(kind: str, o: _Obj) -> Message:
    if kind == "prepare":
        return Prepare(ballot=o.ballot("ballot"), first_slot=o.nat("first_slot"))
    if kind == "promise":
        return Promise(ballot=o.ballot("ballot"), first_slot=o.nat("first_slot"),
                       chosen_through=o.nat("chosen_through"),
                       entries=o.items("entries", _promise_entry, max_len=MAX_ENTRIES))
    if kind == "accept":
        return Accept(ballot=o.ballot("ballot"), commit=o.nat("commit"),
                      entries=o.items("entries", _proposal, max_len=MAX_ENTRIES))
    if kind == "accepted":
        return Accepted(ballot=o.ballot("ballot"), slots=o.items("slots", _slot, max_len=MAX_ENTRIES),
                        first_unchosen=o.nat("first_unchosen"))
    if kind == "nack":
        return Nack(ballot=o.ballot("ballot"), rejected=o.ballot("rejected"))
    if kind == "catchup":
        return Catchup(from_slot=o.nat("from_slot"))
    if kind == "chosen":
        return Chosen(entries=o.items("entries", _proposal, max_len=MAX_ENTRIES))
    if kind == "snapshot":
        return Snapshot(last_slot=o.nat("last_slot"), data=o.text("data"))
    raise InvalidMessage(f"message kind {_brief(kind)} is unknown: expected one of {sorted(KINDS)}")


def decode_message(kind: str, d: object) -> Message:
    """The Message of wire kind `kind` from its JSON dict.

    Raises:
        InvalidMessage: unknown kind, or a field missing / of the wrong type / out of range (named).
    """
    if kind not in KINDS:
        raise InvalidMessage(f"message kind {_brief(kind)} is unknown: expected one of {sorted(KINDS)}")
    return _build(kind, _decode_fields, kind=kind, o=_Obj(d, kind))


def decode_envelope(kind: str, d: object) -> Envelope:
    """An Envelope from the body of `POST /paxos/<kind>`; InvalidMessage names the field."""
    o = _Obj(d, "body")
    msg = decode_message(kind, o.get("msg"))
    return _build("body", Envelope, src=o.nat("src", low=1), dst=o.nat("dst", low=1), msg=msg)


# ---------------------------------------------------------------------------- records
def encode_record(rec: Record) -> bytes:
    """The bytes of one durable record (compact JSON, UTF-8); storage adds framing and checksums."""
    if isinstance(rec, PromiseRecord):
        obj: dict[str, Any] = {"t": "promise", "ballot": _ballot_out(rec.ballot)}
    elif isinstance(rec, AcceptRecord):
        obj = {"t": "accept", "slot": rec.slot, "ballot": _ballot_out(rec.ballot), "batch": _batch_out(rec.batch)}
    elif isinstance(rec, ChosenRecord):
        obj = {"t": "chosen", "slot": rec.slot, "batch": _batch_out(rec.batch)}
    elif isinstance(rec, SnapshotRecord):
        obj = {"t": "snapshot", "last_slot": rec.last_slot, "data": rec.data}
    else:
        raise InvalidRecord(f"cannot encode {type(rec).__name__}: not a Record")
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _record_fields(o: _Obj) -> Record:
    t = o.text("t")
    if t == "promise":
        return PromiseRecord(ballot=o.ballot("ballot"))
    if t == "accept":
        return AcceptRecord(slot=o.nat("slot"), ballot=o.ballot("ballot"), batch=_batch(o, "batch"))
    if t == "chosen":
        return ChosenRecord(slot=o.nat("slot"), batch=_batch(o, "batch"))
    if t == "snapshot":
        return SnapshotRecord(last_slot=o.nat("last_slot"), data=o.text("data"))
    raise InvalidMessage(f"record.t: {_brief(t)} is not one of ['accept', 'chosen', 'promise', 'snapshot']")


def decode_record(data: bytes) -> Record:
    """A Record from `encode_record` bytes.

    Raises:
        InvalidRecord: not UTF-8 JSON, or a field is missing or wrong (named).
    """
    try:
        obj = json.loads(data.decode("utf-8"))
        return _build("record", _record_fields, o=_Obj(obj, "record"))
    except InvalidRecord:
        raise
    except InvalidMessage as exc:
        raise InvalidRecord(str(exc)) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord(f"record: not UTF-8 JSON ({exc})") from None
