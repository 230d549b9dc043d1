"""Bad input never crashes the CLI or the scenario loader, and bug names mean the same everywhere.

Regression tests, each failing on the code before the fix: one parser of bug names
(`replica_image.bugs.parse_bugs`) behind `BUGS=`, `--bugs` (run, sim, detect), `cluster.bugs` and
`SimConfig`; integers beyond Python's 4,300-digit conversion limit, YAML nested thousands deep,
aliases that expand to millions of values, values PyYAML's constructor raises on: each is one clear
`file:line field: what, how to fix` problem and exit 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import harness.cluster
import harness.run_command
from harness.cli import main
from harness.runner import RunOptions
from harness.scenario import MAX_PROBLEMS, parse_scenario
from harness.sim import SimConfig
from harness.sim.sweep import parse_bugs as parse_bugs_option
from replica_image.bugs import KNOWN_BUGS, UnknownBug, parse_bugs
from replica_image.config import ConfigError
from replica_image.config import _bugs as replica_bugs  # BUGS= alone: the rest of the env is another test's
from targets.errors import InfraError, ScenarioError, UsageError

SRC = "scenarios/x.yaml"
HEAD = "description: d\nworkload: {duration: 5s}\n"  # lines 1-2
BIG = "1" * 5000  # more digits than int() converts (4,300)


def _problems(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source=SRC)
    message = str(info.value)
    assert all(line.startswith(SRC) for line in message.splitlines()), message
    return message


# -- task 1: one parser of bug names ----------------------------------------------------------------

def test_an_unknown_bug_in_a_scenario_is_a_validation_error_at_its_line() -> None:
    message = _problems(HEAD + "cluster:\n  bugs: [local-reads, no-such-bug]\n")
    assert message.startswith(f"{SRC}:4 cluster.bugs[1]: unknown bug 'no-such-bug'; known: accept-below-promise")
    assert "\n" not in message


def test_scenario_bugs_are_read_by_the_one_parser() -> None:
    s = parse_scenario(HEAD + "cluster: {bugs: [no-dedup, local-reads, no-dedup]}\n", source=SRC)
    assert s.cluster.bugs == ("no-dedup", "local-reads")


@pytest.mark.parametrize("names", ["local-reads", "no-dedup,small-quorum", " local-reads , no-dedup ",
                                   "no-such-bug", "Local-Reads", "local_reads", "local-reads,nope"])
def test_every_place_accepts_exactly_the_same_bug_names(names: str) -> None:
    def accepted(read: Callable[[], object]) -> bool:
        try:
            read()
            return True
        except (UnknownBug, UsageError, ConfigError, ValueError):
            return False

    items = [n.strip() for n in names.split(",")]
    yaml_list = "[" + ", ".join(items) + "]"
    verdicts = {
        "parse_bugs": accepted(lambda: parse_bugs(names)),
        "BUGS=": accepted(lambda: replica_bugs(names, KNOWN_BUGS)),
        "--bugs": accepted(lambda: parse_bugs_option(names)),
        "cluster.bugs": accepted(lambda: parse_scenario(HEAD + f"cluster: {{bugs: {yaml_list}}}\n", source=SRC)),
        "SimConfig": accepted(lambda: SimConfig(bugs=frozenset(items))),
    }
    assert len(set(verdicts.values())) == 1, verdicts


def test_replica_bugs_env_keeps_its_one_line_message_naming_bugs() -> None:
    with pytest.raises(ConfigError) as info:
        replica_bugs("local-reads,nope", KNOWN_BUGS)
    assert str(info.value).startswith("BUGS contains unknown bug 'nope'; known: ")
    assert "\n" not in str(info.value)
    assert replica_bugs(" local-reads, local-reads ,", KNOWN_BUGS) == {"local-reads"}


def test_sim_config_reads_bug_names_as_bugs_does() -> None:
    assert SimConfig(bugs=frozenset({" no-dedup", ""})).bugs == {"no-dedup"}
    with pytest.raises(ValueError, match="SimConfig.bugs: unknown bug 'nope'; known: "):
        SimConfig(bugs=frozenset({"nope", "no-dedup"}))


def _scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD)
    return path


def test_run_bugs_is_checked_before_docker_is_touched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def connect() -> None:
        raise InfraError("connect() called: Docker would have been touched")

    monkeypatch.setattr(harness.cluster, "connect", connect)
    assert main(["run", str(_scenario_file(tmp_path)), "--bugs", "local-reads,nope"]) == 2
    err = capsys.readouterr().err
    assert "--bugs 'local-reads,nope': unknown bug 'nope'" in err and "Docker would" not in err


def _capture_runs(monkeypatch: pytest.MonkeyPatch) -> list[RunOptions]:
    """`run` without Docker: the options each run would have got, in order."""
    seen: list[RunOptions] = []

    async def run_all(scenarios: object, opts: RunOptions) -> list[object]:
        seen.append(opts)
        return []

    monkeypatch.setattr(harness.cluster, "connect", lambda: None)
    monkeypatch.setattr(harness.run_command, "_run_all", run_all)
    return seen


def test_run_bugs_are_parsed_by_the_one_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_runs(monkeypatch)
    assert main(["run", str(_scenario_file(tmp_path)), "--bugs", " no-dedup ,no-dedup,,local-reads"]) == 0
    assert seen[0].bugs == ("no-dedup", "local-reads")


# -- task 2: bad input gives a clear error, exit 2, never a traceback --------------------------------

def test_a_5000_digit_seed_is_out_of_range_and_says_the_range() -> None:
    message = _problems(HEAD + f"seed: {BIG}\n")
    assert message.startswith(f"{SRC}:3 seed: 111111111111...1111 (5000 characters) is out of range, a seed "
                              "is an integer from 0 to 2^63-1 (9223372036854775807)")
    assert len(message) < 300


@pytest.mark.parametrize("value, words", [("-1", "-1 is out of range"), ("9223372036854775808", "out of range"),
                                          ("1.5", "1.5 is not an integer"), ("0x" + "f" * 5000, "out of range")])
def test_seed_bounds(value: str, words: str) -> None:
    message = _problems(HEAD + f"seed: {value}\n")
    assert words in message and "2^63-1" in message


@pytest.mark.parametrize("text, where", [
    ("description: d\nworkload: {duration: 5s, concurrency: BIG}\n", f"{SRC}:2 workload.concurrency:"),
    ("description: d\nworkload: {duration: 5s, keys: BIG}\n", f"{SRC}:2 workload.keys:"),
    ("description: d\nworkload: {duration: 5s, attempts: BIG}\n", f"{SRC}:2 workload.attempts:"),
    ("description: d\nworkload: {duration: 5s, rate: BIG}\n", f"{SRC}:2 workload.rate:"),
    ("description: d\nworkload: {duration: 5s, mix: {get: BIG}}\n", f"{SRC}:2 workload.mix.get:"),
    (HEAD + "faults: [{limit-data: {bytes: BIG}}]\n", f"{SRC}:3 faults[0].limit-data.bytes:"),
    (HEAD + "faults: [{bandwidth: {kb-per-s: BIG}}]\n", f"{SRC}:3 faults[0].bandwidth.kb-per-s:"),
    (HEAD + "cluster: {size: BIG}\n", f"{SRC}:3 cluster.size:"),
    (HEAD + "faults: [{kill: {target: random}, at: BIG}]\n", f"{SRC}:3 faults[0].at:"),
    ("description: d\nworkload: {duration: BIGs}\n", f"{SRC}:2 workload.duration:"),
    (HEAD + "faults: [{kill: {target: nBIG}}]\n", f"{SRC}:3 faults[0].kill.target:"),
])
def test_huge_numbers_in_any_field_are_one_short_problem(text: str, where: str) -> None:
    message = _problems(text.replace("BIG", BIG))
    assert message.startswith(where) and len(message) < 400, message


@pytest.mark.parametrize("text, words", [
    (HEAD + "faults: " + "[" * 20000 + "]" * 20000 + "\n",
     f"{SRC}:3 faults[0][0][0]"),
    (HEAD + "cluster:\n  bugs:\n" + "".join("  " * (i + 2) + "-\n" for i in range(200)),
     f"{SRC}:53 cluster.bugs[0][0]"),
    (HEAD + "checks: " + "{a: " * 20000 + "1" + "}" * 20000 + "\n", f"{SRC}:3 checks.a.a.a"),
])
def test_deep_nesting_is_refused_not_a_recursion_error(text: str, words: str) -> None:
    message = _problems(text)
    assert message.startswith(words) and "nested more than 50 levels deep" in message


def test_billion_laughs_is_refused_quickly() -> None:
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    # as a key, the old loader built the 10^9-element list to compare it with the allowed keys
    message = _problems(HEAD + laughs + "? *a8\n: 1\n")
    assert "more than 100000 values (aliases `*name` counted as what they expand to)" in message
    assert len(message) < 400


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    # the old loader recursed in PyYAML's merge-key flattening until RecursionError
    message = _problems("description: d\nworkload: &w {duration: 5s, <<: *w}\n")
    assert message == (f"{SRC}:2 workload.<<: alias *w is used inside its own anchor &w; a scenario cannot "
                       "contain itself, write the values out")


@pytest.mark.parametrize("text, where", [
    ("description: 2001-13-45\nworkload: {duration: 5s}\n", f"{SRC}:1 description: '2001-13-45' is not a valid "
                                                             "timestamp (month must be in 1..12)"),
    ("description: d\nworkload: {duration: 5s, rate: !!float x}\n", f"{SRC}:2 workload.rate: 'x' is not a valid "
                                                                     "float"),
    ("description: d\nworkload: {duration: 5s, keys: !!int ''}\n", f"{SRC}:2 workload.keys: '' is not a valid int"),
    ("description: !!bool maybe\nworkload: {duration: 5s}\n", f"{SRC}:1 description: 'maybe' is not a valid bool"),
    (HEAD + "faults: [{kill: {target: n²}}]\n", f"{SRC}:3 faults[0].kill.target: unknown target 'n²'"),
    (HEAD + "faults: [{partition: {shape: groups, groups: [[n١], [n2, n3]]}}]\n",
     f"{SRC}:3 faults[0].partition.groups[0][0]: 'n١' is not a node name"),
])
def test_values_pyyaml_or_int_cannot_build_are_problems(text: str, where: str) -> None:
    assert _problems(text).startswith(where)


def test_nan_is_not_a_number() -> None:
    assert _problems("description: d\nworkload: {duration: 5s, rate: .nan}\n").startswith(
        f"{SRC}:2 workload.rate: nan is not a number")


def test_a_name_is_one_line_and_short() -> None:
    assert _problems(HEAD + f"name: {'x' * 101}\n").startswith(f"{SRC}:3 name: 'xxxxxxxx")


def test_problems_are_capped_and_each_is_one_line() -> None:
    message = _problems(HEAD + "".join(f'"bad\\nkey{i}": 1\n' for i in range(200)))
    lines = message.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1 and lines[-1].startswith(f"{SRC}: ... and 150 more problems")
    assert lines[0].startswith(f"{SRC}:3 'bad\\nkey0': unknown key")


def test_a_control_character_is_one_line_with_its_line_number() -> None:
    assert _problems(HEAD + "name: a\x00b\n") == (
        f"{SRC}:3 YAML error: character #x0000 is not allowed in YAML; remove it (a scenario is plain UTF-8 text)")


def test_validate_of_every_bad_file_exits_2_without_a_traceback(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    texts = [HEAD + f"seed: {BIG}\n", HEAD + "faults: " + "[" * 20000 + "\n", HEAD + "cluster: {bugs: [nope]}\n",
             "description: 2001-13-45\nworkload: {duration: 5s}\n"]
    for i, text in enumerate(texts):
        (tmp_path / f"bad{i}.yaml").write_text(text)
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "4 of 4 scenario file(s) invalid" in err


@pytest.mark.parametrize("argv", [
    ["run", "--seed", BIG, "x.yaml"], ["run", "--seed", "-1", "x.yaml"],
    ["run", "--seed", "9223372036854775808", "x.yaml"], ["sim", "--seed", BIG], ["sim", "--first-seed", "x"],
])
def test_a_bad_seed_option_is_one_short_line_naming_the_range(argv: list[str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is not a seed; a seed is an integer from 0 to 2^63-1" in err and len(err) < 300


def test_a_huge_integer_option_is_a_short_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--port-base", BIG, "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert "argument --port-base: invalid int value" in err and len(err) < 400


def test_seed_option_accepts_the_whole_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_runs(monkeypatch)
    for seed in ("0", "9223372036854775807"):
        assert main(["run", str(_scenario_file(tmp_path)), "--seed", seed]) == 0
    assert [o.seed for o in seen] == [0, 2**63 - 1]
