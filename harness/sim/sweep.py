"""`paxos-chaos sim`: sweep seeds through the simulator, stop at the first failing one, replay any seed.

A sweep runs seeds `first, first+1, ...` (each a different network, fault plan and workload, all drawn
from the seed) until one fails a check or the seed or time budget is spent; both budgets are bounded.
A failing seed is written to `<store>/sim/<bugs>-seed<N>/`: the history (`history.jsonl`, checkable
with `paxos-chaos check`), the fault log and a `summary.txt` with the command that replays it. A
replay (`--seed N`) runs that one seed again and gives the same history, byte for byte.

Exit codes as for `run`: 0 every seed passed, 1 a seed failed a check, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from harness.scenario import seed_argument
from harness.sim.world import SimConfig, SimResult, simulate
from targets.errors import UsageError
from workloads.history import write_jsonl

__all__ = ["Sweep", "Until", "config_from_args", "parse_bugs", "register_sim", "replay_command", "sweep",
           "write_failure"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep:
    """How a sweep ended: the result that stopped it (None if none), seeds run, wall time, ops, and
    the seeds that failed without stopping it (with `until="safety"`: liveness-only failures)."""

    failure: SimResult | None
    seeds: int
    seconds: float
    ops: int
    passed_over: tuple[int, ...] = ()


Until = Literal["failure", "safety"]


def _verdict(cfg: SimConfig) -> tuple[bool, bool, int]:
    """Run one seed in a worker process: (failed, safety violation, ops). Small, so cheap to send back.

    A StopIteration out of the run (a core that calls next() on an empty iterator) becomes a
    RuntimeError: the sweep maps this function over its seeds, and map() would take it for the end of
    the seeds and report every seed passed.
    """
    try:
        r = simulate(cfg)
    except StopIteration as exc:
        raise RuntimeError(f"seed {cfg.seed}: the run raised StopIteration") from exc
    return r.failed, r.safety_violation is not None, r.ops


def sweep(base: SimConfig, *, first: int, count: int, until: Until = "failure", jobs: int = 1,
          max_seconds: float | None = None, progress: Callable[[str], None] | None = None,
          clock: Callable[[], float] = time.monotonic) -> Sweep:
    """Run seeds first..first+count-1 of `base` in seed order until one fails (`until="safety"`: fails
    a safety check), or `max_seconds` of wall time pass.

    With `jobs` > 1 the seeds run in that many processes; results are still taken in seed order, so
    the sweep stops at the same seed as with one job, and the stopping seed is run once more here for
    its whole result: the simulator is deterministic, so it is the same run.
    """
    start = clock()
    ops = 0
    run = 0
    passed_over: list[int] = []
    configs = (replace(base, seed=seed) for seed in range(first, first + count))
    with contextlib.ExitStack() as stack:
        if jobs > 1:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(jobs))
            verdicts: Iterator[tuple[bool, bool, int]] = pool.imap(_verdict, configs, chunksize=4)
        else:
            verdicts = map(_verdict, configs)
        for run, (failed, safety, n) in enumerate(verdicts, start=1):
            ops += n
            seed = first + run - 1
            if failed and (safety or until == "failure"):
                return Sweep(failure=simulate(replace(base, seed=seed)), seeds=run, seconds=clock() - start,
                             ops=ops, passed_over=tuple(passed_over))
            if failed:
                passed_over.append(seed)
            if progress is not None and run % 500 == 0:
                progress(f"[sim] {run} seeds passed ({ops} ops, {clock() - start:.0f} s)")
            if max_seconds is not None and clock() - start > max_seconds:
                break
    return Sweep(failure=None, seeds=run, seconds=clock() - start, ops=ops, passed_over=tuple(passed_over))


def replay_command(cfg: SimConfig) -> str:
    """The command that runs `cfg` (resolved) again. Everything but the seed, the bugs and the duration
    is drawn from the seed; the size is named too (pinning it to what the seed drew changes nothing:
    `SimConfig.resolved` draws every field whether pinned or not), so a reader sees it at once."""
    bugs = f" --bugs {','.join(sorted(cfg.bugs))}" if cfg.bugs else ""
    return f"paxos-chaos sim --seed {cfg.seed} --size {cfg.n} --duration {cfg.duration_ms}ms{bugs}"


def explain(result: SimResult) -> Iterator[str]:
    """The lines a person reads about one run: what failed, the replay command, what the nemesis did."""
    cfg = result.config
    yield result.summary()
    if result.safety_violation:
        yield f"safety: {result.safety_violation}"
    if result.check is not None and result.check.verdict.name != "VALID":
        for p in result.check.partitions:
            if p.verdict.name != "VALID":
                yield f"  key {p.key!r}: {p.verdict.name.lower()}" + (f" ({p.reason})" if p.reason else "")
    yield f"replay: {replay_command(cfg)}"
    yield (f"swarm: {cfg.n} replicas, {cfg.concurrency} clients, {cfg.keys} keys, think {cfg.think_ms} ms, "
           f"fault kinds {', '.join(sorted({f.kind for f in cfg.faults or ()})) or 'none'}; core limits: window "
           f"{cfg.core.window if cfg.core else '-'}, batch {cfg.core.batch_max if cfg.core else '-'}, queue "
           f"{cfg.core.queue_max if cfg.core else '-'}; messages {'over the wire' if cfg.wire else 'shared'}; "
           f"forged messages after {100 * (cfg.forge or 0.0):g} % of deliveries")
    yield (f"network: delay {cfg.net.delay_us[0]}-{cfg.net.delay_us[1]} us, loss {cfg.net.loss}, duplicate "
           f"{cfg.net.duplicate}, slow {cfg.net.slow}; retry_unknown {cfg.retry_unknown}; snapshot_every "
           f"{cfg.snapshot_every}" if cfg.net is not None else "network: -")
    yield "faults:"
    yield from (f"  {line}" for line in result.fault_log)


def write_failure(result: SimResult, store: Path) -> Path:
    """Write a failing run's history, fault log and summary; returns the directory."""
    cfg = result.config
    name = ("-".join(sorted(cfg.bugs)) or "no-bugs") + f"-n{cfg.n}-seed{cfg.seed}"
    out = store / "sim" / name
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    write_jsonl(result.events, buf)
    (out / "history.jsonl").write_text(buf.getvalue(), encoding="utf-8")
    (out / "summary.txt").write_text("\n".join(explain(result)) + "\n", encoding="utf-8")
    return out


