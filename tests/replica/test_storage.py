"""Storage: round trip, group commit, only a torn last write cut, any other damage refused, atomic rewrite."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from replica_image.storage import (
    HEADER,
    LOG_NAME,
    Storage,
    StorageCorrupt,
    StorageError,
    encode_frame,
)


def _open(d: Path, fsync: bool = True) -> tuple[Storage, tuple[bytes, ...]]:
    storage, rec = Storage.open(d, fsync=fsync)
    return storage, rec.records


def test_round_trip_across_reopen(tmp_path: Path) -> None:
    s, recs = _open(tmp_path)
    assert recs == ()
    s.append([b"one", b"two"])
    s.append([b"three" * 1000])
    s.sync()
    s.close()
    s2, recs2 = _open(tmp_path)
    assert recs2 == (b"one", b"two", b"three" * 1000)
    assert s2.record_count == 3
    assert s2.size_bytes == (tmp_path / LOG_NAME).stat().st_size
    s2.append([b"four"])
    s2.sync()
    s2.close()
    assert _open(tmp_path)[1][-1] == b"four"


def test_group_commit_one_fsync_for_many_records(tmp_path: Path) -> None:
    s, _ = _open(tmp_path)
    for i in range(10):
        s.append([f"r{i}".encode()])
    s.sync()
    assert s.fsyncs == 1
    s.sync()  # nothing pending: no second fsync
    assert s.fsyncs == 1
    s.append([b"x", b"y"])
    s.sync()
    assert s.fsyncs == 2
    s.close()


def test_fsync_never_counts_no_fsyncs_but_keeps_data(tmp_path: Path) -> None:
    s, _ = _open(tmp_path, fsync=False)
    s.append([b"a"])
    s.sync()
    assert s.fsyncs == 0
    s.close()
    assert _open(tmp_path)[1] == (b"a",)


# 24-byte frame: cuts 13..23 leave a partial header (1..11 bytes), 1..12 a header with a partial payload
@pytest.mark.parametrize("cut", [1, 3, 8, 9, 12, 14, 16, 20, 23])
def test_torn_tail_is_cut_on_open(tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture) -> None:
    s, _ = _open(tmp_path)
    s.append([b"first", b"second", b"third-record"])
    s.sync()
    s.close()
    path = tmp_path / LOG_NAME
    size = path.stat().st_size
    os.truncate(path, size - cut)
    with caplog.at_level(logging.WARNING, logger="replica.storage"):
        s2, rec = Storage.open(tmp_path)
    assert rec.records == (b"first", b"second")
    assert rec.cut_bytes == len(encode_frame(b"third-record")) - cut
    assert "torn tail" in caplog.text
    # the cut is durable and appends continue from the valid prefix
    s2.append([b"after"])
    s2.sync()
    s2.close()
    assert _open(tmp_path)[1] == (b"first", b"second", b"after")


@pytest.mark.parametrize("tail", [b"\x00" * 4096, b"\x00" * HEADER.size, b"\x00" * 4, b"\xff\x00\x00\x10garbage",
                                  encode_frame(b"x")[:4] + b"\x00\x00\x00\x00"])
def test_zeros_or_garbage_after_the_last_record_refuse(tmp_path: Path, tail: bytes) -> None:
    # No write of ours leaves a bad length or header check behind: these bytes are not a torn write.
    s, _ = _open(tmp_path)
    s.append([b"keep"])
    s.sync()
    s.close()
    path = tmp_path / LOG_NAME
    with open(path, "ab") as f:
        f.write(tail)
    with pytest.raises(StorageCorrupt, match=f"record #1 at byte offset {len(encode_frame(b'keep'))} "):
        Storage.open(tmp_path)
    assert path.read_bytes() == encode_frame(b"keep") + tail  # refusing leaves the file alone


@pytest.mark.parametrize("tail", [b"\x00", b"\xff\xff\xff", encode_frame(b"next")[:7]])
def test_fewer_bytes_than_a_length_and_check_at_the_end_are_cut(tmp_path: Path, tail: bytes) -> None:
    # Fewer than 4 bytes cannot be checked at all; 4..7 can only be checked for a plausible length.
    s, _ = _open(tmp_path)
    s.append([b"keep"])
    s.sync()
    s.close()
    with open(tmp_path / LOG_NAME, "ab") as f:
        f.write(tail)
    s2, rec = Storage.open(tmp_path)
    s2.close()
    assert rec.records == (b"keep",) and rec.cut_bytes == len(tail)


def test_corrupt_middle_refuses_naming_file_and_offset(tmp_path: Path) -> None:
    s, _ = _open(tmp_path)
    s.append([b"aaaa", b"bbbb", b"cccc"])
    s.sync()
    s.close()
    path = tmp_path / LOG_NAME
    data = bytearray(path.read_bytes())
    second = len(encode_frame(b"aaaa"))
    data[second + HEADER.size] ^= 0xFF  # flip a payload byte of record #1
    path.write_bytes(bytes(data))
    with pytest.raises(StorageCorrupt) as info:
        Storage.open(tmp_path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"offset {second}" in msg
    # refusing must not have modified the file
    assert path.read_bytes() == bytes(data)


def test_corrupt_length_field_in_middle_refuses(tmp_path: Path) -> None:
    s, _ = _open(tmp_path)
    s.append([b"x" * 50, b"y" * 50, b"z" * 50])
    s.sync()
    s.close()
    path = tmp_path / LOG_NAME
    data = bytearray(path.read_bytes())
    data[0:4] = (10_000).to_bytes(4, "big")  # length now points past EOF
    path.write_bytes(bytes(data))
    with pytest.raises(StorageCorrupt, match="offset 0"):
        Storage.open(tmp_path)


# ---- regressions: damage that is not a torn write must never be cut (that is amnesia) ----

def _real_log(d: Path, n: int = 60) -> list[bytes]:
    """A log of `n` real accept records, appended and fsynced in batches as the driver does."""
    from replica_image.codec import encode_record
    from replica_image.paxos import AcceptRecord, Ballot, Command

    payloads = [encode_record(AcceptRecord(slot=i, ballot=Ballot(round=3, node=1), batch=(
        Command(client_id="c", request_id=i, op="put", key=f"k{i}", value="v" * 40),))) for i in range(n)]
    s, _ = _open(d)
    for start in range(0, n, 7):
        s.append(payloads[start : start + 7])
        s.sync()
    s.close()
    return payloads


def _offset_of(payloads: list[bytes], index: int) -> int:
    return sum(len(encode_frame(p)) for p in payloads[:index])


def _assert_refused(d: Path, *, offset: int, record: int) -> None:
    path = d / LOG_NAME
    before = path.read_bytes()
    with pytest.raises(StorageCorrupt) as info:
        Storage.open(d)
    msg = str(info.value)
    assert str(path) in msg and f"record #{record} at byte offset {offset} " in msg, msg
    assert "Restore" in msg and "backup of this replica" in msg and "\n" not in msg, msg
    assert path.read_bytes() == before  # nothing cut


def test_file_replaced_with_junk_refuses_instead_of_starting_empty(tmp_path: Path) -> None:
    import random

    _real_log(tmp_path)
    path = tmp_path / LOG_NAME
    path.write_bytes(random.Random(7).randbytes(path.stat().st_size))
    _assert_refused(tmp_path, offset=0, record=0)


def test_second_half_zeroed_refuses_instead_of_cutting(tmp_path: Path) -> None:
    payloads = _real_log(tmp_path)
    path = tmp_path / LOG_NAME
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[half:] = bytes(len(data) - half)
    path.write_bytes(bytes(data))
    first_hit = max(i for i in range(len(payloads)) if _offset_of(payloads, i) <= half)
    _assert_refused(tmp_path, offset=_offset_of(payloads, first_hit), record=first_hit)


@pytest.mark.parametrize("where", [0, 3, 4, 7, 8, 11, 12, -1], ids=lambda w: f"byte{w}")
def test_flipped_byte_in_the_last_record_refuses(tmp_path: Path, where: int) -> None:
    # header bytes 0-3 length, 4-7 header check, 8-11 crc, then payload; -1 is the file's last byte
    payloads = _real_log(tmp_path)
    path = tmp_path / LOG_NAME
    last = _offset_of(payloads, len(payloads) - 1)
    data = bytearray(path.read_bytes())
    data[last + where if where >= 0 else where] ^= 0x01
    path.write_bytes(bytes(data))
    _assert_refused(tmp_path, offset=last, record=len(payloads) - 1)


def test_all_zero_header_never_validates() -> None:
    from replica_image.storage import HEADER_MAGIC

    assert HEADER_MAGIC != zlib.crc32(bytes(4))  # else the check of a zero length would be zero


def test_torn_last_write_of_many_frames_keeps_the_complete_ones(tmp_path: Path) -> None:
    # one append = one write of several frames; a crash inside it leaves the frames written in full
    s, _ = _open(tmp_path)
    s.append([b"synced"])
    s.sync()
    s.append([b"a" * 30, b"b" * 30, b"c" * 30])
    s.close()
    path = tmp_path / LOG_NAME
    os.truncate(path, len(encode_frame(b"synced")) + len(encode_frame(b"a" * 30)) + 20)
    s2, rec = Storage.open(tmp_path)
    s2.close()
    assert rec.records == (b"synced", b"a" * 30)


def test_rewrite_truncates_log(tmp_path: Path) -> None:
    s, _ = _open(tmp_path)
    s.append([f"old{i}".encode() for i in range(100)])
    s.sync()
    before = s.size_bytes
    s.rewrite([b"snapshot", b"old99"])
    assert s.size_bytes < before
    s.append([b"new"])
    s.sync()
    s.close()
    assert _open(tmp_path)[1] == (b"snapshot", b"old99", b"new")
    assert not (tmp_path / (LOG_NAME + ".tmp")).exists()


def test_crash_between_tmp_and_rename_keeps_old_log(tmp_path: Path) -> None:
    s, _ = _open(tmp_path)
    s.append([b"a", b"b"])
    s.sync()
    s.close()
    # what a crash after writing the temp file but before the rename leaves behind
    (tmp_path / (LOG_NAME + ".tmp")).write_bytes(encode_frame(b"half-written-snapshot")[:-3])
    s2, rec = Storage.open(tmp_path)
    assert rec.records == (b"a", b"b")
    assert not (tmp_path / (LOG_NAME + ".tmp")).exists()
    s2.close()


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="DATA_DIR"):
        Storage.open(blocker / "data")


def test_empty_record_rejected() -> None:
    with pytest.raises(ValueError):
        encode_frame(b"")


# ---- log truncation after a snapshot (replica_image.compaction) ----

def test_compaction_keeps_what_recovery_needs(tmp_path: Path) -> None:
    import random

    from replica_image.codec import decode_record, encode_record
    from replica_image.compaction import LiveLog
    from replica_image.paxos import (
        AcceptRecord, Ballot, ChosenRecord, Command, CoreConfig, PromiseRecord, Record, Replica, SnapshotRecord,
    )

    def cmd(n: int) -> tuple[Command, ...]:
        return (Command(client_id="c", request_id=n, op="put", key="k", value=str(n)),)

    b11, b22 = Ballot(round=1, node=1), Ballot(round=2, node=2)
    snap = SnapshotRecord(last_slot=0, data="{}")
    records: list[Record] = [
        PromiseRecord(ballot=b11), AcceptRecord(slot=0, ballot=b11, batch=cmd(0)), ChosenRecord(slot=0, batch=cmd(0)),
        AcceptRecord(slot=1, ballot=b11, batch=cmd(1)), PromiseRecord(ballot=b22),
        AcceptRecord(slot=1, ballot=b22, batch=cmd(11)), AcceptRecord(slot=2, ballot=b22, batch=cmd(2)),
        ChosenRecord(slot=1, batch=cmd(11)), snap,
    ]
    live = LiveLog((r, encode_record(r)) for r in records)
    kept = [decode_record(raw) for raw in live.compact(snap)]
    assert kept == [PromiseRecord(ballot=b22), AcceptRecord(slot=1, ballot=b22, batch=cmd(11)),
                    AcceptRecord(slot=2, ballot=b22, batch=cmd(2)), ChosenRecord(slot=1, batch=cmd(11)), snap]
    assert len(live) == 5

    def core(recs: list[Record]) -> Replica:
        return Replica(1, [1, 2, 3], CoreConfig(), random.Random(1), recovered=recs)

    full, compacted = core(records), core(kept)
    assert (compacted.ballot, compacted.first_unchosen) == (full.ballot, full.first_unchosen) == (b22, 2)
    # the file written from the compacted records reads back to the same records
    s, _ = Storage.open(tmp_path)
    s.rewrite([encode_record(r) for r in kept])
    s.close()
    assert [decode_record(r) for r in Storage.open(tmp_path)[1].records] == kept


# ---- recovery (replica_image.app.recover) and the real entry point ----

def _env(data_dir: Path) -> dict[str, str]:
    """The config of a one-node replica; PEER_LISTEN and PEER_SECRET for configs that require them."""
    from tests.replica.procs import free_port

    port = free_port()
    return {"NODE_ID": "1", "PEERS": f"1=http://127.0.0.1:{port}", "LISTEN": f"127.0.0.1:{port}",
            "PEER_LISTEN": f"127.0.0.1:{free_port()}", "PEER_SECRET": "0123456789abcdef0123",
            "DATA_DIR": str(data_dir)}


def _log_with_snapshot(d: Path, data: str) -> None:
    from replica_image.codec import encode_record
    from replica_image.paxos import Ballot, PromiseRecord, SnapshotRecord

    s, _ = _open(d)
    s.append([encode_record(PromiseRecord(ballot=Ballot(round=2, node=1))),
              encode_record(SnapshotRecord(last_slot=7, data=data))])
    s.sync()
    s.close()


@pytest.mark.parametrize("data", ["not json", '{"version": 2}', '{"version":1,"data":{"k":1},"dedup":[]}',
                                  '{"version":1,"data":{},"dedup":[["c",1,"bogus",null]]}', "[" * 100_000],
                         ids=["not-json", "version", "value-type", "status", "deep-nesting"])
def test_snapshot_with_valid_checksum_but_bad_data_refuses_to_start(tmp_path: Path, data: str) -> None:
    from replica_image.app import recover
    from replica_image.config import load_config

    _log_with_snapshot(tmp_path, data)
    with pytest.raises(StorageCorrupt) as info:
        recover(load_config(_env(tmp_path)))
    msg = str(info.value)
    assert str(tmp_path / LOG_NAME) in msg and "record #1" in msg and "slot 7" in msg, msg
    assert "Restore" in msg and "\n" not in msg, msg


def test_good_snapshot_recovers(tmp_path: Path) -> None:
    from replica_image.app import recover
    from replica_image.config import load_config
    from replica_image.kv import KV

    _log_with_snapshot(tmp_path, KV().snapshot())
    restored = recover(load_config(_env(tmp_path)))
    restored.storage.close()
    assert restored.core.snapshot_last == 7


def _run_replica(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from tests.replica.procs import REPO

    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    python = os.environ.get("REPLICA_PYTHON", sys.executable)
    # a replica that wrongly starts serves until the timeout: the test then fails on TimeoutExpired
    return subprocess.run([python, "-m", "replica_image"], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=20, check=False)


@pytest.mark.processes
def test_replica_with_junk_data_file_exits_2_naming_file_and_offset(tmp_path: Path) -> None:
    import random

    _real_log(tmp_path)
    path = tmp_path / LOG_NAME
    path.write_bytes(random.Random(3).randbytes(path.stat().st_size))
    proc = _run_replica(_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and str(path) in proc.stderr and "offset 0" in proc.stderr, proc.stderr


@pytest.mark.processes
def test_replica_with_bad_snapshot_exits_2_naming_the_record(tmp_path: Path) -> None:
    _log_with_snapshot(tmp_path, "not json")
    proc = _run_replica(_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and str(tmp_path / LOG_NAME) in proc.stderr, proc.stderr
    assert "record #1" in proc.stderr and "slot 7" in proc.stderr, proc.stderr
