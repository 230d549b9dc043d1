"""The scenario loader and validator: a table of bad scenarios, each with its exact message, plus the
defaults, the shipped scenarios and the duration parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.durations import format_duration, parse_duration_s
from harness.scenario import (
    ChecksSpec,
    LinkSpec,
    PartitionSpec,
    ProcessSpec,
    RollingRestartSpec,
    TargetSpec,
    load_scenario,
    parse_scenario,
    scenario_files,
)
from targets.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[2]
W = "workload: {duration: 10s}\n"
HEAD = "description: d\n" + W  # lines 1-2; a `faults:` list starts on line 3, its first item on 4

# (case, YAML text, the exact message for a file named scenarios/x.yaml)
BAD: list[tuple[str, str, str]] = [
    ("misspelt key", "description: d\nworkload:\n  duraton: 10s\n",
     "scenarios/x.yaml:3 workload.duraton: unknown key 'duraton'; did you mean `duration`? use one of: "
     "duration, concurrency, rate, keys, distribution, skew, mix, timeout, attempts, retry_unknown"),
    ("wrong type", "description: d\nworkload: {duration: 10s, concurrency: many}\n",
     "scenarios/x.yaml:2 workload.concurrency: 'many' is not an integer, use a whole number from 1 to 256"),
    ("negative duration", "description: d\nworkload:\n  duration: -5s\n",
     "scenarios/x.yaml:3 workload.duration: '-5s' is negative; a duration must be >= 0, "
     "use e.g. 10s, 500ms, 2m or 1m30s"),
    ("not a duration", HEAD + "faults:\n  - kill: {target: random}\n    at: 1s\n    for: 10 sec\n",
     "scenarios/x.yaml:6 faults[0].for: '10 sec' is not a duration, use e.g. 10s, 500ms, 2m or 1m30s"),
    ("bare number duration", "description: d\nworkload: {duration: 10}\n",
     "scenarios/x.yaml:2 workload.duration: 10 has no unit, write 10s (use e.g. 10s, 500ms, 2m or 1m30s)"),
    ("unknown fault", HEAD + "faults:\n  - explode: {}\n",
     "scenarios/x.yaml:4 faults[0].explode: unknown key 'explode'; use one of: partition, latency, "
     "bandwidth, reset, slicer, slow-close, limit-data, kill, pause, restart, rolling-restart, power-loss, "
     "corrupt, crash-point, one-of, at, for, every, jitter, until"),
    ("unknown target", HEAD + "faults:\n  - pause: {target: follower}\n",
     "scenarios/x.yaml:4 faults[0].pause.target: unknown target 'follower'; use one of: leader, random, "
     "minority, majority, all, n1, [n1, n2]"),
    ("node outside the cluster", HEAD + "faults:\n  - pause: {target: n4}\n",
     "scenarios/x.yaml:4 faults[0].pause.target: n4 is not in this cluster of 3 replicas, use n1..n3"),
    ("cluster size 4", "description: d\n" + W + "cluster: {size: 4}\n",
     "scenarios/x.yaml:3 cluster.size: 4 is not a supported cluster size, use 3, 5 or 7"),
    ("cluster size as a word", "description: d\n" + W + "cluster: {size: three}\n",
     "scenarios/x.yaml:3 cluster.size: 'three' is not a supported cluster size, use 3, 5 or 7"),
    ("YAML syntax error", "description: d\nworkload: {duration: 10s\nfaults: []\n",
     "scenarios/x.yaml:3 YAML syntax error: expected ',' or '}', but got ':'; check indentation, "
     "colons and quoting"),
    ("empty file", "",
     "scenarios/x.yaml:1 the file is empty; a scenario needs at least `description:` and `workload:` "
     "(see docs/scenarios.md)"),
    ("not a mapping", "- a\n- b\n",
     "scenarios/x.yaml:1 expected a mapping with keys name, description, seed, cluster, workload, faults, "
     "checks, got a list"),
    ("missing description", W, "scenarios/x.yaml:1 missing required key `description`; add it"),
    ("duplicate key", HEAD + "seed: 1\nseed: 2\n", "scenarios/x.yaml:4 seed: duplicate key; keep only one"),
    ("unknown shape", HEAD + "faults:\n  - partition: {shape: squares}\n",
     "scenarios/x.yaml:4 faults[0].partition.shape: unknown value 'squares'; use one of: halves, isolate, "
     "isolate-leader, majorities-ring, bridge, groups"),
    ("two faults in one item", HEAD + "faults:\n  - partition: {shape: halves}\n    kill: {}\n",
     "scenarios/x.yaml:4 faults[0]: has several faults (partition, kill); each item needs exactly one of "
     "partition, latency, bandwidth, reset, slicer, slow-close, limit-data, kill, pause, restart, "
     "rolling-restart, power-loss, corrupt, crash-point, one-of"),
    ("fault after the workload", HEAD + "faults:\n  - kill: {}\n    at: 20s\n",
     "scenarios/x.yaml:5 faults[0].at: starts at 20s, at or after the workload ends (10s); start it earlier"),
    ("overlapping repeats",
     HEAD + "faults:\n  - partition: {shape: halves}\n    every: 3s\n    for: 3s\n    jitter: 1s\n",
     "scenarios/x.yaml:5 faults[0].every: 3s is shorter than for + jitter (4s), so occurrences would "
     "overlap; make `every` longer"),
    ("repeat without for", HEAD + "faults:\n  - pause: {target: leader}\n    every: 3s\n",
     "scenarios/x.yaml:5 faults[0].every: a repeated fault needs `for:` (how long each occurrence lasts)"),
    ("jitter without every", HEAD + "faults:\n  - jitter: 1s\n    kill: {}\n    for: 1s\n",
     "scenarios/x.yaml:4 faults[0].jitter: only applies with `every`; add `every:` or remove it"),
    ("restart with a duration", HEAD + "faults:\n  - restart: {target: n1}\n    for: 3s\n",
     "scenarios/x.yaml:5 faults[0].for: a restart is instantaneous and has no duration; remove `for`"),
    ("jitter above latency", HEAD + "faults:\n  - latency: {latency: 10ms, jitter: 20ms}\n",
     "scenarios/x.yaml:4 faults[0].latency.jitter: 20ms is more than the latency (10ms); use at most "
     "the latency"),
    ("node in two groups", HEAD + "faults:\n  - partition: {shape: groups, groups: [[n1], [n1, n2, n3]]}\n",
     "scenarios/x.yaml:4 faults[0].partition.groups: n1 is in more than one group; each node goes in one"),
    ("node in no group", HEAD + "faults:\n  - partition: {shape: groups, groups: [[n1], [n2]]}\n",
     "scenarios/x.yaml:4 faults[0].partition.groups: n3 is in no group; list every node n1..n3 in "
     "exactly one group"),
    ("target on halves", HEAD + "faults:\n  - partition: {shape: halves, target: n1}\n",
     "scenarios/x.yaml:4 faults[0].partition.target: only `shape: isolate` takes a target (the node to "
     "isolate)"),
    ("one-way ring", HEAD + "faults:\n  - partition: {shape: majorities-ring, one-way: true}\n",
     "scenarios/x.yaml:4 faults[0].partition.one-way: majorities-ring is already asymmetric; remove one-way"),
    ("one-of with one choice", HEAD + "faults:\n  - one-of: [{kill: {}}]\n    for: 1s\n",
     "scenarios/x.yaml:4 faults[0].one-of: expected a list of at least two faults to choose from, e.g. "
     "[{kill: {target: random}}, {pause: {target: leader}}]"),
    ("all weights zero", "description: d\nworkload: {duration: 10s, mix: {get: 0}}\n",
     "scenarios/x.yaml:2 workload.mix: needs at least one operation with a weight above 0, e.g. "
     "{get: 1, put: 1}"),
    ("skew without skewed", "description: d\nworkload: {duration: 10s, skew: 2}\n",
     "scenarios/x.yaml:2 workload.skew: only applies to `distribution: skewed`; remove it or set the "
     "distribution"),
    ("two-line description", "description: |\n  one\n  two\n" + W,
     "scenarios/x.yaml:1 description: must be one line; shorten it"),
    ("until after the end", HEAD + "faults:\n  - pause: {}\n    every: 2s\n    for: 1s\n    until: 20s\n",
     "scenarios/x.yaml:7 faults[0].until: 20s is after the workload ends (10s); remove it or make it "
     "earlier"),
    ("too big", HEAD + "#" * (1 << 20), f"scenarios/x.yaml: {len(HEAD) + (1 << 20)} characters is too big "
     "for a scenario (limit 1048576)"),
    ("slicer variation too big", HEAD + "faults:\n  - slicer: {average-size: 10, size-variation: 10}\n",
     "scenarios/x.yaml:4 faults[0].slicer.size-variation: 10 must be less than average-size (10)"),
    ("limit-data without bytes", HEAD + "faults:\n  - limit-data: {}\n",
     "scenarios/x.yaml:4 faults[0].limit-data: missing required key `bytes`; add it"),
    ("bad bool", HEAD + "faults:\n  - restart: {graceful: maybe}\n",
     "scenarios/x.yaml:4 faults[0].restart.graceful: 'maybe' is not a boolean, use true or false"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[c for c, _, _ in BAD])
def test_bad_scenario_gives_exactly_this_message(case: str, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, source="scenarios/x.yaml")
    assert str(err.value) == message


def test_every_problem_is_reported_in_line_order() -> None:
    text = ("description: d\nworkload: {duration: 10s, keys: 0}\ncluster: {size: 9}\n"
            "faults:\n  - pause: {target: nobody}\n")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, source="s.yaml")
    lines = str(err.value).splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["s.yaml:2", "s.yaml:3", "s.yaml:5"]


def test_scenario_errors_exit_with_code_2() -> None:
    assert ScenarioError.exit_code == 2


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")


def test_defaults_and_a_full_scenario() -> None:
    s = parse_scenario(
        "name: demo\ndescription: A demo.\nseed: 9\ncluster: {size: 5, bugs: [no-fsync]}\n"
        "workload: {duration: 1m30s, rate: 50, mix: {put: 1, get: 2}}\n"
        "faults:\n"
        "  - partition: {shape: isolate-leader, one-way: true, mode: reject}\n    at: 5s\n    for: 2s\n"
        "  - kill: {target: [n1, n5]}\n    at: 10s\n"
        "  - bandwidth: {kb-per-s: 64, links: clients, target: leader, toxicity: 0.5}\n"
        "    every: 10s\n    for: 1s\n    until: 40s\n"
        "  - rolling-restart: {gap: 500ms}\n    at: 1m\n"
        "checks: {timeout: 2m}\n", source="demo.yaml")
    assert (s.name, s.seed, s.cluster.size, s.cluster.bugs) == ("demo", 9, 5, ("no-fsync",))
    assert s.workload.duration_s == 90.0 and s.workload.concurrency == 5
    assert s.workload.mix == (("get", 2.0), ("put", 1.0))
    p, k, b, r = (e.choices[0] for e in s.faults)
    assert p == PartitionSpec(shape="isolate", mode="reject", one_way=True, target=TargetSpec(kind="leader"))
    assert k == ProcessSpec(action="kill", target=TargetSpec(kind="nodes", nodes=(1, 5)))
    assert b == LinkSpec(toxic="bandwidth", attributes=(("rate", 64),), links="clients",
                         target=TargetSpec(kind="leader"), toxicity=0.5)
    assert r == RollingRestartSpec(gap_s=0.5)
    assert s.faults[0].for_s == 2.0 and s.faults[1].for_s is None
    assert (s.faults[2].every_s, s.faults[2].until_s) == (10.0, 40.0)
    assert s.faults[3].line == 16
    assert s.checks == ChecksSpec(timeout_s=120.0)


def test_every_toxic_fault_maps_to_toxiproxy_attributes() -> None:
    s = parse_scenario(HEAD + "faults:\n"
                       "  - slicer: {average-size: 100, size-variation: 20, delay: 2ms}\n"
                       "  - slow-close: {delay: 1500ms}\n"
                       "  - limit-data: {bytes: 4096, links: all}\n"
                       "  - reset: {after: 250ms}\n"
                       "  - latency: {latency: 1s}\n")
    got = [(c.toxic, c.attributes) for e in s.faults for c in e.choices if isinstance(c, LinkSpec)]
    assert got == [
        ("slicer", (("average_size", 100), ("size_variation", 20), ("delay", 2000))),  # delay in us
        ("slow_close", (("delay", 1500),)),
        ("limit_data", (("bytes", 4096),)),
        ("reset_peer", (("timeout", 250),)),
        ("latency", (("latency", 1000), ("jitter", 0))),
    ]


def test_anchors_and_merge_keys_reuse_settings_and_own_keys_win() -> None:
    s = parse_scenario(HEAD + "faults:\n  - &p {partition: {shape: halves}, at: 1s, for: 1s}\n"
                       "  - <<: *p\n    at: 5s\n")
    assert [(e.at_s, e.for_s) for e in s.faults] == [(1.0, 1.0), (5.0, 1.0)]
    assert s.faults[1].choices == s.faults[0].choices
    with pytest.raises(ScenarioError, match=r"x.yaml:4 faults\[1\].for: '1 s' is not a duration"):
        parse_scenario(HEAD + "faults:\n  - &p {kill: {}, at: 1s, for: 1 s}\n  - <<: *p\n    at: 5s\n",
                       source="x.yaml")


def test_a_fault_without_settings_takes_the_defaults() -> None:
    s = parse_scenario(HEAD + "faults:\n  - kill:\n    at: 1s\n")
    assert s.faults[0].choices == (ProcessSpec(action="kill", target=TargetSpec(kind="random")),)


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    f = tmp_path / "my-scenario.yaml"
    f.write_text("description: d\n" + W)
    assert load_scenario(f).name == "my-scenario"


def test_scenarios_are_frozen() -> None:
    s = parse_scenario(HEAD)
    with pytest.raises(AttributeError):
        s.seed = 3  # type: ignore[misc]


SHIPPED = scenario_files(ROOT / "scenarios")


def test_at_least_ten_scenarios_are_shipped() -> None:
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_is_valid_and_described_in_one_line(path: Path) -> None:
    s = load_scenario(path)
    assert s.description and "\n" not in s.description and len(s.description) <= 120


def test_shipped_suite_covers_the_required_faults() -> None:
    kinds: set[str] = set()
    sizes: set[int] = set()
    for path in SHIPPED:
        s = load_scenario(path)
        sizes.add(s.cluster.size)
        if not s.faults:
            kinds.add("none")
        for entry in s.faults:
            for c in entry.choices:
                if isinstance(c, PartitionSpec):
                    leader = c.target is not None and c.target.kind == "leader"
                    kinds.add("one-way" if c.one_way else "isolate-leader" if leader else c.shape)
                    kinds.add("flapping" if entry.every_s and len(entry.choices) > 1 else "")
                elif isinstance(c, ProcessSpec):
                    kinds.add(f"{c.action}-{c.target.kind}")
                elif isinstance(c, LinkSpec):
                    kinds.add(c.toxic)
                else:
                    kinds.add("rolling-restart")
    wanted = {"none", "isolate-leader", "halves", "majorities-ring", "bridge", "one-way", "kill-random",
              "pause-leader", "latency", "flapping", "rolling-restart"}
    assert wanted <= kinds, wanted - kinds
    assert 5 in sizes


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10.0), ("500ms", 0.5), ("2m", 120.0), ("1m30s", 90.0), ("1.5s", 1.5), ("1h", 3600.0),
    ("0s", 0.0), (0, 0.0),
])
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize(("text", "message"), [
    ("10 sec", "'10 sec' is not a duration"), ("-1s", "'-1s' is negative"), ("30s1m", "not a duration"),
    ("", "not a duration"), (True, "is not a duration"), (5, "5 has no unit, write 5s"),
    (0.2, "write 200ms"), (None, "is not a duration"), ("1s1s", "not a duration"),
])
def test_bad_durations_are_explained(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration_s(text)


@pytest.mark.parametrize("seconds", [0.0, 0.25, 1.5, 10.0, 120.0, 3600.0])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration_s(format_duration(seconds)) == seconds


# -- the CLI: `paxos-chaos validate` and `paxos-chaos list` ------------------------------------------


def test_cli_validate_ok_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    good = tmp_path / "good.yaml"
    good.write_text("description: fine\n" + W)
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "faults:\n  - kill: {target: random}\n    for: 10 sec\n")
    assert main(["validate", str(good)]) == 0
    assert f"ok {good}: fine" in capsys.readouterr().out
    assert main(["validate", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5 faults[0].for: '10 sec' is not a duration" in err
    assert "1 of 2 scenario file(s) invalid" in err


def test_cli_validate_a_directory_and_list_the_shipped_suite(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["validate", str(ROOT / "scenarios")]) == 0
    assert capsys.readouterr().out.count("\nok ") + 1 == len(SHIPPED)
    assert main(["list", str(ROOT / "scenarios")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(SHIPPED) and any(line.startswith("leader-isolation ") for line in out)


def test_cli_list_flags_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    (tmp_path / "a.yaml").write_text("description: a\n" + W)
    (tmp_path / "b.yaml").write_text("description: b\nworkload: {duration: 1 minute}\n")
    assert main(["list", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "b                        INVALID" in out and "is not a duration" in out
    assert main(["list", str(tmp_path / "none")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_power_loss_model_is_one_per_scenario_and_names_the_fix() -> None:
    ok = parse_scenario(HEAD + "faults:\n  - power-loss: {target: all, model: ext4}\n",
                        source="scenarios/x.yaml")
    assert ok.powerfs_model == "ext4"
    assert parse_scenario(HEAD + "faults:\n  - kill: {target: all}\n", source="scenarios/x.yaml").powerfs_model is None
    with pytest.raises(ScenarioError) as err:
        parse_scenario(HEAD + "faults:\n  - power-loss: {model: ext4}\n    at: 1s\n  - power-loss: {}\n    at: 2s\n",
                       source="scenarios/x.yaml")
    assert str(err.value) == ("scenarios/x.yaml:6 faults[1].power-loss.model: strict differs from the ext4 of an "
                              "earlier power-loss; a cluster runs one powerfs model, so give every power-loss "
                              "the same `model`")
