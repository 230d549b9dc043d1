"""The core's tunables: time in ticks, and a bound on everything that can grow."""

from __future__ import annotations

from dataclasses import dataclass, field

from replica_image.errors import MisuseError
from replica_image.paxos.messages import MAX_BATCH, MAX_ENTRIES

__all__ = ["CoreConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreConfig:
    """Bounds and timeouts of one replica core; every field has a safe default.

    Attributes:
        election_timeout_ticks: a follower that hears no leader for a random number of ticks in
            [this, 2*this) starts an election; a leader that hears from no majority for this many
            ticks steps down.
        heartbeat_ticks: a leader sends a heartbeat (an empty Accept carrying its commit) this often.
        retransmit_ticks: prepares, accepts and catch-up requests still unanswered are resent this often.
        batch_max: commands per slot.
        window: slots a leader may have in flight beyond its first unchosen slot; at most half of
            `MAX_ENTRIES`, so that what leaders leave accepted and unchosen always fits in a Promise
            (an acceptor whose report would not fit ignores the Prepare, and if every acceptor of a
            majority held more, no candidate could ever win).
        entries_per_message_max: slots per Accept / Chosen message.
        queue_max: client commands waiting for a slot; beyond it `propose` answers BUSY.
        committed_per_ready_max: chosen slots handed to the host in one Ready.
        learn_scan_max: slots a follower scans per Accept when marking the leader's commit.
        bugs: deliberate bugs to enable (replica_image.bugs); empty in every real use.
    """

    election_timeout_ticks: int = 10
    heartbeat_ticks: int = 2
    retransmit_ticks: int = 3
    batch_max: int = 256
    window: int = 64
    entries_per_message_max: int = 64
    queue_max: int = 10_000
    committed_per_ready_max: int = 1024
    learn_scan_max: int = 1024
    bugs: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name, low, high in (
            ("election_timeout_ticks", 2, 1_000_000),
            ("heartbeat_ticks", 1, 1_000_000),
            ("retransmit_ticks", 1, 1_000_000),
            ("batch_max", 1, MAX_BATCH),
            ("window", 1, MAX_ENTRIES // 2),
            ("entries_per_message_max", 1, MAX_ENTRIES),
            ("queue_max", 1, 10_000_000),
            ("committed_per_ready_max", 1, 10_000_000),
            ("learn_scan_max", 1, 10_000_000),
        ):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise MisuseError(f"CoreConfig.{name} must be an int in {low}..{high}, got {value!r}")
        if self.heartbeat_ticks >= self.election_timeout_ticks:
            raise MisuseError(
                f"CoreConfig.heartbeat_ticks ({self.heartbeat_ticks}) must be below "
                f"election_timeout_ticks ({self.election_timeout_ticks}), or followers time out on a live leader"
            )
        if not isinstance(self.bugs, frozenset) or not all(isinstance(b, str) for b in self.bugs):
            raise MisuseError(f"CoreConfig.bugs must be a frozenset of str, got {self.bugs!r}")
