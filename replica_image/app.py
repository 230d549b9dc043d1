"""Assemble and run one replica: recover from storage, build the core, serve HTTP until stopped.

``serve(cfg, stop)`` returns when ``stop`` is set (SIGTERM/SIGINT) or raises when the driver dies
(a storage failure or a broken core invariant: the replica must not go on). ``recover(cfg)`` is the
start-up half, separate so that a replica that cannot read its state refuses to start before it
binds its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from replica_image.codec import decode_record
from replica_image.compaction import LiveLog
from replica_image.config import Config
from replica_image.errors import InvalidMessage, InvalidRecord, MisuseError
from replica_image.host import Driver
from replica_image.http_guard import JsonErrorRunner
from replica_image.kv import validate_snapshot
from replica_image.metrics import ReplicaMetrics
from replica_image.paxos import CoreConfig, Record, Replica, SnapshotRecord
from replica_image.server import ReplicaServer
from replica_image.storage import Storage, StorageCorrupt
from replica_image.transport import PeerTransport

__all__ = ["Restored", "StartupError", "core_config", "recover", "serve"]

_log = logging.getLogger("replica")
_RESTORE_HINT = ("Restore {} from a backup of this replica; do not wipe it or copy another replica's data into "
                 "it while the cluster runs (docs/replica.md, 'Corrupt storage').")


class StartupError(Exception):
    """The replica cannot start with this configuration; the message says what to change (exit 2)."""


@dataclass(slots=True, kw_only=True)
class Restored:
    """What start-up read back: the open storage, the decoded records and the core built from them."""

    storage: Storage
    live: LiveLog
    core: Replica


def core_config(cfg: Config) -> CoreConfig:
    """Translate the environment's milliseconds into the core's ticks.

    Raises:
        StartupError: the core refuses the resulting values (the message names the variables).
    """
    try:
        return CoreConfig(
            election_timeout_ticks=max(2, cfg.ticks(cfg.election_timeout_ms)),
            heartbeat_ticks=cfg.ticks(cfg.heartbeat_ms),
            retransmit_ticks=cfg.ticks(cfg.retransmit_ms),
            batch_max=cfg.batch_max,
            window=cfg.window,
            bugs=cfg.bugs,
        )
    except MisuseError as exc:
        raise StartupError(f"TICK_MS/HEARTBEAT_MS/ELECTION_TIMEOUT_MS/RETRANSMIT_MS/BATCH_MAX/WINDOW: {exc}") from None


def recover(cfg: Config) -> Restored:
    """Open DATA_DIR, decode every record, check every snapshot restores, and build the core.

    Snapshots are restored into a scratch KV here, before the port is bound, because a bad one would
    otherwise only fail when the driver installs it: a crash of a running replica (exit 1) instead of
    a refusal to start that names the record.

    Raises:
        StorageError / StorageCorrupt: the log cannot be used (message names file, offset or record).
        StartupError: bad core configuration.
    """
    ccfg = core_config(cfg)
    # bug skip-fsync (replica_image.bugs): the same code path as FSYNC=never, behind a BUGS switch
    storage, rec = Storage.open(cfg.data_dir, fsync=cfg.fsync and "skip-fsync" not in cfg.bugs)
    decoded: list[Record] = []
    try:
        for i, raw in enumerate(rec.records):
            record = decode_record(raw)
            if isinstance(record, SnapshotRecord):
                try:
                    validate_snapshot(record.data)
                except InvalidMessage as exc:
                    raise StorageCorrupt(
                        f"{storage.path}: record #{i} (the snapshot through slot {record.last_slot}) passes "
                        f"its checksum but its data does not restore ({str(exc)[:200]}); it was written by a "
                        f"bug or an incompatible version. {_RESTORE_HINT.format(cfg.data_dir)}"
                    ) from None
            decoded.append(record)
    except InvalidRecord as exc:
        storage.close()
        raise StorageCorrupt(
            f"{storage.path}: record #{i} passes its checksum but does not decode ({str(exc)[:200]}); it was "
            f"written by an incompatible version or by a bug. {_RESTORE_HINT.format(cfg.data_dir)}"
        ) from None
    except StorageCorrupt:
        storage.close()
        raise
    core = Replica(cfg.node_id, cfg.nodes, ccfg, random.Random(), recovered=decoded)
    _log.info("recovered %d records (%d bytes cut from a torn tail); promised ballot %s, first unchosen slot %d",
              len(decoded), rec.cut_bytes, core.ballot, core.first_unchosen)
    return Restored(storage=storage, live=LiveLog(zip(decoded, rec.records)), core=core)


async def serve(cfg: Config, recovered: Restored, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; then shut down in order (HTTP, driver, peers, storage).

    Raises:
        Exception: whatever killed the driver (storage I/O error, core invariant); logged first.
    """
    metrics = ReplicaMetrics()
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    session = aiohttp.ClientSession(connector=connector)
    transport = PeerTransport(node_id=cfg.node_id, peers=cfg.peers, secret=cfg.peer_secret, session=session,
                              timeout_s=cfg.peer_timeout_ms / 1000, queue_max=cfg.peer_queue_max,
                              sent=metrics.peer_sent, dropped=metrics.peer_dropped)
    # the kv and the host-side bugs (no-fsync, no-dedup, ...) come with the core's config into the host loop
    driver = Driver(core=recovered.core, storage=recovered.storage, live=recovered.live,
                    transport=transport, metrics=metrics, tick_s=cfg.tick_ms / 1000,
                    snapshot_every=cfg.snapshot_every, applied_index=-1,
                    request_timeout_s=cfg.request_timeout_ms / 1000)
    server = ReplicaServer(cfg=cfg, driver=driver, metrics=metrics, session=session)
    runners = [JsonErrorRunner(server.client_app(), access_log=None),
               JsonErrorRunner(server.peer_app(), access_log=None)]
    for runner in runners:
        await runner.setup()
    transport.start()
    driver_task = asyncio.get_running_loop().create_task(driver.run())
    try:
        for runner, name, host, port in ((runners[0], "LISTEN", cfg.listen_host, cfg.listen_port),
                                         (runners[1], "PEER_LISTEN", cfg.peer_host, cfg.peer_port)):
            site = web.TCPSite(runner, host, port, backlog=1024)
            try:
                await site.start()
            except OSError as exc:
                raise StartupError(f"cannot listen on {name}={host}:{port}: "
                                   f"{exc.strerror or exc}; pick a free port or address") from None
        _log.info("replica %d serving clients on %s:%d, peers on %s:%d", cfg.node_id, cfg.listen_host,
                  cfg.listen_port, cfg.peer_host, cfg.peer_port)
        stop_task = asyncio.get_running_loop().create_task(stop.wait())
        await asyncio.wait({driver_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        if driver_task.done():
            failure = driver_task.exception()
            _log.critical("the driver stopped: %r; shutting down", failure)
            if failure is not None:
                raise failure
    finally:
        for runner in runners:
            await runner.cleanup()
        driver_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await driver_task
        await transport.close()
        await session.close()
        recovered.storage.close()
        _log.info("replica %d stopped: %s", cfg.node_id, server.status())
