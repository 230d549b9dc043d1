"""KV results -> HTTP status and JSON body (the client API's answer table, see docs/replica.md).

==============  ==============================  ======  =====================================================
op              kv result                       status  body
==============  ==============================  ======  =====================================================
get             ok                              200     {"value": v, "found": true}
get             absent                          200     {"value": null, "found": false}
put / append    ok                              200     {"value": new value}
delete          ok                              200     {"deleted": true, "value": removed value}
delete          absent                          200     {"deleted": false, "value": null}
cas             ok                              200     {"value": new value}
cas             precondition_failed             409     {"error", "value": current (null: absent), "found"}
any             stale (older request_id)        400     {"error"}: this request was not applied
any             mismatch (request_id reused)    422     {"error"}: not applied; the id was used for another op
==============  ==============================  ======  =====================================================
"""

from __future__ import annotations

from typing import Any

from replica_image.kv import ABSENT, MISMATCH, OK, PRECONDITION_FAILED, STALE, Result
from replica_image.paxos import Command

__all__ = ["render_result"]


def render_result(cmd: Command, result: Result) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body for ``result`` of applying ``cmd`` (see the module table)."""
    if result.status == STALE:
        return 400, {"error": f"stale request_id {cmd.request_id}: client {cmd.client_id!r} already sent a "
                              "newer request; this one was not applied (use a new request_id per request)"}
    if result.status == MISMATCH:
        return 422, {"error": f"request_id {cmd.request_id} of client {cmd.client_id!r} was already used for a "
                              f"different command; this {cmd.op} was not applied (use a new request_id per "
                              "request, and resend a retry unchanged)"}
    if result.status == PRECONDITION_FAILED:
        return 409, {"error": "cas precondition failed", "value": result.value, "found": result.value is not None}
    if cmd.op == "get":
        return 200, {"value": result.value, "found": result.status == OK}
    if cmd.op == "delete":
        return 200, {"deleted": result.status == OK, "value": result.value}
    if result.status == ABSENT:  # not produced by put/append/cas; keep the answer well-formed anyway
        return 200, {"value": None, "found": False}
    return 200, {"value": result.value}
