"""Ballots (the seed's proposal numbers): unique per proposer, totally ordered.

The seed gives proposer i the numbers i + kN; we use the equivalent pair `(round, node)` ordered
lexicographically, so a proposer only ever picks ballots whose `node` is its own id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from replica_image.errors import InvalidMessage

__all__ = ["Ballot"]


def _check_nat(owner: str, name: str, value: object) -> None:
    if type(value) is not int or value < 0:
        raise InvalidMessage(f"{owner}.{name} must be an int >= 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Ballot:
    """A proposal number. `Ballot.ZERO` is below every ballot a proposer can use (round >= 1)."""

    ZERO: ClassVar[Ballot]

    round: int
    node: int

    def __post_init__(self) -> None:
        _check_nat("Ballot", "round", self.round)
        _check_nat("Ballot", "node", self.node)

    def __str__(self) -> str:
        return f"{self.round}.{self.node}"


Ballot.ZERO = Ballot(round=0, node=0)
