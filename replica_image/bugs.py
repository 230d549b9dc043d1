"""The deliberate consensus bugs a replica can be started with (`BUGS=name,...`, DESIGN section 9).

They exist to measure the harness's detection power: each is a realistic mistake of a few lines in the
real code path, off by default, logged loudly at start and shown in `/status` when on. A switch must
change behaviour only where its description says; tests/replica/test_bugs.py holds each to that.

Where each one lives:
- core (`replica_image/paxos/replica.py`, via `CoreConfig.bugs`): accept-below-promise,
  ignore-phase1-values, early-reply, small-quorum, reused-ballot, forget-promise-on-restart;
- state machine (`replica_image/kv.py`): no-dedup;
- host loop (`replica_image/loop.py`, shared by the replica, the simulator and the test cluster): no-fsync,
  local-reads (the server and the simulator ask `HostLoop.local_read`), skip-fsync (no sync is asked;
  the replica's storage is also opened without fsync by `replica_image/app.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["BUGS", "KNOWN_BUGS", "UnknownBug", "parse_bugs"]

BUGS: Mapping[str, str] = {
    "accept-below-promise": "an acceptor accepts a ballot lower than the one it promised (P1a broken)",
    "ignore-phase1-values": "a new leader proposes its own commands in slots where phase 1 reported an "
                            "accepted value (P2c broken); only values reported as chosen are kept",
    "no-fsync": "acceptor records are written behind, about once a second, while replies leave at once: "
                "a kill -9 loses the promises and accepts of the last second",
    "early-reply": "the leader treats a slot as chosen as soon as it accepted it itself, and answers the "
                   "client before a majority has accepted",
    "local-reads": "a get is answered from the replica's local state, not through the log",
    "small-quorum": "quorums are N//2 replicas instead of N//2+1, so two quorums need not intersect",
    "no-dedup": "a retried request (same client_id and request_id) is applied again",
    "reused-ballot": "ballots are compared by round only, so two proposers can hold the same ballot",
    "forget-promise-on-restart": "promises are not read back after a restart (accepts still are)",
    "skip-fsync": "acceptor records are written to the log file at once but never fsynced: a kill -9 "
                  "loses nothing (the page cache survives), a power loss loses what the disk never got",
}

KNOWN_BUGS: frozenset[str] = frozenset(BUGS)


class UnknownBug(ValueError):
    """A bug name that is not in ``BUGS``; the message lists the known names. Callers add where it came
    from (``BUGS=``, ``--bugs``, ``cluster.bugs``)."""


def parse_bugs(spec: str | Iterable[str]) -> tuple[str, ...]:
    """The one parser of bug names: a comma-separated string or a list of names -> names in given order.

    Blanks around names are ignored, duplicates dropped (first kept), an empty spec is no bug. The
    replica's ``BUGS``, the CLI's ``--bugs``, the scenario's ``cluster.bugs`` and the simulator use it,
    so a name accepted in one place is accepted in all of them.

    Raises:
        UnknownBug: a name that is not a known bug (the message names it and lists the known ones).
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise UnknownBug(f"bug names are strings, got {type(item).__name__} {item!r}")
        name = item.strip()
        if not name or name in names:
            continue
        if name not in BUGS:
            shown = name if len(name) <= 60 else name[:57] + "..."
            raise UnknownBug(f"unknown bug {shown!r}; known: {', '.join(sorted(BUGS))}")
        names.append(name)
    return tuple(names)
