"""The core's documented contracts that no history shows, checked on everything a simulated replica
does: what it answers its clients, what it sends its peers, and when.

A history and the replicas' logs show safety; these are the promises of `CoreConfig` and of the host
API that a user (the HTTP layer, an operator sizing messages, a peer waiting for heartbeats) relies on,
and that a mistake can break while every op stays linearizable:

- **Reply shape**: a client's answer carries the kv's `Result` (or none: not proposed) and a leader
  hint that is None or a node id of the cluster (`replica_image.loop.leader_problem`, the rule of
  /status too); the HTTP layer encodes both as JSON and looks the hint up among its peers, so
  anything else is a 500 there.
- **Message bounds**: no Accept or Chosen carries more than `entries_per_message_max` slots (the
  config's own words: "slots per Accept / Chosen message").
- **Heartbeats**: a leader sends every peer an Accept (entries or a heartbeat) at least every
  `heartbeat_ticks` ticks of its own clock; a candidate re-sends its Prepare to every peer that has not
  promised at least every `retransmit_ticks` ticks.
- **Retransmit pacing**, the other side of that timer: after a slot's first send to a peer in a
  ballot, a leader resends it there at most once per `retransmit_ticks` of its clock (its first resend
  may come at any tick: one timer serves every slot). One that resent faster would flood a slow or
  lagging peer, and still converge.
- **Check quorum** (etcd's CheckQuorum; `CoreConfig.election_timeout_ticks` promises it): a leader
  that hears from no majority for an election timeout steps down. The network is the simulator's, so
  it knows which peers a leader could hear: those whose link to it was open at some moment. A leader
  still leading after `checkquorum_ticks_max` of its own ticks in which those peers, all together,
  were fewer than a majority (itself included) broke it (see that function for the bound).

The world reports a bad reply or an oversized message as an error of the replica (a 500, a message
a peer may refuse), and a late timer or a missed step-down as a lapse (`SimResult.liveness`, like the
retransmit pacing check): progress owed and not made, which no end-of-run check could see.

Pure: the world feeds it what happens (`started`, `observe`, `sent`, `delivered`, `ticked`,
`reply`, `partitions`) and it answers with the text of a violation, or None. Time is counted in each
node's own ticks, so a paused or crashed node's clock stops with it, as the core's does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from targets.paxos.core import (
    Accept, Ballot, Chosen, CoreConfig, Envelope, Prepare, Promise, Result, Role, leader_problem,
)

__all__ = ["Contracts", "checkquorum_ticks_max"]

RESENDS_TRACKED = 1_024  # slots per link the retransmit pacing contract remembers (the newest)


def checkquorum_ticks_max(config: CoreConfig) -> int:
    """Ticks a leader cut off from a majority may still lead: two election timeouts.

    The core checks what it heard at the end of each window of `election_timeout_ticks`, counting every
    peer heard at any moment of it. Any 2 x timeout consecutive ticks hold one whole window; if the
    peers the network let it hear during those ticks are too few, so are those it heard in that
    window, and it steps down at its end, counted in its own ticks.
    """
    return 2 * config.election_timeout_ticks


class Contracts:
    """The contracts of the module docstring, for the replicas `ids` running with `config`.

    Every method returns the text of the first violation it sees in that input, or None; the caller
    records it (the world keeps the first of a run).
    """

    def __init__(self, ids: Sequence[int], config: CoreConfig) -> None:
        self.ids = frozenset(ids)
        self.config = config
        self._majority = len(self.ids) // 2 + 1
        self._ticks = {i: 0 for i in ids}                  # ticks of node i's current incarnation
        self._term: dict[int, tuple[Role, Ballot]] = {}    # role and ballot after node i's last input
        self._since: dict[int, int] = {}                   # the tick node i's current term began
        self._last: dict[int, dict[int, int]] = {}         # node -> peer -> tick of its last Accept/Prepare to it
        self._promised: dict[int, set[int]] = {}           # candidate -> peers whose promise reached it
        # node -> the peers whose link to it is open now, and those open at some moment since its last tick
        self._audible: dict[int, frozenset[int]] = {i: self.ids - {i} for i in ids}
        self._audible_tick: dict[int, set[int]] = {i: set(self.ids - {i}) for i in ids}
        # leader -> the peers it could hear during each of its last checkquorum_ticks_max ticks of its term
        self._heard_window: dict[int, deque[frozenset[int]]] = {}
        # (src, dst) -> the ballot of src's last Accept with entries to dst, and slot -> (sends, tick of the last)
        self._resends: dict[tuple[int, int], tuple[Ballot, dict[int, tuple[int, int]]]] = {}

    # ------------------------------------------------------------------ what the world reports
    def started(self, i: int) -> None:
        """Node i (re)started: a new incarnation, with its own clock and no term yet."""
        self._ticks[i] = 0
        self._forget(i)

    def observe(self, i: int, role: Role, ballot: Ballot) -> None:
        """Node i's role and ballot after an input (a tick, a message, a request, its start)."""
        term = (role, ballot)
        if self._term.get(i) == term:
            return
        self._forget(i)
        self._term[i] = term
        # the messages of the input that began the term went out at this very tick
        self._since[i] = self._ticks[i]

    def sent(self, env: Envelope) -> str | None:
        """Node env.src sends env: bounded, and (for the timing contracts) when."""
        msg = env.msg
        if isinstance(msg, (Accept, Chosen)) and len(msg.entries) > self.config.entries_per_message_max:
            return (f"node {env.src} sent node {env.dst} {type(msg).__name__} entries for {len(msg.entries)} slots, "
                    f"above entries_per_message_max {self.config.entries_per_message_max}")
        term = self._term.get(env.src)
        if term is not None and isinstance(msg, (Accept, Prepare)) and msg.ballot == term[1]:
            if (term[0] is Role.LEADER) == isinstance(msg, Accept):
                self._last.setdefault(env.src, {})[env.dst] = self._ticks[env.src]
        return None

    def resent(self, env: Envelope) -> str | None:
        """Node env.src sends env: if it is an Accept with entries, is any of them resent too soon?
        Kept per ballot, not per term: a new leader's first broadcast goes out before `observe` sees it lead."""
        msg = env.msg
        if not isinstance(msg, Accept) or not msg.entries:
            return None
        ballot, sent = self._resends.get((env.src, env.dst), (msg.ballot, {}))
        if ballot != msg.ballot:
            sent = {}
        self._resends[(env.src, env.dst)] = (msg.ballot, sent)
        now, period, broken = self._ticks[env.src], self.config.retransmit_ticks, None
        for e in msg.entries:
            count, last = sent.get(e.slot, (0, now))
            if count >= 2 and now - last < period and broken is None:
                broken = (f"node {env.src} resent slot {e.slot} of ballot {msg.ballot} to node {env.dst} "
                          f"{now - last} ticks after the last time, within its retransmit_ticks of {period} "
                          "(retransmit pacing)")
            sent[e.slot] = (count + 1, now)
        if len(sent) > 4 * RESENDS_TRACKED:  # chosen slots are never resent: forget the oldest
            for s in sorted(sent)[:len(sent) - RESENDS_TRACKED]:
                del sent[s]
        return broken

    def delivered(self, env: Envelope) -> None:
        """env is about to be stepped into node env.dst: a promise for its candidacy counts from now."""
        term = self._term.get(env.dst)
        if isinstance(env.msg, Promise) and term == (Role.CANDIDATE, env.msg.ballot):
            self._promised.setdefault(env.dst, set()).add(env.src)

    def ticked(self, i: int) -> None:
        """Node i is about to run one tick of its clock."""
        self._ticks[i] += 1

    def after_tick(self, i: int) -> str | None:
        """Node i ran a tick (and `observe` saw its role after it): is it late, or leading cut off?"""
        term = self._term.get(i)
        if term is None:
            return None
        role, ballot = term
        could_hear = frozenset(self._audible_tick[i])
        self._audible_tick[i] = set(self._audible[i])
        if role is Role.LEADER:
            bound = checkquorum_ticks_max(self.config)
            window = self._heard_window.setdefault(i, deque(maxlen=bound))
            window.append(could_hear)
            heard = frozenset().union(*window)
            if len(window) == bound and 1 + len(heard) < self._majority:
                return (f"node {i} still leads at {ballot} after {bound} ticks in which the network let it hear "
                        f"{'only nodes ' + ','.join(map(str, sorted(heard))) if heard else 'no peer'}, no majority; "
                        f"it must step down within 2 x election_timeout_ticks ({bound})")
        if role is Role.LEADER:
            return self._late(i, self.ids - {i}, self.config.heartbeat_ticks, "Accept", "heartbeat_ticks")
        if role is Role.CANDIDATE:
            waiting = self.ids - {i} - self._promised.get(i, set())
            return self._late(i, waiting, self.config.retransmit_ticks, "Prepare", "retransmit_ticks")
        return None

    def partitions(self, blocked: Iterable[tuple[int, int]]) -> None:
        """The network's cut links changed (`blocked`: (src, dst) pairs; 0 is the clients)."""
        # Node i cannot hear peer j while the link j -> i is cut: a partition drops what is in flight on
        # it too. A cut of i -> j alone does not count: j's answers to Accepts that crossed before the cut
        # may still arrive over j -> i, a slow one 80 ticks later (a 40 ms link's 20x); and j, hearing no
        # leader, soon sends it a higher Prepare over that same link, which ends its term anyway.
        # The core counts the peers it heard over a whole election timeout, not at one instant: a leader
        # that hears one peer, then another, may rightly stay. So what it could hear is kept per tick, as
        # the union of the peers whose link was open at any moment of that tick.
        cut = set(blocked)
        for i in self.ids:
            self._audible[i] = frozenset(j for j in self.ids - {i} if (j, i) not in cut)
            self._audible_tick[i] |= self._audible[i]

    def reply(self, i: int, result: object, leader: object) -> str | None:
        """Node i answers a client: the kv's Result or None, and a hint the HTTP layer can encode."""
        if result is not None and not isinstance(result, Result):
            return f"node {i} answered a client with {type(result).__name__} {result!r:.80}, not a Result or None"
        hint = leader_problem(leader, self.ids)  # the rule of /status too: one copy
        if hint is not None:
            return f"node {i} answered a client with a bad leader hint ({type(leader).__name__}): {hint}; a 500 over HTTP"
        return None

    # ------------------------------------------------------------------ helpers
    def _late(self, i: int, peers: Iterable[int], period: int, what: str, name: str) -> str | None:
        """The first of `peers` that node i has sent no `what` of its term for `period` ticks: the core
        sends one at the tick its timer reaches `period`, so after a tick the gap is below it."""
        last = self._last.get(i, {})
        for p in sorted(peers):
            gap = self._ticks[i] - max(last.get(p, self._since[i]), self._since[i])
            if gap >= period:
                role, ballot = self._term[i]
                return (f"node {i}, {role.value} at {ballot}, sent node {p} no {what} for {gap} ticks "
                        f"(every {name}: {period})")
        return None

    def _forget(self, i: int) -> None:
        self._term.pop(i, None)
        self._since.pop(i, None)
        self._last.pop(i, None)
        self._promised.pop(i, None)
        self._heard_window.pop(i, None)
