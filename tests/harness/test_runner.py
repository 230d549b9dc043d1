"""The runner's pure checks: replicas at the same applied index must hold the same state."""

from __future__ import annotations

from harness.runner import divergence


def test_replicas_at_the_same_index_with_different_states_have_diverged() -> None:
    # what reused-ballot produced in a Docker run: five replicas at 2054, two different digests
    seen = [(1, 2054, "fe0a"), (2, 2054, "d617"), (3, 2054, "d617"), (4, 2054, "fe0a"), (5, 2054, "fe0a")]
    assert divergence(seen) == "replicas that applied slots 0..2054 hold different states: n1 fe0a, n2 d617"


def test_replicas_behind_or_ahead_are_not_a_divergence_and_the_first_index_is_named() -> None:
    converging = [(1, 10, "a"), (2, 12, "b"), (3, 10, "a"), (2, 13, "c"), (1, 12, "b")]
    assert divergence(converging) is None  # different indexes may hold different states
    first = divergence([(1, 7, "x"), (2, 7, "y"), (1, 5, "p"), (3, 5, "q")])
    assert first is not None and "slots 0..5" in first


def test_missing_or_malformed_status_fields_are_ignored() -> None:
    assert divergence([(1, None, "a"), (2, 3, None), (3, True, "b"), (4, 3, "c"), (5, -1, "d")]) is None


def test_a_target_without_a_state_probe_gets_not_available_never_a_pass() -> None:
    from harness.junit import NOT_AVAILABLE, to_junit_xml
    from harness.runner import RunOutcome, _cases, _Liveness

    live = _Liveness(1, False, "leader n1; convergence not available: target x has no state probe")
    cases = _cases(None, live, None, {"k0": "v"}, 1, state_probe=False)
    outcomes = {c.name: c.outcome for c in cases}
    assert outcomes["agreement: same slots applied, same state"] == NOT_AVAILABLE
    assert outcomes["liveness: leader and convergence after heal"] == NOT_AVAILABLE
    assert outcomes["final reads"] == "pass"
    xml = to_junit_xml(suite="s", cases=cases, time_s=1.0)
    assert xml.count("<skipped") == 2 and 'skipped="2"' in xml
    from pathlib import Path

    assert RunOutcome(scenario="s", run_dir=Path("."), cases=tuple(cases), verdict=None, ops=0).exit_code == 0
    # with a probe, the same non-converged liveness is a failure, not "not available"
    assert {c.name: c.outcome for c in _cases(None, live, None, {}, 0)}[
        "liveness: leader and convergence after heal"] == "fail"
