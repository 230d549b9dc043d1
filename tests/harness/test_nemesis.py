from __future__ import annotations

from faults.log import FaultLog


def _log(*entries: tuple[int, int | None, str, str]) -> FaultLog:
    it = iter([t for t, *_ in entries])
    log = FaultLog(clock_ns=lambda: next(it))
    for _, step, action, fault in entries:
        log.add(step=step, action=action, fault=fault)
    return log


def test_apply_and_heal_pair_into_intervals_and_open_faults_end_at_the_final_heal() -> None:
    s = 1_000_000_000
    log = _log((1 * s, 0, "apply", "partition halves"), (3 * s, 0, "heal", "partition halves"),
               (4 * s, 1, "apply", "kill n2"), (5 * s, 2, "error", "pause leader"),
               (9 * s, None, "heal-all", "heal everything"))
    intervals = log.intervals(end_s=20.0)
    assert [(i.start_s, i.end_s, i.label) for i in intervals] == [
        (1.0, 3.0, "partition halves"), (4.0, 9.0, "kill n2")]


def test_a_fault_still_open_without_a_final_heal_lasts_to_the_end_of_the_run() -> None:
    log = _log((2_000_000_000, 7, "apply", "latency"))
    [interval] = log.intervals(end_s=12.5)
    assert (interval.start_s, interval.end_s) == (2.0, 12.5)


def test_records_serialise_with_the_run_clock() -> None:
    log = _log((42, 3, "apply", "x"))
    assert log.records[0].to_dict() == {"time": 42, "step": 3, "action": "apply", "fault": "x", "nodes": [],
                                        "error": None}
