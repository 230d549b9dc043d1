"""One run's seed and bugs (harness.scenario.resolve_run): the CLI's --seed and --bugs override the file's
`seed` and `cluster.bugs`; an option given is an override even when falsy (--seed 0, --bugs '')."""

from __future__ import annotations

import dataclasses

import pytest

from harness.scenario import RunParams, parse_scenario, resolve_run
from harness.sim.scenario_run import run_in_sim

FILE = ("description: t\nseed: 7\ncluster: {size: 3, bugs: [local-reads, small-quorum]}\n"
        "workload: {duration: 1s, concurrency: 2, keys: 2}\nchecks: {recovery: 1s}\nfaults:\n")


def test_no_option_runs_the_files_seed_and_bugs() -> None:
    s = parse_scenario(FILE)
    assert resolve_run(s, seed=None, bugs=None) == RunParams(seed=7, bugs=("local-reads", "small-quorum"))


def test_seed_zero_is_an_override_not_none() -> None:
    assert resolve_run(parse_scenario(FILE), seed=0, bugs=None) == RunParams(
        seed=0, bugs=("local-reads", "small-quorum"))


def test_bugs_replace_the_files_in_the_order_given_and_empty_clears_them() -> None:
    s = parse_scenario(FILE)
    assert resolve_run(s, seed=None, bugs=("no-dedup", "local-reads")).bugs == ("no-dedup", "local-reads")
    assert resolve_run(s, seed=3, bugs=()) == RunParams(seed=3, bugs=())  # --bugs '': no bug at all


def test_run_params_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolve_run(parse_scenario(FILE), seed=None, bugs=None).seed = 1  # type: ignore[misc]


def test_the_simulator_runs_what_the_rule_says() -> None:
    s = parse_scenario(FILE)
    cleared = run_in_sim(s, seed=0, bugs=(), check_history=False)
    assert cleared.seed == 0 and cleared.result.config.seed == 0 and cleared.result.config.bugs == frozenset()
    own = run_in_sim(s, check_history=False)
    assert own.seed == 7 and own.result.config.bugs == frozenset({"local-reads", "small-quorum"})
