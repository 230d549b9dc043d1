"""The fault log of a run: what the nemesis applied and healed, when (faults.jsonl), and the
intervals the report draws. Pure data; the nemesis appends to it, the runner and the report read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FaultInterval", "FaultLog", "FaultRecord"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultInterval:
    """A fault that was on from `start_s` to `end_s` (seconds since the run started)."""

    start_s: float
    end_s: float
    label: str



@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRecord:
    """One line of faults.jsonl. `time` is ns since the workload started, like the history's."""

    time: int
    step: int | None
    action: str  # apply | heal | heal-all | error
    fault: str
    nodes: tuple[int, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"time": self.time, "step": self.step, "action": self.action, "fault": self.fault,
                "nodes": list(self.nodes), "error": self.error}


@dataclass(slots=True)
class FaultLog:
    """The run's fault log, in time order."""

    clock_ns: Callable[[], int]
    records: list[FaultRecord] = field(default_factory=list)

    def add(self, *, step: int | None, action: str, fault: str, nodes: tuple[int, ...] = (),
            error: str | None = None) -> FaultRecord:
        rec = FaultRecord(time=self.clock_ns(), step=step, action=action, fault=fault, nodes=nodes, error=error)
        self.records.append(rec)
        log.info("nemesis %s step=%s %s%s", action, step, fault, f" ({error})" if error else "")
        return rec

    def intervals(self, *, end_s: float) -> list[FaultInterval]:
        """Apply/heal pairs as intervals; a step never healed on its own lasts until the final heal."""
        # What a fault did after its heal (a node that refused to start on corrupted files) belongs in
        # its label: a reader of the report sees it beside the fault.
        effects: dict[int, list[str]] = {}
        for rec in self.records:
            if rec.action == "effect" and rec.step is not None:
                effects.setdefault(rec.step, []).append(rec.fault)

        def label(start: FaultRecord) -> str:
            return "; ".join([start.fault, *effects.get(start.step, [])]) if start.step is not None else start.fault

        open_: dict[int, FaultRecord] = {}
        out: list[FaultInterval] = []
        final = end_s
        for rec in self.records:
            if rec.action == "apply" and rec.step is not None:
                open_[rec.step] = rec
            elif rec.action == "heal" and rec.step in open_:
                start = open_.pop(rec.step)
                out.append(FaultInterval(start_s=start.time / 1e9, end_s=rec.time / 1e9, label=label(start)))
            elif rec.action == "heal-all":
                final = rec.time / 1e9
                for start in open_.values():
                    out.append(FaultInterval(start_s=start.time / 1e9, end_s=final, label=label(start)))
                open_.clear()
        out.extend(FaultInterval(start_s=s.time / 1e9, end_s=final, label=label(s)) for s in open_.values())
        return sorted(out, key=lambda i: i.start_s)
