"""The combined nemesis: executes a pure `FaultPlan` against the running cluster, and always heals.

Network steps go to `faults.toxiproxy.ToxiproxyNemesis`, process steps to `faults.docker.DockerProcesses`.
Leader-targeted steps ask the cluster who leads at the moment they are applied. Every apply, heal and
failure to do either is appended to the fault log with its time (DESIGN 5); a fault that cannot be
applied (no leader known, Docker refused) is logged and the run goes on, as Jepsen's nemesis records an
`:info` rather than aborting the test.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faults.docker import DockerProcesses
from faults.log import FaultLog
from faults.plan import CrashPoint, FaultPlan, FaultStep, ProcessAction, timeline
from faults.toxiproxy import ToxiproxyNemesis
from targets.errors import HarnessError

__all__ = ["Nemesis"]

log = logging.getLogger(__name__)

LeaderLookup = Callable[[], Awaitable[int | None]]
# How long a node restarted on corrupted files gets to either stay up or exit.
REFUSAL_WAIT_S = 8.0


def _damage_line(node: int, done: dict[str, object]) -> str:
    if done.get("damaged") is None:
        return f"n{node}: nothing to damage ({done.get('why')})"
    if done.get("where") == "tail":
        return f"n{node} {done['damaged']} lost its last {done.get('cut_bytes')} bytes"
    return f"n{node} {done['damaged']} byte {done.get('offset')} flipped"


class Nemesis:
    """Applies and heals a plan's steps on schedule.

    Obligations: `heal_all` must be awaited at the end of every run, also after an error or Ctrl-C;
    it is idempotent and heals network and process faults alike.
    """

    def __init__(self, *, net: ToxiproxyNemesis, procs: DockerProcesses, leader: LeaderLookup,
                 faults: FaultLog, clock_s: Callable[[], float], data_dir: str = "/data") -> None:
        self._net = net
        self._procs = procs
        self._data_dir = data_dir
        self._leader = leader
        self._log = faults
        self._clock_s = clock_s
        self._acted_on: dict[int, tuple[int, ...]] = {}
        # Nodes that would not start again after their files were corrupted: the fault's expected effect
        # on a correct node (it refuses to serve from damaged state), so the liveness check leaves them out.
        self.refused: set[int] = set()

    async def run(self, plan: FaultPlan, *, stop: asyncio.Event) -> None:
        """Execute the plan's timeline until it ends or `stop` is set (times are seconds since start)."""
        for event in timeline(plan):
            delay = event.at_s - self._clock_s()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return  # stop was set
                except asyncio.TimeoutError:
                    pass
            if stop.is_set():
                return
            if event.action == "apply":
                await self._apply(event.step)
            else:
                await self._heal(event.step)

    async def _apply(self, step: FaultStep) -> None:
        fault = step.fault
        leader: int | None = None
        try:
            # `None` as grudge or nodes means "whoever leads when the step is applied".
            if isinstance(fault, CrashPoint):  # the runner refuses these scenarios; never reached
                raise ValueError("crash-point is a simulator-only fault (run the scenario with `paxos-chaos sim`)")
            if getattr(fault, "grudge", 0) is None or getattr(fault, "nodes", 0) is None:
                leader = await self._leader()
            if isinstance(fault, ProcessAction):
                nodes = fault.nodes_for(leader=leader)
                self._acted_on[step.step] = nodes
                if fault.action == "power-loss":  # one power cut: every target node at the same moment
                    effects = list(await asyncio.gather(*(self._process(fault, node) for node in nodes)))
                else:
                    effects = [await self._process(fault, node) for node in nodes]
                detail = "; ".join(e for e in effects if e)
                self._log.add(step=step.step, action="apply", nodes=nodes,
                              fault=step.describe() + (f": {detail}" if detail else ""))
            else:
                applied = await self._net.apply(step, leader=leader)
                self._log.add(step=step.step, action="apply", fault=applied.description,
                              nodes=(leader,) if leader is not None else ())
        except (HarnessError, ValueError) as exc:
            self._log.add(step=step.step, action="error", fault=step.describe(), error=str(exc))

    async def _process(self, fault: ProcessAction, node: int) -> str | None:
        """Apply `fault` to `node`; returns what it did when that is worth a line of the fault log."""
        if fault.action == "kill":
            await self._procs.kill(node)
        elif fault.action == "power-loss":
            await self._procs.power_loss(node)
        elif fault.action == "corrupt":
            done = await self._procs.corrupt(node, where=fault.where, salt=fault.salt, data_dir=self._data_dir)
            return _damage_line(node, done)
        elif fault.action == "pause":
            await self._procs.pause(node)
        elif fault.graceful:
            await self._procs.restart(node)
        else:
            await self._procs.kill(node)
            await self._procs.start(node)
        return None

    async def _heal(self, step: FaultStep) -> None:
        fault = step.fault
        try:
            if isinstance(fault, ProcessAction):
                nodes = self._acted_on.pop(step.step, ())
                if not nodes or fault.action == "restart":
                    return
                for node in nodes:
                    if fault.action == "pause":
                        await self._procs.unpause(node)
                    else:
                        await self._procs.start(node)
                self._log.add(step=step.step, action="heal", fault=step.describe(), nodes=nodes)
                if fault.action == "corrupt":
                    await self._note_refusals(step, nodes)
            elif await self._net.heal(step) is not None:
                self._log.add(step=step.step, action="heal", fault=step.describe())
        except HarnessError as exc:
            self._log.add(step=step.step, action="error", fault=f"heal: {step.describe()}", error=str(exc))

    async def _note_refusals(self, step: FaultStep, nodes: tuple[int, ...]) -> None:
        """A node whose files were corrupted may rightly refuse to start: record that as the effect."""
        for node in nodes:
            why = await self._procs.refused_start(node, within_s=REFUSAL_WAIT_S)
            if why is not None:
                self.refused.add(node)
                self._log.add(step=step.step, action="effect", nodes=(node,),
                              fault=f"n{node} refused to start on its corrupted files (expected of a correct "
                                    f"node): {why}")

    async def heal_all(self) -> None:
        """Heal every fault: every proxy enabled and clean, every replica unpaused and started."""
        errors = []
        for what, heal in (("network", self._net.teardown), ("processes", self._procs.heal)):
            try:
                await heal()
            except HarnessError as exc:
                errors.append(f"{what}: {exc}")
        self._acted_on.clear()
        self._log.add(step=None, action="heal-all", fault="heal everything",
                      error="; ".join(errors) or None)
