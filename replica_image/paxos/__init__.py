"""The sans-IO Multi-Paxos core: messages, ticks and client commands in; effects out.

Belongs here: ballots, messages and records, the replica state machine (roles, phases, learning,
catch-up), its config. Does not belong here: asyncio, sockets, clocks, files, module-level random,
JSON (that is `replica_image.codec`), the key-value semantics (`replica_image.kv`).

The one driving loop, written once in `replica_image.loop.HostLoop` (with the snapshot policy and the
host-side bugs) and driven by the aiohttp server, the simulator and the test cluster alike::

    while replica.has_ready():
        rd = replica.ready()
        storage.append(rd.persist)           # 1. persist ...
        if rd.must_sync:
            storage.sync()                   #    ... and fsync
        transport.send(rd.messages)          # 2. only then send
        if rd.snapshot is not None:
            kv.restore(rd.snapshot.data)     # 3. install a snapshot from a peer / from recovery
        for slot, batch in rd.committed:
            kv.apply_batch(batch)            # 4. apply chosen slots in order
        replica.advance(rd)                  # 5. acknowledge

Inputs between iterations: `replica.step(envelope)`, `replica.tick()`, `replica.propose(cmd)`,
`replica.snapshot_taken(last_slot, data)`. A restarted replica is constructed with the records it
had persisted; its first Ready re-delivers its snapshot and chosen slots so the host rebuilds the kv.
"""

from replica_image.paxos.ballot import Ballot
from replica_image.paxos.config import CoreConfig
from replica_image.paxos.messages import (
    MAX_BATCH, MAX_ENTRIES, MESSAGE_TYPES, NOOP, OPS, Accept, Accepted, AcceptRecord, Batch, Catchup,
    Chosen, ChosenRecord, Command, Envelope, Message, Nack, Prepare, Promise, PromiseEntry,
    PromiseRecord, Proposal, Record, Snapshot, SnapshotRecord,
)
from replica_image.paxos.ready import Ready
from replica_image.paxos.replica import ProposeResult, Replica, Role

__all__ = [
    "Ballot", "CoreConfig", "Ready", "Replica", "Role", "ProposeResult",
    "MAX_BATCH", "MAX_ENTRIES", "MESSAGE_TYPES", "NOOP", "OPS",
    "Command", "Batch", "Proposal", "PromiseEntry",
    "Prepare", "Promise", "Accept", "Accepted", "Nack", "Catchup", "Chosen", "Snapshot",
    "Message", "Envelope",
    "PromiseRecord", "AcceptRecord", "ChosenRecord", "SnapshotRecord", "Record",
]
