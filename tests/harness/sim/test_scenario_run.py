"""A scenario file in the simulator (harness.sim.scenario_run): the same file and seed give the same history
byte for byte; the scenario's cluster, workload and fault plan are what runs; faults with no meaning there are
named and skipped; crash points, pauses, latency and leader-aimed partitions act on the world."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from faults.plan import make_plan
from harness.cli import main
from harness.scenario import load_scenario, parse_scenario, resolve_run
from harness.sim.scenario_cli import scenarios_of
from harness.sim.scenario_run import ScenarioRun, run_in_sim, sim_config, warnings
from targets.errors import ScenarioError
from workloads.history import write_jsonl

ROOT = Path(__file__).resolve().parents[3]


def _jsonl(run: ScenarioRun) -> bytes:
    buf = io.StringIO()
    write_jsonl(run.result.events, buf)
    return buf.getvalue().encode()


def _scenario(faults: str, *, size: int = 3, duration: str = "3s", extra: str = "") -> str:
    return (f"description: test\nseed: 4\ncluster: {{size: {size}}}\n"
            f"workload: {{duration: {duration}, concurrency: 4, rate: 200, keys: 3{extra}}}\n"
            f"checks: {{recovery: 4s}}\nfaults:\n{faults}")


def test_one_shipped_scenario_at_one_seed_twice_gives_the_same_history_byte_for_byte() -> None:
    halves = load_scenario(ROOT / "scenarios" / "halves.yaml")
    a, b = run_in_sim(halves, seed=11), run_in_sim(halves, seed=11, check_history=False)
    assert _jsonl(a) == _jsonl(b) and a.faults == b.faults and a.result.fault_log == b.result.fault_log
    assert a.result.ops > 1000 and not a.failed
    assert [r.action for r in a.faults].count("apply") == len(make_plan(halves, seed=11).steps)
    assert _jsonl(run_in_sim(halves, seed=12, check_history=False)) != _jsonl(a)


def test_the_scenario_sets_the_cluster_workload_and_checks() -> None:
    s = parse_scenario(_scenario("  []\n", size=5, duration="7s", extra=", timeout: 3s, attempts: 4, "
                                 "retry_unknown: true, mix: {get: 1, append: 1}"))
    cfg = sim_config(s, resolve_run(s, seed=9, bugs=("local-reads",)))
    assert (cfg.seed, cfg.size, cfg.duration_ms, cfg.concurrency, cfg.keys) == (9, 5, 7000, 4, 3)
    assert (cfg.timeout_ms, cfg.attempts, cfg.retry_unknown, cfg.bugs) == (3000, 4, True, frozenset({"local-reads"}))
    assert cfg.think_ms == 40  # 4 clients at 200 ops/s: each waits U(0, 40 ms), 20 ms on average
    assert cfg.workload == s.workload and cfg.faults == () and cfg.crash_on_promise == 0.0
    run = run_in_sim(s, seed=9)
    assert {e.f for e in run.result.events if e.process < 1000} <= {"get", "append"}


def test_byte_level_toxics_are_named_in_a_warning_and_logged_as_skipped() -> None:
    s = parse_scenario(_scenario("  - bandwidth: {kb-per-s: 10}\n    at: 1s\n    for: 1s\n"
                                 "  - one-of: [{slicer: {}}, {slow-close: {delay: 1s}}]\n    at: 2s\n"),
                       source="x.yaml")
    assert warnings(s) == (
        "x.yaml:7 faults[0]: bandwidth has no meaning in the simulator (a byte-rate limit; the simulator's "
        "messages have no size); skipped there, applied in Docker",
        "x.yaml:10 faults[1]: slicer (one choice of a one-of) has no meaning in the simulator (slices a stream "
        "into chunks; the simulator's messages are not byte streams); skipped there, applied in Docker",
        "x.yaml:10 faults[1]: slow-close (one choice of a one-of) has no meaning in the simulator (delays "
        "closing a connection; the simulator has no connections); skipped there, applied in Docker")
    run = run_in_sim(s)
    skipped = [r for r in run.faults if r.action == "skip"]
    assert [r.step for r in skipped] == [0, 1] and "no meaning in the simulator" in (skipped[0].error or "")
    assert run.warnings == warnings(s) and not run.failed


def test_partitions_kills_pauses_and_restarts_act_on_the_world() -> None:
    s = parse_scenario(_scenario(
        "  - partition: {shape: isolate-leader, one-way: true}\n    at: 0.5s\n    for: 0.5s\n"
        "  - kill: {target: n2}\n    at: 1.2s\n    for: 0.3s\n"
        "  - pause: {target: n3}\n    at: 1.8s\n    for: 0.4s\n"
        "  - restart: {target: n1}\n    at: 2.4s\n"))
    run = run_in_sim(s)
    log = "\n".join(run.result.fault_log)
    assert "partition isolate-leader one-way (drop): n" in log  # the leader was found when the step started
    for words in ("node 2 killed", "node 2 restarted", "node 3 paused", "node 3 resumed", "node 1 killed",
                  "node 1 restarted"):
        assert words in log
    assert [(r.step, r.action) for r in run.faults if r.action != "heal-all"] == [
        (0, "apply"), (0, "heal"), (1, "apply"), (1, "heal"), (2, "apply"), (2, "heal"), (3, "apply")]
    assert run.faults[-1].action == "heal-all" and run.faults[-1].time == 3_000_000_000
    assert not run.failed, run.result.summary()


def test_latency_on_client_links_delays_every_operation() -> None:
    def mean_latency_ms(faults: str) -> float:
        events = run_in_sim(parse_scenario(_scenario(faults))).result.events
        start = {e.process: e.time or 0 for e in events if e.type == "invoke"}
        done = [(e.time or 0) - start[e.process] for e in events if e.type == "ok" and e.process < 1000]
        return sum(done) / len(done) / 1e6

    slow = mean_latency_ms("  - latency: {latency: 50ms, links: clients, target: all}\n    at: 0s\n    for: 3s\n")
    assert slow > mean_latency_ms("  []\n") + 40


def test_a_crash_point_fires_after_the_next_synced_record_and_the_replica_restarts() -> None:
    s = parse_scenario(_scenario("  - crash-point: {target: leader, after: accept, down: 50ms}\n    at: 1s\n"))
    run = run_in_sim(s)
    log = "\n".join(run.result.fault_log)
    assert "crash-point leader after its next synced accept record, down 50ms: armed n" in log
    assert "crashes at a crash point: synced accept" in log and "restarts in 50 ms" in log
    assert not run.failed, run.result.summary()


def test_a_deliberate_bug_is_caught_by_a_scenario_and_the_run_replays() -> None:
    s = parse_scenario(_scenario("  - partition: {shape: isolate-leader}\n    at: 1s\n    for: 1s\n"))
    run = run_in_sim(s, seed=1, bugs=("local-reads",))  # the first seed of 0.. that catches it
    assert run.result.safety_violation == "history is not linearizable"
    assert run.reproduce() == "paxos-chaos sim <string> --seed 1 --bugs local-reads"
    assert _jsonl(run_in_sim(s, seed=1, bugs=("local-reads",), check_history=False)) == _jsonl(run)
    assert run_in_sim(s, seed=1).result.safety_violation is None  # the same run without the bug is safe
    with_bugs = parse_scenario(_scenario("  - partition: {shape: isolate-leader}\n    at: 1s\n    for: 1s\n")
                               .replace("cluster: {", "cluster: {bugs: [local-reads], ", 1))
    assert run_in_sim(with_bugs, seed=1, bugs=()).reproduce() == "paxos-chaos sim <string> --seed 1 --bugs ''"


def test_scenarios_of_other_targets_are_refused_by_name_and_left_out_of_a_directory() -> None:
    said: list[str] = []
    assert scenarios_of([str(ROOT / "scenarios" / "etcd")], say=said.append) == []
    assert said and all("target etcd runs only in Docker" in s and "paxos-chaos run" in s for s in said)
    with pytest.raises(ScenarioError, match=r"maelstrom/kills.yaml: target maelstrom runs only in Docker"):
        scenarios_of([str(ROOT / "scenarios" / "maelstrom" / "kills.yaml")])


def test_sim_file_seed_writes_a_run_directory_like_a_docker_run(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(_scenario("  - partition: {shape: halves}\n    at: 1s\n    for: 1s\n"
                              "  - bandwidth: {kb-per-s: 1}\n    at: 1s\n    for: 1s\n"), encoding="utf-8")
    store = tmp_path / "store"
    assert main(["sim", str(path), "--seed", "5", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"warning: {path}:10 faults[1]: bandwidth has no meaning" in out
    assert f"reproduce: paxos-chaos sim {path} --seed 5" in out
    [run] = (store / "tiny").iterdir()
    assert {p.name for p in run.iterdir()} >= {"scenario.yaml", "history.jsonl", "faults.jsonl", "results.json",
                                               "junit.xml", "report.html", "summary.txt"}
    results = json.loads((run / "results.json").read_text())
    assert results["world"] == "simulator" and results["seed"] == 5 and results["exit_code"] == 0
    assert [c["outcome"] for c in results["cases"]] == ["pass"] * 4
    assert (store / "index.html").is_file() and "partition halves" in (run / "report.html").read_text()
    history = (run / "history.jsonl").read_bytes()
    assert main(["check", str(run / "history.jsonl")]) == 0  # the stand-alone checker reads it
    assert main(["sim", str(path), "--seed", "5", "--store", str(store)]) == 0
    again = max((store / "tiny").iterdir())
    assert again != run and (again / "history.jsonl").read_bytes() == history


def test_sim_files_sweep_seeds_and_bad_combinations_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(_scenario("  []\n", duration="1s"), encoding="utf-8")
    assert main(["sim", str(path), "--seeds", "2", "--jobs", "1"]) == 0
    assert "[sim] tiny: 2 seeds from 4," in capsys.readouterr().out
    assert main(["sim", str(path), "--size", "5"]) == 2
    assert "--size and --duration are for the simulator's own schedules" in capsys.readouterr().err


def test_power_loss_loses_every_unsynced_record_as_in_docker_and_catches_skip_fsync() -> None:
    s = parse_scenario(_scenario("  - power-loss: {target: all}\n    at: 1s\n    every: 1.5s\n    for: 0.3s\n"))
    clean = run_in_sim(s, seed=1)
    assert "node 2 loses power (1 unsynced records lost)" in clean.result.fault_log[7]  # none kept: powerfs's rule
    assert "node 1 restarted" in "\n".join(clean.result.fault_log) and not clean.failed, clean.result.summary()
    broken = run_in_sim(s, seed=1, bugs=("skip-fsync",))  # records written, never synced: all lost
    assert (broken.result.safety_violation or "").startswith("replicas disagree")


def test_corrupt_tail_loses_the_newest_record_and_a_flipped_byte_is_skipped_by_name() -> None:
    s = parse_scenario(_scenario("  - corrupt: {target: n1, where: random}\n    at: 0.5s\n    for: 0.2s\n"
                                 "  - corrupt: {target: n2}\n    at: 1.5s\n    for: 0.2s\n"), source="c.yaml")
    assert warnings(s) == ("c.yaml:7 faults[0]: corrupt (where: random) has no meaning in the simulator (a "
                           "flipped byte in the data files; the simulator's disk holds records, not bytes); "
                           "skipped there, applied in Docker",)
    run = run_in_sim(s)
    log = "\n".join(run.result.fault_log)
    assert "node 2: torn final write, 1 record cut when it starts again" in log and "node 2 restarted" in log
    assert "node 1" not in log and [r.action for r in run.faults if r.step == 0] == ["skip"]
    assert not run.failed, run.result.summary()
