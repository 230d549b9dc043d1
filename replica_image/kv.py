"""The replicated state machine: a string key-value map with exactly-once client requests.

Ops: get, put, append, delete, cas. Every replica applies the same chosen commands in the same order,
so every replica computes the same results; the one that holds the client's connection replies.

Exactly-once: a client is sequential (one outstanding request), so the table keeps, per client, the
last request id, a fingerprint of its command and its result. A retried request (same id, same
command) is not applied again and returns the first result; the same id with a different command is
refused (`MISMATCH`, not applied: answering it with the first command's result would be an answer to a
question it did not ask); an older id is stale (the client already moved on) and is not applied. The table is
bounded (`dedup_clients_max`, least recently active client evicted first): a client silent for that
many other clients' requests loses its protection, which is the documented price of the bound.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from replica_image.errors import InvalidMessage
from replica_image.paxos.messages import Command

__all__ = ["Result", "OK", "ABSENT", "PRECONDITION_FAILED", "STALE", "MISMATCH", "KV", "validate_snapshot"]

OK: Final = "ok"
ABSENT: Final = "absent"                     # get / delete of a key that is not there
PRECONDITION_FAILED: Final = "precondition_failed"  # cas: `value` is the current value (None: absent)
STALE: Final = "stale"                       # an older request id than the client's last: not applied
MISMATCH: Final = "mismatch"                 # the client's last request id, reused for another command
_STATUSES: Final = frozenset({OK, ABSENT, PRECONDITION_FAILED, STALE, MISMATCH})
_SNAPSHOT_VERSION: Final = 2


def fingerprint(cmd: Command) -> str:
    """What a retry must repeat to be the same request: op, key, value and expect, hashed (16 hex
    characters per client in the table, whatever the value's size). Length-prefixed, so no two commands
    share the text; surrogatepass, because a peer's command is only as clean as its JSON. About 2 us."""
    value = "-" if cmd.value is None else f"{len(cmd.value)}:{cmd.value}"
    expect = "-" if cmd.expect is None else f"{len(cmd.expect)}:{cmd.expect}"
    text = f"{cmd.op}\0{len(cmd.key)}:{cmd.key}\0{value}\0{expect}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The outcome of one command. `value`: get -> the value; put/append -> the new value;
    delete -> the removed value; cas -> the new value, or on precondition failure the current one."""

    status: str
    value: str | None = None

    def __post_init__(self) -> None:
        if self.status not in _STATUSES:
            raise InvalidMessage(f"Result.status must be one of {sorted(_STATUSES)}, got {self.status!r}")
        if self.value is not None and not isinstance(self.value, str):
            raise InvalidMessage(f"Result.value must be a string or null, got {type(self.value).__name__}")


class KV:
    """Deterministic key-value state machine with a bounded dedup table.

    Args:
        dedup_clients_max: clients remembered for exactly-once; must be equal on every replica.
        no_dedup: bug no-dedup (replica_image.bugs): a retried request is executed again.
    """

    def __init__(self, *, dedup_clients_max: int = 100_000, no_dedup: bool = False) -> None:
        if type(dedup_clients_max) is not int or dedup_clients_max < 1:
            raise ValueError(f"dedup_clients_max must be an int >= 1, got {dedup_clients_max!r}")
        self._max = dedup_clients_max
        self._no_dedup = no_dedup
        self._data: dict[str, str] = {}
        self._dedup: OrderedDict[str, tuple[int, str, Result]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def read(self, key: str) -> str | None:
        """The local value of `key` (not linearizable: for tests and status only)."""
        return self._data.get(key)

    def last_result(self, client_id: str, request_id: int) -> Result | None:
        """The remembered result of exactly this request, if it was applied and is still remembered."""
        entry = self._dedup.get(client_id)
        if entry is None or entry[0] != request_id:
            return None
        return entry[2]

    def apply(self, cmd: Command) -> Result:
        """Apply `cmd` once per (client_id, request_id) and return its (first) result."""
        seen = None if self._no_dedup else self._dedup.get(cmd.client_id)
        fp = fingerprint(cmd)
        if seen is not None:
            if cmd.request_id == seen[0]:
                self._dedup.move_to_end(cmd.client_id)
                return seen[2] if fp == seen[1] else Result(status=MISMATCH)
            if cmd.request_id < seen[0]:
                return Result(status=STALE)
        result = self._execute(cmd)
        self._dedup[cmd.client_id] = (cmd.request_id, fp, result)
        self._dedup.move_to_end(cmd.client_id)
        while len(self._dedup) > self._max:
            self._dedup.popitem(last=False)
        return result

    def get(self, key: str) -> Result:
        """What a get of `key` returns in the current local state (no dedup, nothing recorded)."""
        cur = self._data.get(key)
        return Result(status=OK, value=cur) if cur is not None else Result(status=ABSENT)

    def apply_batch(self, batch: Iterable[Command]) -> list[tuple[Command, Result]]:
        """Apply a chosen slot's commands in order; the no-op (empty batch) changes nothing."""
        return [(cmd, self.apply(cmd)) for cmd in batch]

    def _execute(self, cmd: Command) -> Result:
        data, key = self._data, cmd.key
        cur = data.get(key)
        if cmd.op == "get":
            return self.get(key)
        if cmd.op == "put":
            assert cmd.value is not None  # Command validation guarantees it
            data[key] = cmd.value
            return Result(status=OK, value=cmd.value)
        if cmd.op == "append":
            assert cmd.value is not None
            data[key] = (cur or "") + cmd.value
            return Result(status=OK, value=data[key])
        if cmd.op == "delete":
            if cur is None:
                return Result(status=ABSENT)
            del data[key]
            return Result(status=OK, value=cur)
        # cas: expect None means "the key must be absent"
        if cur != cmd.expect:
            return Result(status=PRECONDITION_FAILED, value=cur)
        assert cmd.value is not None
        data[key] = cmd.value
        return Result(status=OK, value=cmd.value)

    # ------------------------------------------------------------------ snapshots
    def _state(self) -> dict[str, Any]:
        return {
            "version": _SNAPSHOT_VERSION,
            "data": self._data,
            "dedup": [[c, rid, fp, r.status, r.value] for c, (rid, fp, r) in self._dedup.items()],
        }

    def snapshot(self) -> str:
        """The whole state (values and dedup table, in eviction order) as a JSON string."""
        return json.dumps(self._state(), separators=(",", ":"), sort_keys=True)

    def restore(self, data: str) -> None:
        """Replace the state by a `snapshot()` string.

        Raises:
            InvalidMessage: `data` is not a snapshot of this version (names the field); state unchanged.
        """
        values, dedup = _parse_snapshot(data)
        self._data = values
        self._dedup = dedup
        while len(self._dedup) > self._max:
            self._dedup.popitem(last=False)

    def digest(self) -> str:
        """A stable hash of values + dedup table: equal on replicas that applied the same commands."""
        state = self._state()
        state["dedup"] = sorted(state["dedup"], key=lambda row: row[0])
        blob = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def validate_snapshot(data: str) -> None:
    """Check that ``data`` is a snapshot this KV can restore, without restoring it.

    Raises:
        InvalidMessage: what is wrong, with the field.
    """
    _parse_snapshot(data)


def _parse_snapshot(data: str) -> tuple[dict[str, str], OrderedDict[str, tuple[int, str, Result]]]:
    try:
        obj = json.loads(data)
    except RecursionError:
        raise InvalidMessage("snapshot: nested too deeply to be a snapshot") from None
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"snapshot: not JSON ({str(exc)[:200]})") from None
    if not isinstance(obj, dict) or obj.get("version") != _SNAPSHOT_VERSION:
        raise InvalidMessage(f"snapshot.version: expected {_SNAPSHOT_VERSION}")
    values = obj.get("data")
    if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise InvalidMessage("snapshot.data: expected an object of string -> string")
    rows = obj.get("dedup")
    if not isinstance(rows, list):
        raise InvalidMessage("snapshot.dedup: expected a list of [client_id, request_id, fingerprint, status, value]")
    dedup: OrderedDict[str, tuple[int, str, Result]] = OrderedDict()
    for i, row in enumerate(rows):
        if (not isinstance(row, list) or len(row) != 5 or not isinstance(row[0], str)
                or type(row[1]) is not int or not 0 <= row[1] < 2**63 or not isinstance(row[2], str)
                or not isinstance(row[3], str)):
            raise InvalidMessage(f"snapshot.dedup[{i}]: expected [client_id, request_id, fingerprint, status, value]")
        try:
            dedup[row[0]] = (row[1], row[2], Result(status=row[3], value=row[4]))
        except InvalidMessage as exc:
            raise InvalidMessage(f"snapshot.dedup[{i}]: {exc}") from None
    return dict(values), dedup