def register_sim(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "sim", help="run the deterministic simulator over many seeds (or replay one)",
        description="Run the real Paxos core in virtual time with a seeded network, crashes and partitions; "
                    "stop at the first seed that fails a check. With scenario FILEs (or directories), run their "
                    "cluster, workload and fault plan instead, each from its own seed; --seed S replays one run "
                    "and writes its run directory to the store. Exit 0 all passed, 1 a seed failed, 2 bad "
                    "arguments.")
    p.add_argument("scenarios", nargs="*", metavar="FILE",
                   help="scenario files or directories to run in the simulator (default: its own random schedules)")
    p.add_argument("--seeds", type=int, default=1000, help="how many seeds to sweep (default 1000)")
    p.add_argument("--first-seed", type=seed_argument, default=None,
                   help="the first seed of the sweep (default 0; with FILEs, each file's seed)")
    p.add_argument("--seed", type=seed_argument, default=None, help="run (replay) only this seed and explain it")
    p.add_argument("--size", type=int, default=None,
                   help="replicas (default: drawn from each seed, 1-7, mostly 3, 5, 7: swarm testing); given, every seed has "
                        "it (not with FILEs)")
    p.add_argument("--bugs", default=None, help="deliberate replica bugs, comma-separated (default: none, or a "
                                               "FILE's own; '' clears a FILE's, as `run --bugs ''` does)")
    p.add_argument("--duration", default=None, help="virtual workload time per seed (default 4s; not with FILEs)")
    p.add_argument("--max-time", default="10m", help="wall-clock bound of the sweep (default 10m)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes to run seeds in (default: one per CPU); the result does not depend on it")
    p.add_argument("--store", default="store", help="where a failing (or, with FILEs, replayed) seed is written "
                                                     "(default ./store)")
    p.add_argument("--coverage", action="store_true",
                   help="report the branch coverage of the core (replica_image/paxos, kv) over the sweep "
                        "(coverage.py; runs the seeds in one process)")
    p.set_defaults(func=_run)


