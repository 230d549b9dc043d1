"""The replica's in-memory view of the slots: what it accepted, what it knows is chosen, what it truncated.

Pure bookkeeping with the two safety invariants that belong to a log: a chosen slot never changes
its value, and the accepted ballot of a slot never goes down.
"""

from __future__ import annotations

from replica_image.errors import InternalError
from replica_image.paxos.ballot import Ballot
from replica_image.paxos.messages import Batch, PromiseEntry, Proposal

__all__ = ["PaxosLog", "invariant"]


def invariant(cond: bool, msg: str) -> None:
    """Raise InternalError when `cond` is false (unlike `assert`, survives `python -O`)."""
    if not cond:
        raise InternalError(f"invariant broken: {msg}")


class PaxosLog:
    """Accepted values (slots >= first_unchosen), chosen values (until truncated), and the snapshot mark.

    `first_unchosen`: every slot below it is chosen (its value is in `chosen` or folded into the
    snapshot). `snapshot_last`: slots <= it are only in the snapshot (-1: no snapshot).
    """

    __slots__ = ("accepted", "chosen", "first_unchosen", "snapshot_last", "snapshot_data", "top")

    def __init__(self) -> None:
        self.accepted: dict[int, tuple[Ballot, Batch]] = {}
        self.chosen: dict[int, Batch] = {}
        self.first_unchosen = 0
        self.snapshot_last = -1
        self.snapshot_data: str | None = None
        self.top = -1  # highest slot ever accepted or chosen here

    def accept(self, slot: int, ballot: Ballot, batch: Batch) -> None:
        """Record an accepted value (the caller checked the promise; P1a)."""
        old = self.accepted.get(slot)
        invariant(old is None or old[0] <= ballot, f"slot {slot}: accepted ballot went down {old and old[0]} -> {ballot}")
        invariant(not (old is not None and old[0] == ballot and old[1] != batch),
                  f"slot {slot}: two values accepted in one ballot {ballot}")
        self.accepted[slot] = (ballot, batch)
        self.top = max(self.top, slot)

    def choose(self, slot: int, batch: Batch) -> bool:
        """Mark `batch` chosen in `slot`; return False if it was already known (or truncated)."""
        if slot <= self.snapshot_last:
            return False
        old = self.chosen.get(slot)
        if old is not None:
            invariant(old == batch, f"slot {slot}: chosen value changed")
            return False
        self.chosen[slot] = batch
        self.top = max(self.top, slot)
        while self.first_unchosen in self.chosen:
            # accepted values below first_unchosen are never reported again: drop them
            self.accepted.pop(self.first_unchosen, None)
            self.first_unchosen += 1
        return True

    def promise_entries(self, first_slot: int) -> tuple[PromiseEntry, ...]:
        """Everything accepted or chosen at slots >= max(first_slot, first_unchosen), in slot order."""
        # O(slots above first_unchosen), not O(log): only in-flight slots live there
        out: list[PromiseEntry] = []
        for s in range(max(first_slot, self.first_unchosen), self.top + 1):
            acc = self.accepted.get(s)
            chosen = self.chosen.get(s)
            if chosen is not None:
                ballot = acc[0] if acc is not None else Ballot.ZERO
                out.append(PromiseEntry(slot=s, ballot=ballot, batch=chosen, chosen=True))
            elif acc is not None:
                out.append(PromiseEntry(slot=s, ballot=acc[0], batch=acc[1]))
        return tuple(out)

    def chosen_from(self, from_slot: int, limit: int) -> tuple[Proposal, ...]:
        """Up to `limit` contiguous chosen slots starting at `from_slot` (stops at the first unknown)."""
        out: list[Proposal] = []
        s = max(from_slot, self.snapshot_last + 1)
        while len(out) < limit:
            batch = self.chosen.get(s)
            if batch is None:
                break
            out.append(Proposal(slot=s, batch=batch))
            s += 1
        return tuple(out)

    def truncate(self, last_slot: int, data: str) -> None:
        """The state machine's snapshot covers slots <= last_slot: forget them (they are chosen)."""
        invariant(last_slot < self.first_unchosen, f"snapshot through {last_slot} but slot {self.first_unchosen} unchosen")
        if last_slot <= self.snapshot_last:
            return
        for s in range(self.snapshot_last + 1, last_slot + 1):
            self.chosen.pop(s, None)
        self.snapshot_last = last_slot
        self.snapshot_data = data

    def install_snapshot(self, last_slot: int, data: str) -> None:
        """Adopt a snapshot from a peer (or storage): every slot <= last_slot becomes chosen-and-truncated."""
        if last_slot <= self.snapshot_last:
            return
        for s in [s for s in self.chosen if s <= last_slot]:
            del self.chosen[s]
        for s in [s for s in self.accepted if s <= last_slot]:
            del self.accepted[s]
        self.snapshot_last = last_slot
        self.snapshot_data = data
        self.top = max(self.top, last_slot)
        self.first_unchosen = max(self.first_unchosen, last_slot + 1)
        while self.first_unchosen in self.chosen:
            self.accepted.pop(self.first_unchosen, None)
            self.first_unchosen += 1
