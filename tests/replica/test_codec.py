"""The codec: every message and record round-trips; malformed input is an InvalidMessage naming the field."""

from __future__ import annotations

import json

import pytest

from replica_image import codec
from replica_image.errors import InvalidMessage, InvalidRecord
from replica_image.paxos import (
    Accept, Accepted, AcceptRecord, Ballot, Catchup, Chosen, ChosenRecord, Command, Envelope, Message, Nack,
    Prepare, Promise, PromiseEntry, PromiseRecord, Proposal, Record, Snapshot, SnapshotRecord,
)

B = Ballot(round=3, node=2)
CMDS = (
    Command(client_id="c1", request_id=1, op="put", key="k", value="v"),
    Command(client_id="c1", request_id=2, op="cas", key="k", value="w", expect=None),
    Command(client_id="c2", request_id=0, op="cas", key="ключ", value="", expect="v"),
    Command(client_id="c2", request_id=1, op="get", key="k"),
    Command(client_id="c3", request_id=7, op="delete", key="k"),
    Command(client_id="c3", request_id=8, op="append", key="k", value="\u2603"),
)
MESSAGES: list[Message] = [
    Prepare(ballot=B, first_slot=4),
    Promise(ballot=B, first_slot=4, chosen_through=5,
            entries=(PromiseEntry(slot=5, ballot=Ballot(round=1, node=1), batch=CMDS, chosen=True),
                     PromiseEntry(slot=6, ballot=B, batch=()))),
    Accept(ballot=B, commit=3, entries=(Proposal(slot=3, batch=CMDS), Proposal(slot=4, batch=()))),
    Accept(ballot=B, commit=9, entries=()),
    Accepted(ballot=B, slots=(3, 4), first_unchosen=2),
    Nack(ballot=B, rejected=Ballot(round=1, node=3)),
    Catchup(from_slot=0),
    Chosen(entries=(Proposal(slot=0, batch=CMDS[:1]),)),
    Snapshot(last_slot=10, data='{"version":1}'),
]
RECORDS: list[Record] = [
    PromiseRecord(ballot=B),
    AcceptRecord(slot=3, ballot=B, batch=CMDS),
    ChosenRecord(slot=3, batch=()),
    SnapshotRecord(last_slot=3, data="{}"),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_json(msg: Message) -> None:
    wire = json.loads(json.dumps(codec.encode_message(msg)))
    assert codec.decode_message(codec.kind_of(msg), wire) == msg


def test_envelopes_round_trip() -> None:
    env = Envelope(src=1, dst=2, msg=MESSAGES[2])
    body = json.loads(json.dumps(codec.encode_envelope(env)))
    assert codec.decode_envelope("accept", body) == env


@pytest.mark.parametrize("rec", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips_through_bytes(rec: Record) -> None:
    data = codec.encode_record(rec)
    assert isinstance(data, bytes)
    assert codec.decode_record(data) == rec


def _accept_with(cmd: object) -> dict[str, object]:
    return {"ballot": [1, 1], "commit": 0, "entries": [{"slot": 0, "batch": [cmd]}]}


@pytest.mark.parametrize("kind,body,field", [
    ("prepare", {"ballot": [1, 1]}, "prepare.first_slot: missing"),
    ("prepare", {"ballot": [1], "first_slot": 0}, "prepare.ballot"),
    ("prepare", {"ballot": [1, 1], "first_slot": -3}, "prepare.first_slot"),
    ("prepare", {"ballot": [1, 1], "first_slot": True}, "prepare.first_slot"),
    ("prepare", [1, 2], "prepare: expected an object"),
    ("accept", _accept_with({"client_id": "c", "request_id": 1, "op": "zap", "key": "k"}),
     "accept.entries[0].batch[0]: Command.op"),
    ("accept", _accept_with({"client_id": "c", "request_id": 1, "op": "put", "key": "k"}),
     "accept.entries[0].batch[0]: Command.value"),
    ("accept", _accept_with({"client_id": "", "request_id": 1, "op": "get", "key": "k"}),
     "accept.entries[0].batch[0]: Command.client_id"),
    ("accept", _accept_with({"client_id": "c", "request_id": "1", "op": "get", "key": "k"}),
     "accept.entries[0].batch[0].request_id"),
    ("accept", {"ballot": [1, 1], "commit": 0, "entries": "x"}, "accept.entries: expected a list"),
    ("accepted", {"ballot": [1, 1], "slots": [1, -1], "first_unchosen": 0}, "accepted.slots[1]"),
    ("promise", {"ballot": [1, 1], "first_slot": 0, "chosen_through": 0,
                 "entries": [{"slot": 0, "ballot": [1, 1], "batch": [], "chosen": "yes"}]},
     "promise.entries[0].chosen"),
    ("snapshot", {"last_slot": 0, "data": 5}, "snapshot.data"),
    ("teleport", {}, "kind 'teleport' is unknown"),
])
def test_malformed_messages_are_rejected_naming_the_field(kind: str, body: object, field: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        codec.decode_message(kind, body)
    assert field in str(err.value)


def test_too_many_entries_are_rejected() -> None:
    body = {"ballot": [1, 1], "commit": 0, "entries": [{"slot": i, "batch": []} for i in range(5000)]}
    with pytest.raises(InvalidMessage, match="at most"):
        codec.decode_message("accept", body)


def test_envelope_fields_are_checked() -> None:
    with pytest.raises(InvalidMessage, match="body.src"):
        codec.decode_envelope("catchup", {"src": 0, "dst": 1, "msg": {"from_slot": 0}})
    with pytest.raises(InvalidMessage, match="body.msg: missing"):
        codec.decode_envelope("catchup", {"src": 1, "dst": 2})


@pytest.mark.parametrize("data,field", [
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"[]", "record: expected an object"),
    (b'{"t": "vote"}', "record.t"),
    (b'{"t": "accept", "slot": 1, "ballot": [1, 1]}', "record.batch: missing"),
])
def test_corrupt_records_raise_invalid_record(data: bytes, field: str) -> None:
    with pytest.raises(InvalidRecord) as err:
        codec.decode_record(data)
    assert field in str(err.value)
