"""Scenarios and targets: cluster.target, its options, and what a target cannot do, with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import for_target, load_scenario, parse_scenario, scenario_files
from targets.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[2]
BASE = "description: d\nworkload: {duration: 5s}\n"


def test_the_default_target_is_paxos_with_its_own_mix() -> None:
    s = parse_scenario(BASE)
    assert s.cluster.target == "paxos" and ("append", 20.0) in s.workload.mix


def test_etcd_gets_its_own_default_mix_and_options() -> None:
    s = parse_scenario("cluster: {target: etcd, size: 3, reads: serializable}\n" + BASE)
    assert s.cluster.target == "etcd" and dict(s.cluster.options) == {"reads": "serializable"}
    assert {op for op, _ in s.workload.mix} == {"get", "put", "cas", "delete"}
    assert dict(parse_scenario("cluster: {target: etcd}\n" + BASE).cluster.options) == {"reads": "linearizable"}


@pytest.mark.parametrize(("text", "message"), [
    ("cluster: {target: etcd}\ndescription: d\nworkload:\n  duration: 5s\n  mix: {get: 1, append: 1}\n",
     "<string>:5 workload.mix.append: target etcd has no append"),
    ("cluster: {target: etcd}\ndescription: d\nworkload: {duration: 5s, retry_unknown: true}\n",
     "<string>:3 workload.retry_unknown: target etcd does not apply a retried request once"),
    ("cluster:\n  target: etcd\n  bugs: [no-dedup]\n" + BASE, "<string>:3 cluster.bugs[0]: target etcd has no deliberate bugs"),
    ("cluster: {reads: serializable}\n" + BASE, "<string>:1 cluster.reads: is an option of target etcd, not of paxos"),
    ("cluster: {target: etcd, reads: sometimes}\n" + BASE, "cluster.reads: "),
    ("cluster: {target: zookeeper}\n" + BASE, "<string>:1 cluster.target: "),
])
def test_what_a_target_cannot_do_is_a_validation_error_at_its_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    assert message in str(err.value), str(err.value)


def test_the_override_wins_and_is_validated() -> None:
    s = parse_scenario("cluster: {target: paxos}\n" + BASE, target="etcd")
    assert s.cluster.target == "etcd" and "append" not in dict(s.workload.mix)
    with pytest.raises(ScenarioError, match="unknown target 'nope'"):
        parse_scenario(BASE, target="nope")


def test_the_shipped_suite_splits_into_what_applies_to_etcd_and_why_not() -> None:
    files = scenario_files(ROOT / "scenarios")
    runnable, skipped = for_target(files, "etcd")
    assert len(runnable) + len(skipped) == len(files) and len(runnable) >= 10
    assert all(s.cluster.target == "etcd" for s in runnable)
    assert all("has no append" in why or "retry" in why or "simulator-only" in why for _, why in skipped), skipped
    assert {p.stem for p, _ in skipped} >= {"client-retries"}
    own, none = for_target(files, None)
    assert len(own) + len(none) == len(files) and all(s.cluster.target == "paxos" for s in own)
    assert [(p.stem, "simulator-only" in why) for p, why in none] == [("crash-points", True)]


def test_a_file_invalid_on_its_own_is_not_silently_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: d\nworkload: {duration: forever}\n")
    with pytest.raises(ScenarioError, match="bad.yaml:2"):
        for_target([bad], "etcd")
    assert load_scenario(ROOT / "scenarios" / "halves.yaml", target="etcd").cluster.target == "etcd"


def test_a_fault_the_target_cannot_take_is_a_validation_error_at_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import MappingProxyType

    from targets import registry
    from targets.paxos import PaxosTarget

    class NoPause(PaxosTarget):
        name = "nopause"
        unsupported_faults = MappingProxyType({"pause": "its nodes cannot be frozen"})

    monkeypatch.setitem(registry.TARGETS, "nopause", NoPause())
    text = "description: d\nworkload: {duration: 10s}\nfaults:\n  - pause: {target: leader}\n    at: 1s\n    for: 2s\n"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, target="nopause")
    assert "<string>:4 faults[0].pause: target nopause cannot take pause: its nodes cannot be frozen" in str(err.value)
    assert parse_scenario(text).faults  # the same file is fine for paxos
