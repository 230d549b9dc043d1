"""What a restart must give back: the state a replica's durable records describe.

`Replica`'s contract is "restart = construct with the records storage read back": whatever was
persisted before a crash is there again after it. A history shows a lost record only when it
happens to matter (an acceptor that reports an older value for a slot to the one candidate that
needed the newer one); this reads the records the simulated disk kept and the core a restart built
from them, and names the first difference, at once.

What the records describe, independent of how the core rebuilds it:
- the snapshot: the highest `last_slot` of a SnapshotRecord (-1: none);
- chosen: every slot of a ChosenRecord above it; the first unchosen slot is the first slot above the
  snapshot that no ChosenRecord names;
- accepted: for each slot at or above that first unchosen slot, the value of its highest-ballot
  AcceptRecord (an acceptor's accepted ballot never goes down, and one ballot has one value per slot).

The promise is left to the P1a check of the world, which sees every acceptor's durable promise.

Pure: records and a core's accessors in, the text of a difference (or None) out.
"""

from __future__ import annotations

from collections.abc import Sequence

from targets.paxos.core import AcceptRecord, ChosenRecord, Record, Replica, SnapshotRecord

__all__ = ["recovery_problem"]


def recovery_problem(core: Replica, records: Sequence[Record]) -> str | None:
    """The first way `core`, just built from `records`, holds other than what they describe, or None."""
    snap = max((r.last_slot for r in records if isinstance(r, SnapshotRecord)), default=-1)
    if core.snapshot_last != snap:
        return f"its newest durable snapshot ends at slot {snap}, but it restarted at snapshot_last {core.snapshot_last}"
    chosen = {r.slot: r.batch for r in records if isinstance(r, ChosenRecord) and r.slot > snap}
    first = snap + 1
    while first in chosen:
        first += 1
    if core.first_unchosen != first:
        return f"its durable chosen slots run to slot {first - 1}, but it restarted with first unchosen slot {core.first_unchosen}"
    for slot, batch in chosen.items():
        if core.chosen_value(slot) != batch:
            return f"slot {slot} is durably chosen, but it restarted without that value"
    best: dict[int, AcceptRecord] = {}
    for r in records:
        if isinstance(r, AcceptRecord) and r.slot >= first and (r.slot not in best or r.ballot > best[r.slot].ballot):
            best[r.slot] = r
    for slot, rec in best.items():
        held = core.accepted_value(slot)
        if held != (rec.ballot, rec.batch):
            has = "nothing" if held is None else f"ballot {held[0]}"
            return f"slot {slot} was durably accepted at ballot {rec.ballot}, but it restarted holding {has} there"
    return None
