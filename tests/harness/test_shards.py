"""Sharding a suite: the pure rule (`harness.shards`), `list --shards N` (the CI matrix) and
`run --shard K/N` (what one matrix job runs), which must agree slice for slice."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import harness.cluster
import harness.run_command
from harness.cli import main
from harness.runner import RunOptions
from harness.scenario import Scenario, load_scenario, scenario_files
from harness.scenario.worlds import docker_refusal
from harness.shards import MAX_SHARDS, Shard, parse_shard, split
from targets.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "scenarios"
# the shipped scenarios the Docker runner runs (those with a simulator-only fault are left out)
DOCKER = [p.stem for p in scenario_files(SUITE) if docker_refusal(load_scenario(p)) is None]


def test_names_are_sorted_then_dealt_round_robin() -> None:
    names = ["e", "a", "d", "b", "c"]
    assert split(names, names, 2) == [["a", "c", "e"], ["b", "d"]]
    assert split(names, names, 5) == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert split(names, names, 7)[5:] == [[], []]  # more slices than names: the last ones are empty


@given(st.lists(st.text(min_size=1, max_size=8), max_size=40, unique=True), st.integers(1, 12),
       st.randoms(use_true_random=False))
def test_every_name_lands_in_exactly_one_slice_whatever_the_order(names: list[str], count: int,
                                                                  rng: random.Random) -> None:
    slices = split(names, names, count)
    shuffled = list(names)
    rng.shuffle(shuffled)
    assert split(shuffled, shuffled, count) == slices  # the order the files were found in does not matter
    dealt = [n for part in slices for n in part]
    assert sorted(dealt) == sorted(names) and len(dealt) == len(set(dealt))
    sizes = [len(part) for part in slices]
    assert max(sizes) - min(sizes) <= 1  # balanced by count


@pytest.mark.parametrize(("text", "shard"), [("1/1", Shard(index=1, count=1)), (" 3/4 ", Shard(index=3, count=4))])
def test_shard_parses_k_of_n(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert str(shard) == text.strip()


@pytest.mark.parametrize("text", ["0/4", "5/4", "4", "1/0", "a/b", "1/4/2", "-1/4", f"1/{MAX_SHARDS + 1}", "1/" + "9" * 99])
def test_a_bad_shard_is_a_usage_error_with_an_example(text: str) -> None:
    with pytest.raises(UsageError, match="--shard 2/4"):
        parse_shard(text)


def _matrix(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, str]]:
    assert main(["list", *argv]) == 0
    include = json.loads(capsys.readouterr().out)["include"]
    assert isinstance(include, list)
    return include


def _capture(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """`run` without Docker: the names of the scenarios each call would have run."""
    seen: list[list[str]] = []

    async def run_all(scenarios: list[Scenario], opts: RunOptions) -> list[object]:
        seen.append([s.name for s in scenarios])
        return []

    monkeypatch.setattr(harness.cluster, "connect", lambda: None)
    monkeypatch.setattr(harness.run_command, "_run_all", run_all)
    return seen


@pytest.mark.parametrize("count", [1, 3, 4, 16])
def test_the_matrix_and_run_shard_run_every_shipped_scenario_exactly_once(
        count: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    include = _matrix(capsys, str(SUITE), "--shards", str(count))
    assert [job["shard"] for job in include] == [f"{k}/{count}" for k in range(1, len(include) + 1)]
    seen = _capture(monkeypatch)
    for job in include:
        assert main(["run", "--suite", str(SUITE), "--shard", job["shard"]]) == 0
    assert [job["scenarios"].split() for job in include] == seen  # the job runs what the matrix promised
    ran = [name for names in seen for name in names]
    assert sorted(ran) == sorted(DOCKER)  # each once, none missed


def test_sixteen_scenarios_over_twenty_shards_leave_out_the_empty_ones(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    count = len(DOCKER) + 4  # more shards than scenarios, however many are shipped
    include = _matrix(capsys, str(SUITE), "--shards", str(count))
    assert len(include) == len(DOCKER) and include[-1]["shard"] == f"{len(include)}/{count}"
    seen = _capture(monkeypatch)
    assert main(["run", "--suite", str(SUITE), "--shard", f"{count}/{count}"]) == 0  # an empty slice passes, says so
    assert seen == [] and "(none: fewer scenarios than shards)" in capsys.readouterr().out


def test_the_matrix_shards_only_the_scenarios_that_apply_to_the_target(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    include = _matrix(capsys, str(SUITE), "--shards", "2", "--target", "etcd")
    assert {job["target"] for job in include} == {"etcd"}  # matrices of several targets concatenate
    assert {job["target"] for job in _matrix(capsys, str(SUITE), "--shards", "2")} == {""}  # each file's own
    listed = [name for job in include for name in job["scenarios"].split()]
    assert main(["list", str(SUITE), "--target", "etcd", "--json"]) == 0
    applies = [e["name"] for e in json.loads(capsys.readouterr().out) if e["applies"]]
    assert sorted(listed) == sorted(applies) and len(applies) < len(scenario_files(SUITE))
    seen = _capture(monkeypatch)
    assert main(["run", "--suite", str(SUITE), "--target", "etcd", "--shard", "2/2"]) == 0
    assert seen == [include[1]["scenarios"].split()]


def test_list_json_has_one_object_per_file_and_flags_an_invalid_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text("description: fine\nworkload: {duration: 10s}\ncluster: {size: 5}\n")
    (tmp_path / "bad.yaml").write_text("description: d\nworkload: {duration: 10 sec}\n")
    assert main(["list", str(tmp_path), "--json"]) == 2
    bad, good = json.loads(capsys.readouterr().out)
    assert good == {"name": "good", "file": str(tmp_path / "good.yaml"), "target": "paxos", "size": 5,
                    "duration_s": 10.0, "faults": 0, "description": "fine", "applies": True, "why": None}
    assert bad["file"].endswith("bad.yaml") and "is not a duration" in bad["error"]


def test_an_invalid_scenario_prints_no_matrix_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text("description: fine\nworkload: {duration: 10s}\n")
    (tmp_path / "bad.yaml").write_text("description: d\nworkload: {duration: 10 sec}\n")
    assert main(["list", str(tmp_path), "--shards", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "bad.yaml:2 workload.duration" in err  # a half matrix would skip scenarios silently
