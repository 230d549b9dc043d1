"""`Ready`: everything the core asks its host to do, in the order it must be done."""

from __future__ import annotations

from dataclasses import dataclass

from replica_image.paxos.messages import Batch, Envelope, Record, Snapshot

__all__ = ["Ready"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """One batch of effects. The host must, in this order:

    1. append `persist` to stable storage, and fsync when `must_sync` (promises, accepts, snapshots);
    2. only then send `messages` (a promise or an accept must be durable before its reply leaves);
    3. install `snapshot` into the state machine if it is not None;
    4. apply `committed` (slot, batch) pairs, contiguous and in slot order;
    5. call `replica.advance(ready)`.
    """

    persist: tuple[Record, ...]
    messages: tuple[Envelope, ...]
    committed: tuple[tuple[int, Batch], ...]
    snapshot: Snapshot | None
    must_sync: bool

    def is_empty(self) -> bool:
        return not (self.persist or self.messages or self.committed or self.snapshot is not None)
