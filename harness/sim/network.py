"""The simulated network: seeded delay, loss, duplication, reordering, and partitions between replicas.

Time is virtual, in microseconds. A send is planned at once: the network decides, from its own seeded
`random.Random`, whether the message is lost, when it arrives, and whether a duplicate arrives later.
Reordering is what random delays do: two messages on one link may arrive in either order, as on
Toxiproxy links with jitter (TCP would keep them in order; the core must not rely on it, since each of
our peer messages is its own HTTP request). A partition blocks a link both when a message is sent and
when it would arrive, so a message in flight when the link is cut is lost, as in a Toxiproxy
`timeout`/`limit_data` cut.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["NetFaults", "Network"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NetFaults:
    """How one seed's network misbehaves.

    Attributes:
        delay_us: one-way delay range, uniform.
        loss: probability a message is dropped.
        duplicate: probability a message is delivered twice (the copy later).
        slow: probability a message takes up to 20x the maximum delay (reorders it far).
    """

    delay_us: tuple[int, int] = (200, 3_000)
    loss: float = 0.0
    duplicate: float = 0.0
    slow: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.delay_us
        if not 0 <= low <= high:
            raise ValueError(f"delay_us must be (low, high) with 0 <= low <= high, got {self.delay_us!r}")
        for name in ("loss", "duplicate", "slow"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


class Network:
    """Links between replica ids; clients' links are only delayed (their faults are the replicas')."""

    def __init__(self, rng: random.Random, faults: NetFaults) -> None:
        self._rng = rng
        self.faults = faults
        self.blocked: set[tuple[int, int]] = set()
        # extra delay on some links (a scenario's latency): link -> (latency, jitter, probability), in us;
        # (0, i) is the clients' link to node i. Empty in the simulator's own schedules.
        self.link_delays: dict[tuple[int, int], tuple[int, int, float]] = {}

    def delay(self) -> int:
        low, high = self.faults.delay_us
        return self._rng.randint(low, high)

    def plan(self, src: int, dst: int) -> list[int]:
        """Delays (us) after which copies of one message from src to dst arrive; [] when it is lost."""
        if (src, dst) in self.blocked or self._rng.random() < self.faults.loss:
            return []
        extra = self.extra_delay(src, dst)
        delays = [self._one() + extra]
        if self._rng.random() < self.faults.duplicate:
            delays.append(delays[0] + self._one())
        return delays

    def extra_delay(self, src: int, dst: int) -> int:
        """The link's added latency (us) for one message: latency +- jitter, with its probability."""
        spec = self.link_delays.get((src, dst))
        if spec is None:
            return 0
        latency, jitter, probability = spec
        if probability < 1.0 and self._rng.random() >= probability:
            return 0
        return max(0, latency + (self._rng.randint(-jitter, jitter) if jitter else 0))

    def _one(self) -> int:
        d = self.delay()
        if self._rng.random() < self.faults.slow:
            d += self._rng.randint(0, 20 * self.faults.delay_us[1])
        return d

    def passes(self, src: int, dst: int) -> bool:
        """False when the link is cut at delivery time (the message in flight is lost)."""
        return (src, dst) not in self.blocked

    def heal(self) -> None:
        self.blocked = set()
