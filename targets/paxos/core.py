"""The replica's pure parts, as the simulator uses them: the sans-IO Multi-Paxos core, the kv state
machine, the host loop that drives them (the real replica's own), the codec of its wire and disk, the bug
switch and the replica's own errors.

DESIGN 2: the harness reaches `replica_image` only through its target, so this module is the one place
that names what the simulator drives. Nothing here does I/O.
"""

from __future__ import annotations

from replica_image.bugs import KNOWN_BUGS, UnknownBug, parse_bugs
from replica_image.codec import decode_message, decode_record, encode_message, encode_record
from replica_image.errors import InternalError, InvalidMessage, MisuseError, ProtocolViolation, ReplicaError
from replica_image.kv import KV, MISMATCH, PRECONDITION_FAILED, STALE, Result
from replica_image.loop import HostLoop, Waiters, Write, check_peer_message, leader_problem, status_problem
from replica_image.paxos import (
    Accept,
    Accepted,
    AcceptRecord,
    Ballot,
    Batch,
    Catchup,
    Chosen,
    ChosenRecord,
    Command,
    CoreConfig,
    Envelope,
    Message,
    Nack,
    Prepare,
    Promise,
    PromiseRecord,
    Proposal,
    ProposeResult,
    Ready,
    Record,
    Replica,
    Role,
    Snapshot,
    SnapshotRecord,
)

__all__ = [
    "KNOWN_BUGS", "KV", "MISMATCH", "PRECONDITION_FAILED", "STALE", "Accept", "AcceptRecord", "Accepted", "Ballot", "Batch",
    "Catchup", "Chosen", "ChosenRecord",
    "Command", "CoreConfig", "Envelope", "HostLoop", "Message", "InternalError", "InvalidMessage", "MisuseError", "Nack", "Prepare",
    "Promise", "PromiseRecord", "Proposal", "ProposeResult", "ProtocolViolation", "Ready", "Record", "Replica",
    "ReplicaError", "Result", "Role", "Snapshot", "SnapshotRecord", "UnknownBug", "Waiters", "Write", "check_peer_message",
    "decode_message", "decode_record", "encode_message", "encode_record", "leader_problem", "parse_bugs", "status_problem",
]
