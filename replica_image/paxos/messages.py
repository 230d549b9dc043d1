"""Commands, peer messages and durable records: frozen, slotted, keyword-only, validated on creation.

Every message is one-way (a reply is a separate message) and may be lost, duplicated, delayed or
reordered by the network; the core tolerates all of that. `Message` and `Record` are closed unions.
Hard limits (`LIMITS`) bound what any one message may carry; the core's configurable bounds are lower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from replica_image.errors import InvalidMessage
from replica_image.paxos.ballot import Ballot

__all__ = [
    "OPS", "MAX_ENTRIES", "MAX_BATCH", "MAX_KEY_CHARS", "MAX_VALUE_CHARS", "MAX_ID_CHARS",
    "Command", "Batch", "NOOP", "Proposal", "PromiseEntry",
    "Prepare", "Promise", "Accept", "Accepted", "Nack", "Catchup", "Chosen", "Snapshot",
    "Message", "MESSAGE_TYPES", "Envelope",
    "PromiseRecord", "AcceptRecord", "ChosenRecord", "SnapshotRecord", "Record",
]

OPS: Final = frozenset({"get", "put", "append", "delete", "cas"})
MAX_ENTRIES: Final = 4096          # slots per message (promise, accept, chosen)
MAX_BATCH: Final = 4096            # commands per slot
MAX_KEY_CHARS: Final = 1024
MAX_VALUE_CHARS: Final = 1 << 20
MAX_ID_CHARS: Final = 256


def _nat(owner: str, name: str, value: object) -> None:
    if type(value) is not int or value < 0:
        raise InvalidMessage(f"{owner}.{name} must be an int >= 0, got {value!r}")


def _slot_or_minus_one(owner: str, name: str, value: object) -> None:
    if type(value) is not int or value < -1:
        raise InvalidMessage(f"{owner}.{name} must be an int >= -1, got {value!r}")


def _ballot(owner: str, name: str, value: object) -> None:
    if not isinstance(value, Ballot):
        raise InvalidMessage(f"{owner}.{name} must be a Ballot, got {value!r}")


def _text(owner: str, name: str, value: object, *, max_chars: int, empty_ok: bool = True) -> None:
    if not isinstance(value, str):
        raise InvalidMessage(f"{owner}.{name} must be a string, got {type(value).__name__}")
    if len(value) > max_chars or (not empty_ok and not value):
        raise InvalidMessage(f"{owner}.{name} must be {0 if empty_ok else 1}..{max_chars} chars, got {len(value)}")


def _tuple_of(owner: str, name: str, value: object, kind: type, *, max_len: int) -> None:
    if not isinstance(value, tuple):
        raise InvalidMessage(f"{owner}.{name} must be a tuple, got {type(value).__name__}")
    if len(value) > max_len:
        raise InvalidMessage(f"{owner}.{name} has {len(value)} items, at most {max_len} allowed")
    for i, item in enumerate(value):
        if not isinstance(item, kind):
            raise InvalidMessage(f"{owner}.{name}[{i}] must be a {kind.__name__}, got {type(item).__name__}")


def _batch(owner: str, name: str, value: object) -> None:
    _tuple_of(owner, name, value, Command, max_len=MAX_BATCH)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One client request. The core never interprets it; `replica_image.kv` applies it.

    `(client_id, request_id)` identifies the request for exactly-once application. `value` is
    required for put/append/cas; `expect` is only for cas (None there means "expect absent").
    """

    client_id: str
    request_id: int
    op: str
    key: str
    value: str | None = None
    expect: str | None = None

    def __post_init__(self) -> None:
        _text("Command", "client_id", self.client_id, max_chars=MAX_ID_CHARS, empty_ok=False)
        _nat("Command", "request_id", self.request_id)
        if self.op not in OPS:
            raise InvalidMessage(f"Command.op must be one of {sorted(OPS)}, got {self.op!r}")
        _text("Command", "key", self.key, max_chars=MAX_KEY_CHARS, empty_ok=False)
        if self.op in ("put", "append", "cas"):
            _text("Command", "value", self.value, max_chars=MAX_VALUE_CHARS)
        elif self.value is not None:
            raise InvalidMessage(f"Command.value must be absent for op {self.op!r}")
        if self.op == "cas":
            if self.expect is not None:
                _text("Command", "expect", self.expect, max_chars=MAX_VALUE_CHARS)
        elif self.expect is not None:
            raise InvalidMessage(f"Command.expect is only allowed for op 'cas', not {self.op!r}")


Batch = tuple[Command, ...]
"""A slot's value: the commands chosen together, applied in order. The empty batch is the no-op."""

NOOP: Final[Batch] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """A (slot, batch) pair: proposed in an Accept, or chosen in a Chosen message."""

    slot: int
    batch: Batch

    def __post_init__(self) -> None:
        _nat("Proposal", "slot", self.slot)
        _batch("Proposal", "batch", self.batch)


