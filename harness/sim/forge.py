"""The forged-message fault: peer messages the core's rules say it must refuse, and the check that it does.

The project's rule: whoever reaches a port is hostile, so a forged peer message gets a clear error and
loses nothing already acknowledged. The network of the simulator only carries what real cores send,
so without this fault every mistake in the core's refusal of bad input survives (a mutant that lets
two values into one slot of one ballot runs exactly like the correct core).

Right after a real message is delivered (`Forger.after`), with the seed's probability (`SimConfig.forge`,
drawn from a stream of its own), the world hands the same replica one message forged from it, so it
is in range (that ballot, those slots, that sender), and of a kind the core's documented rules refuse:

- `two-values`: an Accept of the real one's ballot with two batches for one slot (and, first, a value
  for a slot past its entries: the whole message must be refused, not its tail);
- `reaccept`: an Accept of the ballot the acceptor holds proposing another batch in a slot it accepted
  in that ballot;
- `contradict-chosen`: a Chosen with another batch in a slot the replica knows chosen (and, first, a
  value for its first unchosen slot);
- `ballot-owner`: the real Prepare or Accept, from a member that is not its ballot's node;
- `stranger`: the real message from a non-member (itself, 0 or a node id past the cluster);
- `misdirected`: the real message addressed to another member;
- `bad-snapshot`: a Snapshot whose data the kv cannot restore (the real one's, or the replica's own
  state, corrupted one field at a time). The real replica refuses it before the core
  (`check_peer_message`, replica_image/server.py): the core persists a peer's snapshot before the
  host restores it, so one let through would be durable. The simulator runs the same gate.

The contract, checked here: the core (or the host's gate) raises `InvalidMessage`, a
`ProtocolViolation` for the first three, and nothing changed: role, ballot, leader, first unchosen
slot, applied index, snapshot, log length, the accepted and chosen values of the slots it names, and
no new output (`has_ready`). A broken contract is an error of the replica. A refused forgery leaves no
trace, so a correct run is the run it would have been without it: every other draw of the seed, the
history and the fault log stay the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from targets.paxos.core import (
    Accept,
    Ballot,
    Batch,
    Chosen,
    Command,
    Envelope,
    InvalidMessage,
    Message,
    Prepare,
    Proposal,
    ProtocolViolation,
    Replica,
    ReplicaError,
    Role,
    Snapshot,
    check_peer_message,
)

__all__ = ["FORGERY_KINDS", "Forger", "Forgery", "Seen", "forge", "observe"]

FORGERY_KINDS = ("two-values", "reaccept", "contradict-chosen", "ballot-owner", "stranger", "misdirected",
                 "bad-snapshot")


@dataclass(frozen=True, slots=True, kw_only=True)
class Forgery:
    """One forged message: `env` is delivered to replica `to` (its dst but for a misdirected one), which
    must refuse it with `expect`; `slots` are those whose values it must leave as they were."""

    kind: str
    env: Envelope
    to: int
    slots: tuple[int, ...]
    expect: type[InvalidMessage]


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """What a refused message must not change in a replica (all of it observable from outside the core)."""

    role: Role
    ballot: Ballot
    leader_id: int | None
    first_unchosen: int
    applied_index: int
    snapshot_last: int
    log_length: int
    has_ready: bool
    slots: tuple[tuple[int, tuple[Ballot, Batch] | None, Batch | None], ...]


def observe(core: Replica, slots: Sequence[int]) -> Seen:
    return Seen(role=core.role, ballot=core.ballot, leader_id=core.leader_id, first_unchosen=core.first_unchosen,
                applied_index=core.applied_index, snapshot_last=core.snapshot_last, log_length=core.log_length,
                has_ready=core.has_ready(),
                slots=tuple((s, core.accepted_value(s), core.chosen_value(s)) for s in slots))


def _other(batch: Batch) -> Batch:
    """A batch that differs from `batch` and looks like one (a forger's own write, or one command fewer)."""
    return batch[:-1] if batch else (Command(client_id="forger", request_id=1, op="put", key="k0", value="forged"),)


def _corrupt(rng: random.Random, data: str) -> str:
    """`data` (a kv snapshot) with one thing wrong that the kv's snapshot validation refuses."""
    obj = json.loads(data)
    rows = obj["dedup"]
    row = list(rows[0]) if rows else ["forger", 1, "fingerprint", "ok", None]
    broken: list[Callable[[], object]] = [
        lambda: data[: len(data) // 2],                                   # not JSON (an object cut short)
        lambda: [obj],                                                    # not an object
        lambda: {**obj, "version": obj["version"] + 1},                   # another version
        lambda: {k: v for k, v in obj.items() if k != "version"},
        lambda: {**obj, "data": [[k, v] for k, v in obj["data"].items()]},  # data not an object
        lambda: {**obj, "data": {**obj["data"], "forged": 7}},            # a value not a string
        lambda: {**obj, "dedup": {}},                                     # dedup not a list
        lambda: {**obj, "dedup": [*rows, "forged"]},                      # a row not a list
        lambda: {**obj, "dedup": [*rows, row[:4]]},                       # rows of 4 and of 6 fields
        lambda: {**obj, "dedup": [*rows, [*row, None]]},
        lambda: {**obj, "dedup": [*rows, [7, *row[1:]]]},                 # client id not a string
        lambda: {**obj, "dedup": [*rows, [row[0], str(row[1]), *row[2:]]]},  # request id not an int
        lambda: {**obj, "dedup": [*rows, [row[0], True, *row[2:]]]},
        lambda: {**obj, "dedup": [*rows, [row[0], -1, *row[2:]]]},        # request id out of 0..2^63-1
        lambda: {**obj, "dedup": [*rows, [row[0], 2**63, *row[2:]]]},
        lambda: {**obj, "dedup": [*rows, [*row[:2], 7, *row[3:]]]},       # fingerprint not a string
        lambda: {**obj, "dedup": [*rows, [*row[:3], 7, row[4]]]},         # status not a string
        lambda: {**obj, "dedup": [*rows, [*row[:3], "forged", row[4]]]},  # status none of the kv's
        lambda: {**obj, "dedup": [*rows, [*row[:4], 7]]},                 # value neither string nor null
    ]
    out = rng.choice(broken)()
    return out if isinstance(out, str) else json.dumps(out, separators=(",", ":"))


def forge(rng: random.Random, env: Envelope, core: Replica, ids: Sequence[int], state: Callable[[], str]) -> Forgery | None:
    """A forgery derived from `env`, just delivered to `core` (its dst, running, idle), or None when no
    kind the rules refuse applies. `state` gives a kv snapshot of the replica, the base of a bad one."""
    m, me, src = env.msg, env.dst, env.src
    kinds: list[Callable[[], Forgery | None]] = [
        lambda: Forgery(kind="stranger", env=Envelope(src=rng.choice((me, 0, len(ids) + 1, len(ids) + 7)), dst=me,
                                                      msg=m), to=me, slots=(), expect=InvalidMessage),
        lambda: Forgery(kind="misdirected", env=Envelope(src=src, dst=rng.choice([i for i in ids if i != me]), msg=m),
                        to=me, slots=(), expect=InvalidMessage),
        lambda: _bad_snapshot(rng, env, core, state),
    ]
    if len(ids) < 2:
        kinds.pop(1)
    if isinstance(m, (Prepare, Accept)):
        owners = [i for i in ids if i not in (me, m.ballot.node)]
        if owners:
            kinds.append(lambda: Forgery(kind="ballot-owner", env=Envelope(src=rng.choice(owners), dst=me, msg=m),
                                         to=me, slots=(), expect=InvalidMessage))
    # an Accept the replica holds the ballot of (else it answers a Nack, which is no refusal)
    if isinstance(m, Accept) and m.entries and core.ballot == m.ballot and core.role is not Role.LEADER:
        kinds.append(lambda: _two_values(rng, env))
        kinds.append(lambda: _reaccept(rng, env, core))
    if core.first_unchosen - 1 > core.snapshot_last:
        kinds.append(lambda: _contradict_chosen(env, core))
    try:
        return rng.choice(kinds)()
    except InvalidMessage:  # past a message's hard limits (MAX_ENTRIES): no such forgery reaches a core
        return None


def _two_values(rng: random.Random, env: Envelope) -> Forgery:
    m = env.msg
    assert isinstance(m, Accept)
    e = rng.choice(m.entries)
    fresh = max(p.slot for p in m.entries) + 1
    entries = (Proposal(slot=fresh, batch=_other(())), *m.entries, Proposal(slot=e.slot, batch=_other(e.batch)))
    msg = Accept(ballot=m.ballot, commit=m.commit, entries=entries)
    return Forgery(kind="two-values", env=Envelope(src=env.src, dst=env.dst, msg=msg), to=env.dst,
                   slots=(fresh, e.slot), expect=ProtocolViolation)


def _reaccept(rng: random.Random, env: Envelope, core: Replica) -> Forgery | None:
    m = env.msg
    assert isinstance(m, Accept)
    held = [e for e in m.entries if core.accepted_value(e.slot) == (m.ballot, e.batch)]
    if not held:
        return None
    e = rng.choice(held)
    msg = Accept(ballot=m.ballot, commit=m.commit, entries=(Proposal(slot=e.slot, batch=_other(e.batch)),))
    return Forgery(kind="reaccept", env=Envelope(src=env.src, dst=env.dst, msg=msg), to=env.dst, slots=(e.slot,),
                   expect=ProtocolViolation)


def _contradict_chosen(env: Envelope, core: Replica) -> Forgery | None:
    slot, fresh = core.first_unchosen - 1, core.first_unchosen
    ours = core.chosen_value(slot)
    if ours is None:
        return None
    msg = Chosen(entries=(Proposal(slot=fresh, batch=_other(())), Proposal(slot=slot, batch=_other(ours))))
    return Forgery(kind="contradict-chosen", env=Envelope(src=env.src, dst=env.dst, msg=msg), to=env.dst,
                   slots=(fresh, slot), expect=ProtocolViolation)


def _bad_snapshot(rng: random.Random, env: Envelope, core: Replica, state: Callable[[], str]) -> Forgery:
    m = env.msg
    data = m.data if isinstance(m, Snapshot) else state()
    # past what it has chosen: a snapshot the core would install if it got through
    last = max(core.first_unchosen, m.last_slot if isinstance(m, Snapshot) else 0)
    msg = Snapshot(last_slot=last, data=_corrupt(rng, data))
    return Forgery(kind="bad-snapshot", env=Envelope(src=env.src, dst=env.dst, msg=msg), to=env.dst,
                   slots=(core.first_unchosen,), expect=InvalidMessage)


def refused(f: Forgery, core: Replica, ids: Sequence[int]) -> str | None:
    """Deliver forgery `f` to `core` as the real replica's host would (its gate, then the core) and
    check the contract; what broke it, or None."""
    before = observe(core, f.slots)
    raised: Exception | None = None
    try:
        check_peer_message(f.env.msg, ids)
        core.step(f.env)
    except Exception as exc:  # an InternalError (a core that tripped on it), a bare ValueError: broken too
        raised = exc
    after = observe(core, f.slots)
    what = f"node {f.to} given a forged {f.kind} message ({_brief(f.env)})"
    if not isinstance(raised, f.expect):
        got = "no error" if raised is None else f"{type(raised).__name__}: {raised}"
        return f"{what} answered {got}, not the {f.expect.__name__} the core's rules promise"
    if before != after:
        changed = [name for name in Seen.__slots__ if getattr(before, name) != getattr(after, name)]
        return f"{what} refused it ({raised}) but changed {', '.join(changed)}: a refused message changes nothing"
    return None


def _brief(env: Envelope) -> str:
    return f"{type(env.msg).__name__} {env.src}->{env.dst}: {env.msg!r}"[:300]


@dataclass
class Forger:
    """The fault in one run: after each delivery, with probability `rate`, one forgery (see the module
    docstring), from `rng`, a stream of its own. `counts`: forgeries made, by kind."""

    rng: random.Random
    rate: float
    ids: tuple[int, ...]
    counts: dict[str, int] = field(default_factory=dict)

    def after(self, env: Envelope, core: Replica, state: Callable[[], str]) -> str | None:
        """`env` was just delivered to `core`, which is idle again: maybe forge one; what broke, or None."""
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        f = forge(self.rng, env, core, self.ids, state)
        if f is None:
            return None
        self.counts[f.kind] = self.counts.get(f.kind, 0) + 1
        return refused(f, core, self.ids)
