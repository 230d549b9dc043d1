"""Storage fuzz: a torn write is cut to exactly the complete frames; any other damage never loses a record.

The invariant is "never a silent start on less than was fsynced": every log here is fully synced, so
after damage that is not a truncation ``Storage.open`` must return ALL the records or raise
``StorageCorrupt``. Runs FUZZ_EXAMPLES examples per property (default 200); a longer fuzz:
``FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/replica/test_storage_fuzz.py -p no:cacheprovider``
(add ``--hypothesis-seed=N`` to replay a run).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from replica_image.storage import HEADER, LOG_NAME, Storage, StorageCorrupt, encode_frame

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
fuzz = settings(max_examples=EXAMPLES, deadline=None)

payloads = st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=25)
# how the records are grouped into appends (one write each), each followed by a sync
batch_sizes = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=25)


def _write_log(d: Path, records: list[bytes], batches: list[int]) -> bytes:
    # fsync=False: the bytes on disk are the same, and the fuzz stays fast
    s, rec = Storage.open(d, fsync=False)
    assert rec.records == ()
    start, i = 0, 0
    while start < len(records):
        n = batches[i % len(batches)]
        s.append(records[start : start + n])
        s.sync()
        start, i = start + n, i + 1
    s.close()
    return (d / LOG_NAME).read_bytes()


def _open_records(d: Path) -> tuple[bytes, ...]:
    s, rec = Storage.open(d, fsync=False)
    s.close()
    return rec.records


@fuzz
@given(records=payloads, batches=batch_sizes, data=st.data())
def test_truncation_keeps_exactly_the_complete_frames(records: list[bytes], batches: list[int],
                                                      data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        log = _write_log(d, records, batches)
        cut = data.draw(st.integers(min_value=0, max_value=len(log)), label="cut")
        os.truncate(d / LOG_NAME, cut)
        ends, end = [], 0
        for r in records:
            end += len(encode_frame(r))
            ends.append(end)
        complete = [r for r, e in zip(records, ends) if e <= cut]
        assert list(_open_records(d)) == complete
        # the cut was made durable: the file now holds exactly the complete frames
        assert (d / LOG_NAME).read_bytes() == log[: sum(len(encode_frame(r)) for r in complete)]


def _flip(data: st.DataObject, log: bytes) -> bytes:
    out = bytearray(log)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="flips")):
        i = data.draw(st.integers(min_value=0, max_value=len(out) - 1), label="flip at")
        out[i] ^= data.draw(st.integers(min_value=1, max_value=255), label="xor")
    return bytes(out)


def _replace(data: st.DataObject, log: bytes) -> bytes:
    out = bytearray(log)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8), label="replacements")):
        i = data.draw(st.integers(min_value=0, max_value=len(out) - 1), label="replace at")
        out[i] = data.draw(st.integers(min_value=0, max_value=255), label="byte")  # may equal the old byte
    return bytes(out)


def _zero_range(data: st.DataObject, log: bytes) -> bytes:
    a = data.draw(st.integers(min_value=0, max_value=len(log) - 1), label="zero from")
    b = data.draw(st.integers(min_value=a + 1, max_value=len(log)), label="zero to")
    return log[:a] + bytes(b - a) + log[b:]


def _junk(data: st.DataObject, log: bytes) -> bytes:
    # At least a length and its check: fewer bytes are indistinguishable from a torn first write.
    return data.draw(st.binary(min_size=8, max_size=2 * len(log) + 8), label="junk")


def _insert(data: st.DataObject, log: bytes) -> bytes:
    i = data.draw(st.integers(min_value=0, max_value=len(log) - 1), label="insert at")  # not at the end
    return log[:i] + data.draw(st.binary(min_size=1, max_size=2 * HEADER.size), label="inserted") + log[i:]


CORRUPTIONS: dict[str, Callable[[st.DataObject, bytes], bytes]] = {
    "flip": _flip, "replace": _replace, "zero": _zero_range, "junk": _junk, "insert": _insert,
}


@fuzz
@given(records=payloads, batches=batch_sizes, kind=st.sampled_from(sorted(CORRUPTIONS)), data=st.data())
def test_damage_never_loses_a_synced_record(records: list[bytes], batches: list[int], kind: str,
                                            data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        log = _write_log(d, records, batches)
        damaged = CORRUPTIONS[kind](data, log)
        (d / LOG_NAME).write_bytes(damaged)
        try:
            got = _open_records(d)
        except StorageCorrupt:
            assert (d / LOG_NAME).read_bytes() == damaged  # refusing leaves the evidence in place
            return
        assert list(got) == records
