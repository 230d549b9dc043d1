"""Durable storage for one replica: an append-only log of checksummed records, plus atomic rewrite.

The storage is generic over bytes: the codec turns core records into bytes and back. It owns one
directory (``DATA_DIR``) holding ``log.dat``. Every record on disk is framed as (all uint32 big-endian)::

    length (1..MAX_RECORD_BYTES) | header_check | crc | payload
    header_check = CRC32(length bytes) XOR HEADER_MAGIC      crc = CRC32(length bytes + payload)

Why a header check of its own: at a bad frame, ``open()`` must tell an incomplete last write (safe to
cut: it was never fsynced, so nothing depended on it) from damage to bytes that were fsynced (cutting
them is amnesia: the acceptor forgets promises and accepts, which breaks Paxos safety). With the
length checked on its own, a frame whose payload runs past the end of the file is known to be a
truncated write and not a damaged length field. Zeros (a zeroed range) never pass: the check of a zero
length is ``CRC32(0) XOR HEADER_MAGIC``, not zero; the magic also keeps the check from being the plain
CRC32 that other CRC-framed data would carry.

Obligations and guarantees:

- ``append(records)`` writes whole frames to the OS (one ``write`` per call); ``sync()`` makes every
  appended byte durable with ONE fsync (group commit). The caller persists (append + sync) BEFORE it
  sends any message that depends on the records.
- ``open()`` reads the log back. Only a *torn* final frame is cut (logged, never returned): fewer than a
  header's bytes at the end of the file, or a header whose check passes with a payload running past the
  end of the file. Where at least the length (4 bytes) or the length and its check (8 bytes) of a partial
  header are present, they must be valid too. Anything else, anywhere, including in the last frame (a
  header that fails its check, e.g. zeros or junk; an impossible length; a complete frame whose crc
  fails), raises ``StorageCorrupt`` naming the file, byte offset and record number, and leaves the file
  untouched. A torn write from a killed process is always a prefix of what was written, which is what
  this rule accepts. Two limits, both on the safe side or unavoidable: a power loss that persists a
  later block of the last write before an earlier one is refused as corruption (an operator restores
  the directory); and a file that lost its end to something other than a crash looks exactly like a
  torn write (a partial frame is cut; whole frames lost at a frame boundary cannot be noticed at all).
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
HEADER = struct.Struct(">III")  # length, header_check, crc
_U32 = struct.Struct(">I")
_CHECKED = 8  # bytes of a header (length + header_check) that let us trust the length
# Any constant that is not CRC32(b"\0\0\0\0") makes an all-zero header fail; this one spells "PXLG".
HEADER_MAGIC = 0x50584C47
# A snapshot record holds the whole KV state; 1 GiB is far beyond any test and still fits uint32.
MAX_RECORD_BYTES = 1 << 30

_log = logging.getLogger("replica.storage")


class StorageError(ReplicaError):
    """The data directory cannot be used (unreadable, not writable, not a directory).

    The message names the path and what to fix; the replica refuses to start rather than run without
    its durable state.
    """


class StorageCorrupt(StorageError):
    """A record of the log is damaged in a way no incomplete last write explains.

    Raised by ``Storage.open`` (a frame fails its header check, length or checksum, the last frame
    included) and by recovery (a record passes its checksum but does not decode, or a snapshot's data
    does not restore); the message names the file, byte offset or record number, and the fix. The
    replica must not start with this log (it would forget promises or accepts). Restore the data
    directory from a backup of this replica and restart; docs/replica.md says when a wipe is safe.
    """


def encode_frame(payload: bytes) -> bytes:
    """Frame one record: header (length, header check, CRC32 over length + payload) then payload.

    Raises:
        ValueError: the payload is empty or larger than MAX_RECORD_BYTES (a caller bug).
    """
    n = len(payload)
    if not 1 <= n <= MAX_RECORD_BYTES:
        raise ValueError(f"record payload must be 1..{MAX_RECORD_BYTES} bytes, got {n}")
    length = _U32.pack(n)
    return HEADER.pack(n, _header_check(length), zlib.crc32(payload, zlib.crc32(length))) + payload


def _header_check(length: bytes) -> int:
    return zlib.crc32(length) ^ HEADER_MAGIC


class _BadFrame(Exception):
    """A frame that no incomplete last write explains; the text says what is wrong, for people."""


def _frame_at(buf: bytes, offset: int) -> bytes | None:
    """The payload of the frame at ``offset``, or None if it is a torn last write (safe to cut).

    Raises:
        _BadFrame: the frame is damaged (see the module docstring for the rule).
    """
    left = len(buf) - offset
    if left >= _CHECKED:
        (check,) = _U32.unpack_from(buf, offset + _U32.size)
        if check != _header_check(buf[offset : offset + _U32.size]):
            raise _BadFrame("its header fails its check (overwritten, e.g. by zeros or other data)")
    if left >= _U32.size:
        (n,) = _U32.unpack_from(buf, offset)
        if not 1 <= n <= MAX_RECORD_BYTES:
            raise _BadFrame(f"its header declares a length of {n} bytes, outside 1..{MAX_RECORD_BYTES}")
    if left < HEADER.size:
        return None  # a partial header: the last write stopped inside it
    n, _, crc = HEADER.unpack_from(buf, offset)
    start = offset + HEADER.size
    if start + n > len(buf):
        return None  # a trusted length running past the end of the file: a truncated last write
    payload = buf[start : start + n]
    if zlib.crc32(payload, zlib.crc32(buf[offset : offset + _U32.size])) != crc:
        raise _BadFrame("its checksum fails (the payload or the checksum changed on disk)")
    return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovered:
    """What ``Storage.open`` read back: the records in order, and how many tail bytes it cut."""

    records: tuple[bytes, ...]
    cut_bytes: int


def _parse(path: Path, buf: bytes) -> tuple[list[bytes], int]:
    """Split ``buf`` into payloads; return them and the length of the valid prefix (the rest is torn).

    Raises:
        StorageCorrupt: a frame is damaged, not torn.
    """
    records: list[bytes] = []
    offset = 0
    while offset < len(buf):
        try:
            payload = _frame_at(buf, offset)
        except _BadFrame as bad:
            raise StorageCorrupt(
                f"{path}: record #{len(records)} at byte offset {offset} is corrupt: {bad}. This is not an "
                f"incomplete last write, so cutting it would forget fsynced promises or accepts, which can "
                f"break Paxos safety; refusing to start. Restore {path.parent} from a backup of this replica; "
                f"do not wipe it or copy another replica's data into it while the cluster runs: an acceptor that "
                f"forgets its own promises and accepts can break consensus (docs/replica.md, 'Corrupt storage')."
            ) from None
        if payload is None:
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

        Cuts a torn last frame (logged at WARNING, made durable before returning) and removes a stale
        rewrite temp file. On ``StorageCorrupt`` the log file is left as it was.

        Raises:
            StorageError: the directory cannot be created, read or written.
            StorageCorrupt: a damaged record anywhere in the log (see the module docstring).
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
