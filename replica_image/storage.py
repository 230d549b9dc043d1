"""Durable storage for one replica: an append-only log of checksummed records, plus atomic rewrite.

The storage is generic over bytes: the codec turns core records into bytes and back. It owns one
directory (``DATA_DIR``) holding ``log.dat``. Every record on disk is framed as::

    length: uint32 big-endian (>= 1)   crc: uint32 big-endian, CRC32 of (length bytes + payload)   payload

Obligations and guarantees:

- ``append(records)`` writes whole frames to the OS (one ``write`` per call); ``sync()`` makes every
  appended byte durable with ONE fsync (group commit). The caller persists (append + sync) BEFORE it
  sends any message that depends on the records.
- ``open()`` reads the log back. A torn or corrupt *tail* (a bad frame with no valid frame after it:
  the last write was cut short by a crash) is cut off, logged, and never returned. A bad frame with a
  valid frame after it is corruption in the middle: ``open()`` raises ``StorageCorrupt`` naming the file
  and byte offset, because joining with a hole in the acceptor's memory could break Paxos safety.
- ``rewrite(records)`` replaces the whole log atomically (write ``log.dat.tmp``, fsync, rename over
  ``log.dat``, fsync the directory). A crash at any point leaves either the old or the new log; a stale
  ``log.dat.tmp`` is removed on the next ``open()``.
- With ``fsync=False`` (``FSYNC=never``, benchmarks only) ``sync()`` and ``rewrite()`` skip fsync.

Not thread-safe: one task (the driver) owns it; ``sync()`` may run in a worker thread as long as no
other call runs concurrently.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from replica_image.errors import ReplicaError

__all__ = [
    "LOG_NAME",
    "MAX_RECORD_BYTES",
    "Recovered",
    "Storage",
    "StorageCorrupt",
    "StorageError",
    "encode_frame",
]

LOG_NAME = "log.dat"
TMP_SUFFIX = ".tmp"
HEADER = struct.Struct(">II")
# A snapshot record holds the whole KV state; 1 GiB is far beyond any test and still fits uint32.
MAX_RECORD_BYTES = 1 << 30

_log = logging.getLogger("replica.storage")


class StorageError(ReplicaError):
    """The data directory cannot be used (unreadable, not writable, not a directory).

    The message names the path and what to fix; the replica refuses to start rather than run without
    its durable state.
    """


class StorageCorrupt(StorageError):
    """A record in the middle of the log fails its checksum or framing.

    Raised by ``Storage.open``; the message names the file and byte offset. The replica must not start
    with this log (it would forget promises or accepts). Restore the data directory from a peer (wipe it
    only if a majority of the other replicas is healthy) and restart.
    """


def encode_frame(payload: bytes) -> bytes:
    """Frame one record: header (length, CRC32 over length + payload) then payload.

    Raises:
        ValueError: the payload is empty or larger than MAX_RECORD_BYTES (a caller bug).
    """
    n = len(payload)
    if not 1 <= n <= MAX_RECORD_BYTES:
        raise ValueError(f"record payload must be 1..{MAX_RECORD_BYTES} bytes, got {n}")
    length = struct.pack(">I", n)
    return HEADER.pack(n, zlib.crc32(payload, zlib.crc32(length))) + payload


def _frame_at(buf: bytes, offset: int) -> bytes | None:
    """Return the payload of a valid frame starting at ``offset``, or None if there is none."""
    if offset + HEADER.size > len(buf):
        return None
    n, crc = HEADER.unpack_from(buf, offset)
    start = offset + HEADER.size
    if n < 1 or n > MAX_RECORD_BYTES or start + n > len(buf):
        return None
    payload = buf[start : start + n]
    if zlib.crc32(payload, zlib.crc32(buf[offset : offset + 4])) != crc:
        return None
    return payload


def _valid_frame_after(buf: bytes, offset: int) -> int | None:
    """Offset of the first valid frame strictly after ``offset``, if any (resynchronising scan).

    Used only when a bad frame is found, to tell a torn tail (nothing valid follows) from corruption
    in the middle (valid records follow). Cost is linear in the bytes after the bad frame.
    """
    for pos in range(offset + 1, len(buf) - HEADER.size + 1):
        if _frame_at(buf, pos) is not None:
            return pos
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovered:
    """What ``Storage.open`` read back: the records in order, and how many tail bytes it cut."""

    records: tuple[bytes, ...]
    cut_bytes: int


def _parse(path: Path, buf: bytes) -> tuple[list[bytes], int]:
    """Split ``buf`` into payloads; return them and the length of the valid prefix.

    Raises:
        StorageCorrupt: a bad frame is followed by a valid one.
    """
    records: list[bytes] = []
    offset = 0
    while offset < len(buf):
        payload = _frame_at(buf, offset)
        if payload is None:
            later = _valid_frame_after(buf, offset)
            if later is not None:
                raise StorageCorrupt(
                    f"{path}: corrupt record at byte offset {offset} (record #{len(records)}), "
                    f"followed by valid records at offset {later}: refusing to start with a hole in "
                    f"the acceptor log. Restore {path.parent} from a healthy replica's data, or wipe it "
                    f"only if a majority of the other replicas is healthy."
                )
            break
        records.append(payload)
        offset += HEADER.size + len(payload)
    return records, offset


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Storage:
    """The replica's log file. Create with ``Storage.open``; see the module docstring for duties."""

    def __init__(self, *, directory: Path, fd: int, fsync: bool, size_bytes: int, records: int) -> None:
        self._dir = directory
        self._path = directory / LOG_NAME
        self._fd = fd
        self._fsync = fsync
        self._size_bytes = size_bytes
        self._records = records
        self._dirty = False
        self.fsyncs = 0
        self.fsync_seconds_total = 0.0
        self.last_fsync_seconds = 0.0

    @classmethod
    def open(cls, directory: Path, *, fsync: bool = True) -> tuple[Storage, Recovered]:
        """Open (creating if needed) the log in ``directory`` and read it back.

        Cuts a torn tail (logged at WARNING, made durable before returning) and removes a stale
        rewrite temp file.

        Raises:
            StorageError: the directory cannot be created, read or written.
            StorageCorrupt: a corrupt record in the middle of the log.
        """
        try:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / (LOG_NAME + TMP_SUFFIX)
            if tmp.exists():
                _log.warning("removing %s: left over by a crash during a log rewrite", tmp)
                tmp.unlink()
            path = directory / LOG_NAME
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise StorageError(
                f"cannot use data directory {directory}: {exc.strerror}; "
                f"set DATA_DIR to a writable directory"
            ) from exc
        try:
            buf = path.read_bytes()
            records, valid = _parse(path, buf)
            cut = len(buf) - valid
            if cut:
                _log.warning(
                    "%s: torn tail of %d bytes at offset %d cut (%d records kept)",
                    path, cut, valid, len(records),
                )
                os.ftruncate(fd, valid)
                os.fsync(fd)
            if created:
                _fsync_dir(directory)
        except BaseException:
            os.close(fd)
            raise
        storage = cls(directory=directory, fd=fd, fsync=fsync, size_bytes=valid, records=len(records))
        return storage, Recovered(records=tuple(records), cut_bytes=cut)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    @property
    def record_count(self) -> int:
        return self._records

    @property
    def fsync_enabled(self) -> bool:
        return self._fsync

    def append(self, records: Iterable[bytes]) -> None:
        """Write ``records`` to the log in one write; durable only after ``sync()``."""
        frames = [encode_frame(r) for r in records]
        if not frames:
            return
        data = b"".join(frames)
        _write_all(self._fd, data)
        self._size_bytes += len(data)
        self._records += len(frames)
        self._dirty = True

    def sync(self) -> None:
        """Make everything appended so far durable with one fsync (no-op if nothing is pending)."""
        if not self._dirty:
            return
        self._dirty = False
        if not self._fsync:
            return
        start = time.perf_counter()
        os.fdatasync(self._fd)
        elapsed = time.perf_counter() - start
        self.fsyncs += 1
        self.fsync_seconds_total += elapsed
        self.last_fsync_seconds = elapsed

    def rewrite(self, records: Sequence[bytes]) -> None:
        """Atomically replace the whole log with ``records`` (tmp, fsync, rename, fsync dir).

        Used to truncate the log after a snapshot. On return the new log is durable (unless fsync is
        off) and further appends go to it.
        """
        tmp = self._dir / (LOG_NAME + TMP_SUFFIX)
        data = b"".join(encode_frame(r) for r in records)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        if self._fsync:
            _fsync_dir(self._dir)
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_RDWR | os.O_APPEND)
        self._size_bytes = len(data)
        self._records = len(records)
        self._dirty = False

    def close(self) -> None:
        """Close the file (does not sync: call ``sync()`` first if appended records must survive)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
