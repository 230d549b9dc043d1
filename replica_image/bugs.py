"""The deliberate consensus bugs a replica can be started with (`BUGS=name,...`, DESIGN section 9).

They exist to measure the harness's detection power: each is a realistic mistake of a few lines in the
real code path, off by default, logged loudly at start and shown in `/status` when on. A switch must
change behaviour only where its description says; tests/replica/test_bugs.py holds each to that.

Where each one lives:
- core (`replica_image/paxos/replica.py`, via `CoreConfig.bugs`): accept-below-promise,
  ignore-phase1-values, early-reply, small-quorum, reused-ballot, forget-promise-on-restart;
- state machine (`replica_image/kv.py`): no-dedup;
- host loop (`replica_image/host.py`): no-fsync;
- HTTP server (`replica_image/server.py`): local-reads.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["BUGS", "KNOWN_BUGS"]

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
}

KNOWN_BUGS: frozenset[str] = frozenset(BUGS)
