"""Target names -> targets: what a scenario's `cluster.target` and `--target` may say.

The harness imports this and `targets.contract`, never a target's own modules (DESIGN 2 and 13).
"""

from __future__ import annotations

from targets.contract import Target
from targets.errors import UsageError
from targets.etcd import ETCD
from targets.maelstrom import MAELSTROM
from targets.paxos import PAXOS

__all__ = ["DEFAULT_TARGET", "TARGETS", "get_target"]

DEFAULT_TARGET = "paxos"
TARGETS: dict[str, Target] = {t.name: t for t in (PAXOS, ETCD, MAELSTROM)}


def get_target(name: str) -> Target:
    """The target called `name`; UsageError listing the known ones otherwise."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UsageError(f"unknown target {name!r}: use one of {', '.join(sorted(TARGETS))}") from None
