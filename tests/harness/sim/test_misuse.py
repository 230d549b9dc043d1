"""The host API's refusals (`harness.sim.misuse`): a correct core refuses every probe and changes
nothing; a core that takes one, or refuses it with another error, is named, and fails a run."""

from __future__ import annotations

import random

import pytest

from harness.sim.forge import observe
from harness.sim.misuse import misuse_problem
from targets.paxos.core import Command, CoreConfig, Replica
from tests.harness.sim.runs import planted, quiet


def _leader() -> Replica:
    """A leader of a one-replica cluster with a few slots applied (so every probe applies)."""
    core = Replica(1, [1], CoreConfig(election_timeout_ticks=2, heartbeat_ticks=1), random.Random(0))
    for _ in range(4):
        core.tick()
    for n in range(3):
        core.propose(Command(client_id="c", request_id=n + 1, op="put", key="k", value=str(n)))
        core.advance(core.ready())
    assert core.applied_index >= 1
    return core


def test_a_correct_core_refuses_every_probe_and_changes_nothing() -> None:
    core = _leader()
    before = observe(core, ())
    assert misuse_problem(core) is None
    assert observe(core, ()) == before
    assert misuse_problem(Replica(2, [1, 2, 3], CoreConfig(), random.Random(0))) is None  # a fresh follower


def test_a_core_that_takes_a_snapshot_past_its_applied_index_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    core = _leader()
    real = Replica.snapshot_taken

    def loose(self: Replica, last_slot: int, data: str) -> None:  # the mistake: the upper bound is gone
        if last_slot <= self.snapshot_last:
            real(self, last_slot, data)

    monkeypatch.setattr(Replica, "snapshot_taken", loose)
    problem = misuse_problem(core) or ""
    assert problem.startswith(f"snapshot_taken({core.applied_index + 1}) past the applied index")
    assert problem.endswith("was taken; the core must refuse it with MisuseError")


def test_a_refusal_with_another_error_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    core, real = _leader(), Replica.propose

    def propose(self: Replica, cmd: Command) -> object:
        if not isinstance(cmd, Command):
            raise TypeError("not a Command")  # what the host would take for a bug of the core
        return real(self, cmd)

    monkeypatch.setattr(Replica, "propose", propose)
    assert misuse_problem(core) == "propose() of a tuple, not a Command raised TypeError (not a Command), not MisuseError"


def test_the_simulator_probes_every_running_core(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Replica.__init__

    def init(self: Replica, node_id: int, nodes: list[int], *args: object, **kw: object) -> None:
        real(self, node_id, [n for n in nodes if n != 0] or nodes, *args, **kw)  # type: ignore[arg-type]  # the mistake: a 0 id dropped

    from harness.sim.nemesis import Fault
    cfg = quiet(0, faults=(Fault(kind="isolate", at_us=500_000, for_us=100_000, target="follower"),))
    r = planted(cfg, monkeypatch, Replica, "__init__", init)
    assert r.error is not None and "Replica(" in r.error and "was taken; the core must refuse it" in r.error
