"""The host API's refusals: a core called the way a buggy host would call it says so and changes nothing.

The replica's host loop never misuses the core, so no run would show a core that stopped refusing a
snapshot past its applied index, or a command that is not a `Command`: it would only matter the day a
host changed. These are the documented refusals of `Replica` (its docstrings' `Raises: MisuseError`),
probed at the same instants as /status (each fault, and the end), on each running core between two
inputs:
- `snapshot_taken` at or below the last snapshot, past the applied index, or with a slot that is
  not an int (a float or a bool of a slot it could take), every slot a new int object;
- `propose` of something that is not a `Command`;
- `advance` of a Ready that `ready()` did not return;
- a `Replica` built with node ids that are not distinct ints >= 1, or without its own id.

Each must raise `MisuseError` (not another error, which the host would take for a core bug) and leave
the core's observable state as it was (`harness.sim.forge.observe`, the rule of a refused forged
message too).

Pure: a core in, the text of the first broken refusal (or None) out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from harness.sim.forge import observe
from targets.paxos.core import MisuseError, Ready, Replica

__all__ = ["misuse_problem"]


def _fresh(n: int) -> int:
    """`n` as a new int object, as a host computing it (or decoding it) would pass it: a refusal must
    compare values, not identities (CPython shares only the ints -5..256)."""
    return int(str(n))


def _probes(core: Replica) -> Iterator[tuple[str, Callable[[], object]]]:
    last, applied = core.snapshot_last, core.applied_index
    yield f"snapshot_taken({last}) at the last snapshot", lambda: core.snapshot_taken(_fresh(last), "{}")
    if last >= 1:
        yield f"snapshot_taken({last - 1}) below the last snapshot", lambda: core.snapshot_taken(_fresh(last - 1), "{}")
    yield f"snapshot_taken({applied + 1}) past the applied index {applied}", lambda: core.snapshot_taken(applied + 1, "{}")
    if last < applied:  # a slot it could take, but not as an int
        yield f"snapshot_taken({float(applied)!r}), a float", lambda: core.snapshot_taken(float(applied), "{}")  # type: ignore[arg-type]
        if last < 1 <= applied:
            yield "snapshot_taken(True), a bool", lambda: core.snapshot_taken(True, "{}")
    yield "propose() of a tuple, not a Command", lambda: core.propose(("put", "k", "v"))  # type: ignore[arg-type]
    stray = Ready(persist=(), messages=(), committed=(), snapshot=None, must_sync=False)
    yield "advance() of a Ready that ready() did not return", lambda: core.advance(stray)
    peers = [n for n in core.nodes if n != core.node_id]
    for nodes in ([0, *core.nodes], [*core.nodes, core.node_id], [float(n) for n in core.nodes], peers or [core.node_id + 1]):
        yield (f"Replica({core.node_id}, {nodes})",
               lambda nodes=nodes: Replica(core.node_id, nodes, core.config, random.Random(0)))  # type: ignore[misc]


def misuse_problem(core: Replica) -> str | None:
    """The first documented refusal `core` does not make as documented, or None. Call it between two
    inputs (no Ready outstanding): `advance` of a stray Ready is refused then as it is mid-round."""
    before = observe(core, ())
    for what, call in _probes(core):
        try:
            call()
        except MisuseError:
            pass
        except Exception as exc:  # the host treats anything else as a bug of the core and stops
            return f"{what} raised {type(exc).__name__} ({exc}), not MisuseError"
        else:
            return f"{what} was taken; the core must refuse it with MisuseError"
        if observe(core, ()) != before:
            return f"{what} was refused but changed the core: {before} -> {observe(core, ())}"
    return None
