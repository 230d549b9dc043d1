"""Property-based fuzz of the scenario loader (`load_scenario`/`parse_scenario`, what `paxos-chaos
validate` and `run` use): random YAML-ish text, and random mutations of the shipped scenarios
(scenarios/*.yaml). The contract: a `Scenario`, or a `ScenarioError` (a UsageError: one line per
problem, exit 2) whose every line names the file; never another exception, never a hang.

Each test runs FUZZ_EXAMPLES examples (default 150, a few seconds); for a longer fuzz:

    FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/harness/test_scenario_fuzz.py -q -p no:cacheprovider

A crash found here is fixed in harness/scenario.py and kept below as an `@example` or a plain test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.scenario import Scenario, parse_scenario, scenario_files
from targets.errors import ScenarioError, UsageError

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "scenarios/fuzzed.yaml"
SHIPPED = [p.read_text(encoding="utf-8") for p in scenario_files(ROOT / "scenarios")]
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# the schema's words and YAML's sharp edges: tags, anchors, merges, odd scalars, deep nesting
WORDS = ["name", "description", "seed", "cluster", "size", "bugs", "workload", "duration", "concurrency",
         "rate", "keys", "distribution", "skewed", "skew", "mix", "get", "put", "cas", "timeout",
         "attempts", "retry_unknown", "faults", "partition", "shape", "halves", "isolate", "groups",
         "target", "leader", "n1", "n2", "n9", "latency", "jitter", "kill", "pause", "restart",
         "rolling-restart", "one-of", "at", "for", "every", "until", "checks", "linearizable",
         "recovery", "local-reads", "no-such-bug"]
SHARP = [": ", "- ", "\n", "\n  ", "\n    - ", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ", "*b", "<<: ",
         "<<: *a", "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!set ", "!!str ",
         "!!python/object:os.system ", "!foo ", "? ", "|\n  ", ">-\n  ", "'", '"', "#", "---\n", "...\n",
         "%YAML 1.1\n", "~", "null", ".nan", ".inf", "-.inf", "0x1F", "0o17", "0b101", "1_000",
         "1:30:00", "2024-13-45", "2001-02-29", "2001-12-14t21:59:43.10-05:00", "-1", "0", "5s", "1e400",
         "9" * 5000, "-" + "9" * 4400, "[" * 80, "{a: " * 60, "\t", "\x00", "\x85", "\u2028", "\ufeff",
         "é", "n²", "n١", "yes", "off"]


def _check(text: str) -> None:
    try:
        result = parse_scenario(text, source=SOURCE, default_name="fuzzed")
    except ScenarioError as exc:
        message = str(exc)
        assert message, "an empty message"
        for line in message.splitlines():
            assert line.startswith(SOURCE), f"a line of the message does not name the file: {line!r}"
        assert len(message) < 20_000, "problems beyond MAX_PROBLEMS are counted, not listed"
        return
    assert isinstance(result, Scenario)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A shipped scenario with a few random edits at random places."""
    text = draw(st.sampled_from(SHIPPED))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "sharp", "word", "duplicate", "replace-value",
                                     "swap-lines"]))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 30)):]
        elif kind == "insert":
            text = text[:at] + draw(st.text(max_size=6)) + text[at:]
        elif kind == "sharp":
            text = text[:at] + draw(st.sampled_from(SHARP)) + text[at:]
        elif kind == "word":
            text = text[:at] + draw(st.sampled_from(WORDS)) + text[at:]
        elif kind == "duplicate":
            text = text[:at] + text[at:at + draw(st.integers(1, 300))] * 2 + text[at + 1:]
        elif kind == "replace-value":  # the value after some `key:` becomes something sharp
            lines = text.splitlines(keepends=True)
            with_value = [i for i, ln in enumerate(lines) if ": " in ln]
            if with_value:
                i = draw(st.sampled_from(with_value))
                key = lines[i].split(": ", 1)[0]
                lines[i] = f"{key}: {draw(st.sampled_from(SHARP + WORDS))}\n"
                text = "".join(lines)
        else:
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
                text = "".join(lines)
    return text


@FUZZ
@example(text="description: d\nworkload: {duration: 5s}\ncluster: {bugs: [no-such-bug]}\n")
@example(text="description: d\nworkload: {duration: 5s}\nseed: " + "1" * 5000 + "\n")
@example(text="description: 2001-13-45\nworkload: {duration: 5s}\n")
@example(text="description: d\nworkload: {duration: 5s, rate: !!float x}\n")
@example(text="description: d\nworkload: {duration: 5s}\nfaults: [{kill: {target: n²}}]\n")
@given(text=mutated())
def test_mutated_shipped_scenarios_validate_or_give_a_scenario_error(text: str) -> None:
    _check(text)


@FUZZ
@example(text="a: &a [*a]\n")
@example(text="&a {<<: *a}\n")
@example(text="!!timestamp x\n")
@example(text="? [a, b]\n: 1\n")
@example(text="|\n  |\n  ")  # found: a value with a newline, quoted raw, split the problem over two lines
@given(text=st.lists(st.sampled_from(SHARP + WORDS) | st.text(max_size=5), max_size=40).map("".join))
def test_random_yaml_ish_text_validates_or_gives_a_scenario_error(text: str) -> None:
    _check(text)


@FUZZ
@given(data=st.binary(max_size=1500) | mutated().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_files_through_the_validate_command_exit_cleanly(
        data: bytes, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.yaml"
    path.write_bytes(data)
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2) and "Traceback" not in err
    assert str(path) in (out if code == 0 else err)


def test_scenario_error_is_the_usage_error_the_cli_turns_into_exit_2() -> None:
    assert issubclass(ScenarioError, UsageError) and ScenarioError.exit_code == 2
