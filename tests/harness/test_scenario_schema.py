"""The scenarios' JSON Schema (harness.scenario_schema): the shipped file is what `paxos-chaos schema`
prints, every shipped scenario names it and passes it, it flags the mistakes an editor should flag, and
it never flags a file the validator accepts (checked the way an editor checks, with a draft-07 validator)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from harness.cli import main
from harness.durations import DURATION_PATTERN, parse_duration_s
from harness.scenario import parse_scenario
from harness.scenario_schema import SCHEMA_FILE, scenario_schema, schema_text
from targets.errors import ScenarioError
from tests.harness.test_scenario_fuzz import FUZZ, mutated

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "scenarios" / SCHEMA_FILE
SHIPPED = sorted([*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("scenarios/*/*.yaml"),
                  *ROOT.glob("benchmarks/scenarios/*.yaml")])
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)")
EDITOR = Draft7Validator(scenario_schema())


def _errors(doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in EDITOR.iter_errors(doc)]


def test_the_shipped_schema_is_exactly_what_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == schema_text()
    assert SCHEMA_PATH.read_text(encoding="utf-8") == printed, (
        f"scenarios/{SCHEMA_FILE} is stale: regenerate it with "
        f".venv/bin/paxos-chaos schema > scenarios/{SCHEMA_FILE}")


def test_it_is_a_draft_07_schema() -> None:
    Draft7Validator.check_schema(scenario_schema())


def test_every_shipped_scenario_is_found() -> None:
    assert len(SHIPPED) >= 22 and any("maelstrom" in str(p) for p in SHIPPED) and any(
        "benchmarks" in str(p) for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_scenario_names_the_schema_first_and_passes_it(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = MODELINE.fullmatch(first)
    assert m, f"{path}: first line must be `# yaml-language-server: $schema=<relative path to {SCHEMA_FILE}>`"
    assert not Path(m.group(1)).is_absolute()
    assert (path.parent / m.group(1)).resolve() == SCHEMA_PATH  # the relative path works from this file
    assert _errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


HEAD = "description: d\nworkload: {duration: 10s}\n"

# (case, YAML, where the schema puts the problem): mistakes an editor flags as one types; the validator
# rejects every one of them too
FLAGGED: list[tuple[str, str, str]] = [
    ("misspelt top key", HEAD + "fautls: []\n", ": Additional properties"),
    ("no workload", "description: d\n", ": 'workload' is a required property"),
    ("misspelt workload key", "description: d\nworkload: {duraton: 10s}\n", "workload: Additional properties"),
    ("not a duration", "description: d\nworkload: {duration: 10 sec}\n", "workload/duration: '10 sec' is not valid"),
    ("a bare number duration", "description: d\nworkload: {duration: 10}\n", "workload/duration: 10 is not valid"),
    ("units out of order", "description: d\nworkload: {duration: 30s1m}\n", "workload/duration"),
    ("concurrency out of range", "description: d\nworkload: {duration: 1s, concurrency: 0}\n",
     "workload/concurrency: 0 is less than the minimum of 1"),
    ("an unknown op", "description: d\nworkload: {duration: 1s, mix: {get: 1, scan: 1}}\n", "workload/mix"),
    ("cluster size 4", HEAD + "cluster: {size: 4}\n", "cluster/size: 4 is not one of [3, 5, 7]"),
    ("an unknown bug", HEAD + "cluster: {bugs: [no-such-bug]}\n", "cluster/bugs/0"),
    ("an unknown target", HEAD + "cluster: {target: zookeeper}\n", "cluster/target"),
    ("etcd's option on paxos", HEAD + "cluster: {reads: serializable}\n", "cluster: False schema does not allow 'serializable'"),
    ("bugs on etcd", HEAD + "cluster: {target: etcd, bugs: [local-reads]}\n", "cluster: False schema does not allow ['local-reads']"),
    ("maelstrom's node on etcd", HEAD + "cluster: {target: etcd, node: ./n.py}\n", "cluster: False schema does not allow './n.py'"),
    ("a bad etcd read mode", HEAD + "cluster: {target: etcd, reads: stale}\n", "cluster/reads"),
    ("an unknown fault", HEAD + "faults: [{explode: {}}]\n", "faults/0"),
    ("two faults in one item", HEAD + "faults: [{kill: {}, pause: {}, at: 1s}]\n", "faults/0"),
    ("timing only", HEAD + "faults: [{at: 1s}]\n", "faults/0"),
    ("a bad shape", HEAD + "faults: [{partition: {shape: thirds}}]\n", "faults/0/partition/shape"),
    ("partition without shape", HEAD + "faults: [{partition: {mode: drop}}]\n", "faults/0/partition: 'shape'"),
    ("latency without latency", HEAD + "faults: [{latency: {jitter: 5ms}}]\n", "faults/0/latency: 'latency'"),
    ("a bad target word", HEAD + "faults: [{kill: {target: oldest}}]\n", "faults/0/kill/target"),
    ("n8 in any cluster", HEAD + "faults: [{kill: {target: n8}}]\n", "faults/0/kill/target"),
    ("graceful on kill", HEAD + "faults: [{kill: {graceful: false}}]\n", "faults/0/kill: Additional properties"),
    ("toxicity above 1", HEAD + "faults: [{reset: {toxicity: 2}}]\n", "faults/0/reset/toxicity"),
    ("one-of with one choice", HEAD + "faults: [{one-of: [{kill: {}}], at: 1s}]\n", "faults/0/one-of"),
    ("timing inside one-of", HEAD + "faults: [{one-of: [{kill: {}, at: 1s}, {pause: {}}]}]\n", "faults/0/one-of/0"),
    ("a bad check key", HEAD + "checks: {linearisable: true}\n", "checks: Additional properties"),
    ("a seed below 0", HEAD + "seed: -1\n", "seed: -1 is less than the minimum of 0"),
]


@pytest.mark.parametrize(("case", "text", "where"), FLAGGED, ids=[c[0] for c in FLAGGED])
def test_an_editor_flags_the_mistake_and_the_validator_rejects_it_too(case: str, text: str, where: str) -> None:
    errors = _errors(yaml.safe_load(text))
    assert any(e.startswith(where) for e in errors), f"{case}: expected {where!r} in {errors}"
    with pytest.raises(ScenarioError):
        parse_scenario(text, source="x.yaml")


ACCEPTED = [
    HEAD + "faults:\n",  # an empty schedule
    HEAD + "faults: [{kill: , at: 1s, for: 2s}, {rolling-restart: , at: 5s}]\n",  # a fault with its defaults
    HEAD + "faults: [{kill: {target: n01}, at: 0}]\n",  # leading zero, 0 without unit
    "description: d\nworkload: {duration: ' 1m30s ', rate: 5, skew: 2, distribution: skewed}\n",
    HEAD + "cluster: {target: etcd, reads: serializable}\n",
    HEAD + "cluster: {bugs: [' no-dedup ', no-dedup]}\n",  # blanks around a name, a repeat: the parser drops them
    HEAD + "cluster: {target: maelstrom, node: ../targets/maelstrom/examples/lin_kv_leader.py}\n",
    "description: d\nworkload:\n  <<: {duration: 5s, keys: 3}\n  keys: 4\n",  # a merge key, own key wins
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_what_the_validator_accepts_the_schema_accepts(text: str) -> None:
    parse_scenario(text, source=str(ROOT / "scenarios" / "x.yaml"))
    assert _errors(yaml.safe_load(text)) == []


def _accepted(text: str) -> Any:
    try:
        parse_scenario(text, source=str(ROOT / "scenarios" / "fuzzed.yaml"))
    except ScenarioError:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        # the validator reads nodes and ignores a tag on the root mapping (`!!int` + a scenario); a plain
        # YAML loader, like an editor's, refuses to build that document, so no schema can judge it
        return None


@FUZZ
@example(text=HEAD + "faults: [{pause: {target: n001}, at: 1s, for: 1s}]\n")
@given(text=mutated())
def test_the_schema_never_flags_a_mutated_scenario_the_validator_accepts(text: str) -> None:
    doc = _accepted(text)
    if doc is not None:  # an editor's mark on a file `validate` accepts would be a false alarm
        assert _errors(doc) == [], text


@given(st.text(alphabet="0123456789.hms -", max_size=9))
@example(" 5s ")
@example("1m5ms")
@example("1.5")
def test_the_duration_pattern_is_the_parser_s_rule(text: str) -> None:
    try:
        parse_duration_s(text)
        parsed = True
    except ValueError:
        parsed = False
    assert bool(re.fullmatch(DURATION_PATTERN, text)) == parsed


def _patterns(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "pattern" and isinstance(v, str)] + [
            p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_every_pattern_compiles_in_javascript_unicode_mode_and_agrees_on_durations() -> None:
    # editors check schemas in JavaScript, whose regular expressions (unicode mode) refuse some of Python's
    patterns = _patterns(scenario_schema())
    assert len(patterns) >= 4
    script = ("const [ps, samples] = JSON.parse(process.argv[1]);"
              "ps.forEach(p => new RegExp(p, 'u'));"
              "console.log(JSON.stringify(samples.map(s => new RegExp(ps[0], 'u').test(s))));")
    samples = ["10s", "500ms", "1m30s", " 2m ", "1.5h", "30s1m", "1ms5s", "10 sec", "-5s", "", "5", "1m5ms"]
    ordered = [DURATION_PATTERN, *patterns]
    out = subprocess.run(["node", "-e", script, json.dumps([ordered, samples])], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert json.loads(out) == [bool(re.fullmatch(DURATION_PATTERN, s)) for s in samples]
