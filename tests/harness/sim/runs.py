"""Quiet simulator runs for tests that plant one mistake in the core and look for the check that sees it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.sim import NetFaults, SimConfig, SimResult, simulate


def quiet(seed: int, **kw: Any) -> SimConfig:
    """Three replicas, a clean network, no crash points and no faults but those given: what a test
    plants shows alone."""
    fields: dict[str, Any] = {"faults": (), "crash_on_promise": 0.0, "crash_on_accept": 0.0, **kw}
    fields.setdefault("net", NetFaults())
    return SimConfig(seed=seed, size=3, **fields)


def planted(cfg: SimConfig, monkeypatch: pytest.MonkeyPatch, owner: object, name: str, fake: object) -> SimResult:
    """`cfg` passes every check on the correct core; then the same run with `owner.name` replaced by `fake`."""
    assert not simulate(cfg, check_history=False).failed
    monkeypatch.setattr(owner, name, fake)
    return simulate(cfg, check_history=False)
