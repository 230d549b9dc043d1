"""``python -m replica_image``: start one replica configured by the environment (see replica_image.config).

Exit codes: 0 stopped by SIGTERM/SIGINT; 2 the replica could not start (bad configuration, unusable
or corrupt data directory, port in use), with one line on stderr naming the problem and the fix;
1 the replica died while running (storage failure or a broken invariant, logged as CRITICAL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from replica_image.app import StartupError, recover, serve
from replica_image.config import Config, ConfigError, load_config
from replica_image.storage import StorageError

_log = logging.getLogger("replica")


def _setup_logging(cfg: Config) -> None:
    logging.basicConfig(
        level=cfg.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s replica-{cfg.node_id} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _announce(cfg: Config) -> None:
    _log.info("starting replica %d (pid %d): %s", cfg.node_id, os.getpid(), cfg.summary())
    if not cfg.fsync:
        _log.warning("FSYNC=never: NOTHING IS FSYNCED. A crash can lose promises and accepts and break "
                     "consensus safety. For benchmarks only; never run a real cluster like this.")
    if cfg.bugs:
        _log.warning("BUGS=%s: DELIBERATE CONSENSUS BUGS ARE ENABLED. This replica is unsafe on purpose "
                     "(detection-power testing only).", ",".join(sorted(cfg.bugs)))


async def _run(cfg: Config) -> None:
    recovered = recover(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(cfg, recovered, stop)


def main() -> int:
    """Run one replica until SIGTERM/SIGINT; see the module docstring for exit codes."""
    try:
        cfg = load_config(os.environ)
    except ConfigError as exc:
        print(f"replica: configuration error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(cfg)
    _announce(cfg)
    try:
        asyncio.run(_run(cfg))
    except (StorageError, StartupError) as exc:
        print(f"replica {cfg.node_id}: cannot start: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: log, exit 1
        _log.critical("replica died: %r", exc, exc_info=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