@dataclass(frozen=True, slots=True, kw_only=True)
class PromiseEntry:
    """What an acceptor accepted in one slot; `chosen` says it also knows that value is chosen."""

    slot: int
    ballot: Ballot
    batch: Batch
    chosen: bool = False

    def __post_init__(self) -> None:
        _nat("PromiseEntry", "slot", self.slot)
        _ballot("PromiseEntry", "ballot", self.ballot)
        _batch("PromiseEntry", "batch", self.batch)
        if not isinstance(self.chosen, bool):
            raise InvalidMessage(f"PromiseEntry.chosen must be a bool, got {self.chosen!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepare:
    """Phase 1a for every slot >= `first_slot` at once (the seed's "phase 1 for infinitely many instances")."""

    KIND: ClassVar[str] = "prepare"
    ballot: Ballot
    first_slot: int

    def __post_init__(self) -> None:
        _ballot("Prepare", "ballot", self.ballot)
        _nat("Prepare", "first_slot", self.first_slot)


@dataclass(frozen=True, slots=True, kw_only=True)
class Promise:
    """Phase 1b: a promise for `ballot`, with every value accepted at slots >= max(first_slot, chosen_through).

    `chosen_through` is the acceptor's first unchosen slot: every slot below it is chosen (and possibly
    truncated), so the acceptor does not report it; the new leader catches those up instead.
    """

    KIND: ClassVar[str] = "promise"
    ballot: Ballot
    first_slot: int
    chosen_through: int
    entries: tuple[PromiseEntry, ...]

    def __post_init__(self) -> None:
        _ballot("Promise", "ballot", self.ballot)
        _nat("Promise", "first_slot", self.first_slot)
        _nat("Promise", "chosen_through", self.chosen_through)
        _tuple_of("Promise", "entries", self.entries, PromiseEntry, max_len=MAX_ENTRIES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept:
    """Phase 2a for many slots at once; with no entries it is the leader's heartbeat.

    `commit`: every slot below it is chosen, and for those slots the value this leader proposed in
    `ballot` is the chosen one, so a follower that accepted (slot, ballot) may mark it chosen.
    """

    KIND: ClassVar[str] = "accept"
    ballot: Ballot
    commit: int
    entries: tuple[Proposal, ...]

    def __post_init__(self) -> None:
        _ballot("Accept", "ballot", self.ballot)
        _nat("Accept", "commit", self.commit)
        _tuple_of("Accept", "entries", self.entries, Proposal, max_len=MAX_ENTRIES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """Phase 2b: the sender accepted `slots` at `ballot`; `first_unchosen` tells the leader its progress."""

    KIND: ClassVar[str] = "accepted"
    ballot: Ballot
    slots: tuple[int, ...]
    first_unchosen: int

    def __post_init__(self) -> None:
        _ballot("Accepted", "ballot", self.ballot)
        _tuple_of("Accepted", "slots", self.slots, int, max_len=MAX_ENTRIES)
        for i, s in enumerate(self.slots):
            _nat("Accepted", f"slots[{i}]", s)
        _nat("Accepted", "first_unchosen", self.first_unchosen)


@dataclass(frozen=True, slots=True, kw_only=True)
class Nack:
    """A prepare or accept for `rejected` was refused because the sender promised `ballot` (higher)."""

    KIND: ClassVar[str] = "nack"
    ballot: Ballot
    rejected: Ballot

    def __post_init__(self) -> None:
        _ballot("Nack", "ballot", self.ballot)
        _ballot("Nack", "rejected", self.rejected)


@dataclass(frozen=True, slots=True, kw_only=True)
class Catchup:
    """A lagging replica asks for chosen slots from `from_slot` on (answered by Chosen or Snapshot)."""

    KIND: ClassVar[str] = "catchup"
    from_slot: int

    def __post_init__(self) -> None:
        _nat("Catchup", "from_slot", self.from_slot)


@dataclass(frozen=True, slots=True, kw_only=True)
class Chosen:
    """Chosen values, contiguous or not; a learner may apply them as chosen without further checks."""

    KIND: ClassVar[str] = "chosen"
    entries: tuple[Proposal, ...]

    def __post_init__(self) -> None:
        _tuple_of("Chosen", "entries", self.entries, Proposal, max_len=MAX_ENTRIES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The state machine's state after applying every slot <= `last_slot` (a message and a Ready field)."""

    KIND: ClassVar[str] = "snapshot"
    last_slot: int
    data: str

    def __post_init__(self) -> None:
        _nat("Snapshot", "last_slot", self.last_slot)
        if not isinstance(self.data, str):
            raise InvalidMessage(f"Snapshot.data must be a string, got {type(self.data).__name__}")


Message = Prepare | Promise | Accept | Accepted | Nack | Catchup | Chosen | Snapshot
MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (
    Prepare, Promise, Accept, Accepted, Nack, Catchup, Chosen, Snapshot,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """A message with its sender and receiver (node ids)."""

    src: int
    dst: int
    msg: Message

    def __post_init__(self) -> None:
        _nat("Envelope", "src", self.src)
        _nat("Envelope", "dst", self.dst)
        if not isinstance(self.msg, MESSAGE_TYPES):
            raise InvalidMessage(f"Envelope.msg must be a Message, got {type(self.msg).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PromiseRecord:
    """Durable: the acceptor promised `ballot` (the highest so far)."""

    ballot: Ballot

    def __post_init__(self) -> None:
        _ballot("PromiseRecord", "ballot", self.ballot)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptRecord:
    """Durable: the acceptor accepted `batch` in `slot` at `ballot`."""

    slot: int
    ballot: Ballot
    batch: Batch

    def __post_init__(self) -> None:
        _nat("AcceptRecord", "slot", self.slot)
        _ballot("AcceptRecord", "ballot", self.ballot)
        _batch("AcceptRecord", "batch", self.batch)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChosenRecord:
    """Durable (no fsync needed): `batch` is chosen in `slot`."""

    slot: int
    batch: Batch

    def __post_init__(self) -> None:
        _nat("ChosenRecord", "slot", self.slot)
        _batch("ChosenRecord", "batch", self.batch)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRecord:
    """Durable: the state machine after every slot <= `last_slot`; earlier records are obsolete."""

    last_slot: int
    data: str

    def __post_init__(self) -> None:
        _nat("SnapshotRecord", "last_slot", self.last_slot)
        if not isinstance(self.data, str):
            raise InvalidMessage(f"SnapshotRecord.data must be a string, got {type(self.data).__name__}")


Record = PromiseRecord | AcceptRecord | ChosenRecord | SnapshotRecord
