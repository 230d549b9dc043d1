"""The fault log: apply/heal pairs become intervals, and what a fault did after its heal joins its label."""

from __future__ import annotations

from faults.log import FaultLog


def test_an_effect_after_the_heal_is_shown_with_its_fault() -> None:
    now = iter(range(0, 10_000_000_000, 1_000_000_000))
    log = FaultLog(clock_ns=lambda: next(now))
    log.add(step=0, action="apply", fault="corrupt (flipped byte) n3", nodes=(3,))
    log.add(step=1, action="apply", fault="kill n1", nodes=(1,))
    log.add(step=0, action="heal", fault="corrupt (flipped byte) n3", nodes=(3,))
    log.add(step=0, action="effect", fault="n3 refused to start on its corrupted files", nodes=(3,))
    log.add(step=None, action="heal-all", fault="heal everything")
    corrupt, kill = log.intervals(end_s=9.0)
    assert (corrupt.start_s, corrupt.end_s) == (0.0, 2.0)
    assert corrupt.label == "corrupt (flipped byte) n3; n3 refused to start on its corrupted files"
    assert (kill.start_s, kill.end_s, kill.label) == (1.0, 4.0, "kill n1")
