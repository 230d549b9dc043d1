"""The election timer's contract (`CoreConfig.election_timeout_ticks`): "a follower that hears no
leader for a random number of ticks in [this, 2*this) starts an election".

A core whose timer runs fast calls needless elections (each one costs a round trip and can depose a
live leader); one whose timer runs slow, or never, leaves a leaderless cluster waiting. Neither shows
in a history that ends converged. From outside the core, counted in the node's own ticks:

- the timer restarts when the node (re)starts, at every change of its role or ballot (the core resets
  it on becoming a follower, a candidate or the leader), and at every message it takes as coming from
  a live leader or candidate: an Accept not below its promise, or a Prepare it promised;
- a follower or candidate that starts a candidacy (its role becomes candidate, or its ballot rises as
  a candidate) must have waited at least `election_timeout_ticks` since that restart (*early*);
- a follower or candidate must start one within `2 * election_timeout_ticks - 1` ticks of it (*late*).

A leader's own timer counts its check-quorum windows instead (`harness.sim.contracts`).

Pure: the world reports starts, role changes and the messages a node took, and lends the node clocks
`harness.sim.contracts` keeps; each method returns the text of a violation, or None.
"""

from __future__ import annotations

from collections.abc import Callable

from targets.paxos.core import Accept, Ballot, CoreConfig, Message, Prepare, Role

__all__ = ["ElectionTimer"]


class ElectionTimer:
    """The contract of the module docstring for replicas running with `config`; `ticks(i)` is node i's
    clock, the ticks of its current incarnation (`Contracts.ticks`: one clock per node, kept once)."""

    def __init__(self, config: CoreConfig, ticks: Callable[[int], int]) -> None:
        self.timeout = config.election_timeout_ticks
        self._clock = ticks
        self._since: dict[int, int] = {}              # node -> the tick its timer last restarted
        self._term: dict[int, tuple[Role, Ballot]] = {}

    def started(self, i: int, role: Role, ballot: Ballot) -> None:
        """Node i (re)started, its clock at 0: the timer starts with it."""
        self._since[i] = self._clock(i)
        self._term[i] = (role, ballot)

    def took(self, i: int, msg: Message, promised_before: Ballot, promised_after: Ballot) -> None:
        """Node i stepped `msg` without refusing it: a live leader's Accept, or a Prepare it promised."""
        if ((isinstance(msg, Accept) and msg.ballot >= promised_before)
                or (isinstance(msg, Prepare) and promised_after > promised_before)):
            self._since[i] = self._clock(i)

    def observe(self, i: int, role: Role, ballot: Ballot) -> str | None:
        """Node i's role and ballot after an input: a new candidacy must not come early."""
        old = self._term.get(i)
        if old == (role, ballot) or i not in self._since:
            return None
        self._term[i] = (role, ballot)
        waited = self._clock(i) - self._since[i]
        self._since[i] = self._clock(i)
        if role is not Role.CANDIDATE or old is None or old[0] is Role.LEADER:
            return None
        if waited < self.timeout:
            return (f"node {i} started an election at {ballot} after {waited} ticks without a leader, below "
                    f"election_timeout_ticks ({self.timeout})")
        if waited >= 2 * self.timeout:  # in the very tick after_tick would have flagged
            return self._late(i, role, waited)
        return None

    def after_tick(self, i: int, role: Role) -> str | None:
        """Node i ran a tick: a follower or candidate whose timer has run 2 x timeout ticks is late."""
        if role is Role.LEADER or i not in self._since:
            return None
        waited = self._clock(i) - self._since[i]
        return self._late(i, role, waited) if waited >= 2 * self.timeout else None

    def _late(self, i: int, role: Role, waited: int) -> str:
        return (f"node {i}, {role.value}, heard no leader for {waited} ticks before its election: at most "
                f"2 x election_timeout_ticks - 1 ({2 * self.timeout - 1})")
