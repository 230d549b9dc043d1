"""Which durable records are still needed after a snapshot (log truncation).

``LiveLog`` mirrors the records in the log file (decoded record + its encoded bytes, in file order) so
truncation needs no re-read or re-encode. ``compact(snapshot)`` keeps, in their original order:

- the last PromiseRecord (the promised ballot must survive: P1a);
- the given SnapshotRecord (the state through ``last_slot``), and no older snapshot;
- for every slot above ``last_slot``: its latest AcceptRecord (the highest ballot: accepted values
  must survive for phase 1) and its ChosenRecord.

Records at or below ``last_slot`` are covered by the snapshot. Recovery (``Replica(recovered=...)``)
reads the result exactly as it reads an untruncated log.
"""

from __future__ import annotations

from collections.abc import Iterable

from replica_image.paxos.ballot import Ballot
from replica_image.paxos.messages import AcceptRecord, ChosenRecord, PromiseRecord, Record, SnapshotRecord

__all__ = ["LiveLog"]


class LiveLog:
    """The records currently in the log file, for truncation after a snapshot."""

    def __init__(self, records: Iterable[tuple[Record, bytes]] = ()) -> None:
        self._records: list[tuple[Record, bytes]] = list(records)

    def __len__(self) -> int:
        return len(self._records)

    def extend(self, records: Iterable[tuple[Record, bytes]]) -> None:
        """Track records just appended to the file (same order)."""
        self._records.extend(records)

    def compact(self, snapshot: SnapshotRecord) -> list[bytes]:
        """Drop what ``snapshot`` covers; return the kept records' bytes for ``Storage.rewrite``."""
        promise: tuple[int, Ballot] | None = None
        accepts: dict[int, tuple[int, Ballot]] = {}
        chosen: dict[int, int] = {}
        for i, (rec, _) in enumerate(self._records):
            if isinstance(rec, PromiseRecord) and (promise is None or promise[1] <= rec.ballot):
                promise = (i, rec.ballot)
            elif isinstance(rec, AcceptRecord) and rec.slot > snapshot.last_slot:
                best = accepts.get(rec.slot)
                if best is None or best[1] <= rec.ballot:
                    accepts[rec.slot] = (i, rec.ballot)
            elif isinstance(rec, ChosenRecord) and rec.slot > snapshot.last_slot:
                chosen.setdefault(rec.slot, i)
        wanted = {i for i, _ in accepts.values()} | set(chosen.values())
        if promise is not None:
            wanted.add(promise[0])
        keep = [
            (rec, raw)
            for i, (rec, raw) in enumerate(self._records)
            if i in wanted or rec is snapshot
        ]
        self._records = keep
        return [raw for _, raw in keep]
