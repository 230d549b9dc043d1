"""The replica's own small error hierarchy (the replica package imports nothing outside itself).

Split by who is at fault, the way h11 splits local and remote protocol errors:

- `InvalidMessage`: a peer or client sent input that is malformed. The message names the field and
  what was expected; the server returns the text as a 400 and applies nothing.
- `ProtocolViolation` (an `InvalidMessage`): a well-formed peer message that contradicts Paxos; dropped.
- `MisuseError`: the host driving the core broke the driving contract (e.g. called `ready()` twice
  without `advance()`). A bug in the driver; fix the caller.
- `InternalError`: an invariant of the core broke (a promised ballot went down, a chosen slot
  changed). A bug in the core: report it with the seed that produced it.
"""

from __future__ import annotations

__all__ = ["ReplicaError", "InvalidMessage", "InvalidRecord", "ProtocolViolation", "MisuseError", "InternalError",
           "brief"]


def brief(value: object, limit: int = 80) -> str:
    """A value for an error message, whoever sent it: a megabyte of junk, a 4,300-digit integer (whose
    repr would raise) or a 100,000-item list stays one short line."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (list, dict)) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    try:
        text = repr(value)
    except ValueError:
        return type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ReplicaError(Exception):
    """Root of every error the replica raises on purpose."""


class InvalidMessage(ReplicaError, ValueError):
    """Malformed input from a peer or client: the message names the field; answer 400, apply nothing."""


class InvalidRecord(InvalidMessage):
    """A stored record's bytes do not decode: storage should treat the record as corrupt."""


class ProtocolViolation(InvalidMessage):
    """A well-formed peer message that breaks a Paxos rule (two values in one ballot, a chosen value
    that contradicts ours). Nothing of it was applied; log it loudly: a peer (or this replica) is buggy."""


class MisuseError(ReplicaError):
    """The driver broke the core's calling contract (see docs/replica-contract.md): fix the caller."""


class InternalError(ReplicaError):
    """An invariant of the core broke: this is a bug; report it with the seed and the trace."""
