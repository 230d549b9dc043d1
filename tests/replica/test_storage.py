"""Storage: round trip, group commit, torn tail cut, corrupt middle refused, atomic rewrite."""

from __future__ import annotations

import logging
import os
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


@pytest.mark.parametrize("cut", [1, 3, 8, 9, 14])
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


def test_garbage_and_zeros_at_tail_are_cut(tmp_path: Path) -> None:
    s, _ = _open(tmp_path)
    s.append([b"keep"])
    s.sync()
    s.close()
    with open(tmp_path / LOG_NAME, "ab") as f:
        f.write(b"\x00" * 4096)
    assert _open(tmp_path)[1] == (b"keep",)
    with open(tmp_path / LOG_NAME, "ab") as f:
        f.write(b"\xff\x00\x00\x10garbage")
    assert _open(tmp_path)[1] == (b"keep",)


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