def _run_with_coverage(args: argparse.Namespace) -> int:
    """The same sweep in a child process under coverage.py; then the core's reach (`harness.sim.reach`)."""
    from harness.sim import reach

    argv = ["--seeds", str(args.seeds), "--first-seed", str(args.first_seed), "--duration", args.duration or "4s",
            "--max-time", args.max_time, "--jobs", "1", "--store", args.store]
    argv += (["--seed", str(args.seed)] if args.seed is not None else []) + (["--bugs", args.bugs] if args.bugs else [])
    argv += ["--size", str(args.size)] if args.size is not None else []
    code, files = reach.measure(argv)
    root = Path.cwd()
    print("\n".join(reach.render(files, root=root)))
    return code


def parse_bugs(text: str) -> tuple[str, ...]:
    """The bug names of a `--bugs a,b` option, in the order given (duplicates dropped), read by the one
    parser (`replica_image.bugs.parse_bugs`); an unknown name is a UsageError naming the option and
    listing the known ones. `sim`, `detect` and `run` all read --bugs this way."""
    from targets.paxos.core import UnknownBug
    from targets.paxos.core import parse_bugs as parse

    try:
        return parse(text)
    except UnknownBug as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."  # the parser's message names the bad one
        raise UsageError(f"--bugs {shown!r}: {exc}") from None


def config_from_args(args: argparse.Namespace) -> tuple[SimConfig, float]:
    """The sweep's base config (what is not given stays None: drawn per seed) and its --max-time in s.

    Raises:
        UsageError: a bad option, named.
    """
    from harness.durations import parse_duration_s

    try:
        duration_ms = round(parse_duration_s(args.duration or "4s") * 1000)
        max_s = parse_duration_s(args.max_time)
    except ValueError as exc:
        raise UsageError(f"--duration/--max-time: {exc}") from None
    if (args.size is not None and args.size < 1) or args.seeds < 1 or args.jobs < 1 or duration_ms < 100:
        raise UsageError("--size, --seeds and --jobs must be at least 1 and --duration at least 100ms")
    base = SimConfig(size=args.size, bugs=frozenset(parse_bugs(args.bugs or "")), duration_ms=duration_ms)
    return (base if args.seed is None else replace(base, seed=args.seed)), max_s


def _run(args: argparse.Namespace) -> int:
    if args.scenarios:  # scenario files: their own cluster, workload and faults (harness.sim.scenario_cli)
        from harness.durations import parse_duration_s
        from harness.sim.scenario_cli import run_files

        if args.seeds < 1 or args.jobs < 1:
            raise UsageError("--seeds and --jobs must be at least 1")
        try:
            max_s = parse_duration_s(args.max_time)
        except ValueError as exc:
            raise UsageError(f"--max-time: {exc}") from None
        return run_files(args, bugs=None if args.bugs is None else parse_bugs(args.bugs), max_seconds=max_s)
    args.first_seed = 0 if args.first_seed is None else args.first_seed
    base, max_s = config_from_args(args)
    if args.coverage:
        return _run_with_coverage(args)
    if args.seed is not None:
        result = simulate(base)
        print("\n".join(explain(result)))
        if result.failed:
            print(f"written to {write_failure(result, Path(args.store))}")
        return 1 if result.failed else 0
    done = sweep(base, first=args.first_seed, count=args.seeds, jobs=args.jobs, max_seconds=max_s,
                 progress=lambda s: print(s, flush=True))
    rate = done.seeds / done.seconds * 60 if done.seconds else 0.0
    print(f"[sim] {done.seeds} seeds, {done.ops} ops in {done.seconds:.1f} s ({rate:.0f} seeds/min)")
    if done.failure is None:
        print(f"[sim] every seed passed: {args.first_seed}..{args.first_seed + done.seeds - 1}")
        return 0
    print("\n".join(explain(done.failure)))
    print(f"written to {write_failure(done.failure, Path(args.store))}")
    return 1
