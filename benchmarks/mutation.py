"""Mutation score of the simulator alone: cosmic-ray mutates the core and the kv; the only test is a sweep.

Every mutant cosmic-ray makes of the Paxos core and the kv state machine (MODULES below) is a
small realistic mistake nobody planted on purpose. The test that must notice it is the simulator and
nothing else (no unit test): `--test` runs seeds 0..N-1 of the default swarm sweep (`--seeds`, one
process) and exits 1 at the first seed that fails a check (a safety violation, a history that is not
linearizable, replicas that do not converge, or a core that raised), 0 if every seed passed. A mutant
is *killed* when that test fails (cosmic-ray also counts a test past its timeout as killed: the time
per mutant is printed so such cases can be told apart), *survived* otherwise.

cosmic-ray mutates files in place, so everything runs in a scratch copy of the tracked files; the
work tree is never touched. The full set of mutants (thousands: every binary operator is replaced by
each of ten others) is far too slow for two shared cores, so `--sample K` draws K of them with a
seeded `random.Random` (the others are marked skipped in cosmic-ray's session before `exec`).

Prints a summary and every survivor with its diff; `--out DIR` keeps the session (`session.sqlite`,
readable with `cosmic-ray dump`) and writes `results.json`.

usage: .venv/bin/python benchmarks/mutation.py [--sample 60] [--sample-seed 0] [--seeds 100] [--out DIR]
       .venv/bin/python benchmarks/mutation.py --test [--seeds 100]   (what cosmic-ray runs per mutant)
needs: .venv/bin/pip install -e '.[mutation]' (cosmic-ray 8.x; not in `make venv`)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The core: the Paxos replica and its log, ballots, quorums, and the kv. messages.py and config.py are
# left out: they are data types and the validation of inputs (a malformed peer message, a bad
# config), which the simulator, building only valid messages and configs, never exercises by design.
MODULES = ("replica_image/paxos/replica.py", "replica_image/paxos/log.py", "replica_image/paxos/ballot.py",
           "replica_image/paxos/quorum.py", "replica_image/kv.py")


def run_test(seeds: int) -> int:
    """The test of one mutant: the default sweep of `seeds` seeds; 1 at the first failing seed."""
    from harness.sim import SimConfig
    from harness.sim.sweep import sweep

    start = time.monotonic()
    try:
        done = sweep(SimConfig(), first=0, count=seeds)
    except Exception as exc:  # a mutant that breaks the core in a way the world does not catch
        print(f"KILLED crash: {type(exc).__name__}: {exc}"[:300])
        return 1
    if done.failure is None:
        print(f"SURVIVED {done.seeds} seeds in {time.monotonic() - start:.0f} s")
        return 0
    r = done.failure
    kind = ("safety" if r.safety_violation else "liveness" if r.liveness else "error" if r.error else "unknown")
    print(f"KILLED {kind} at seed {r.config.seed} (size {r.config.size}) in {time.monotonic() - start:.0f} s: "
          f"{r.summary()}"[:400])
    return 1


def _copy_tree(dst: Path) -> None:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (name.startswith(("replica_image/", "harness/", "targets/", "workloads/", "faults/"))
                     or name.startswith("benchmarks/mutation")):
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dst / name)


def _spec_key(item: Any) -> tuple[str, str, int]:
    """A mutant by what it is (file, operator, which occurrence), the same in every session of one tree."""
    m = item.mutations[0]
    return (str(m.module_path), m.operator_name, m.occurrence)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", action="store_true", help="run the test of one mutant (cosmic-ray calls this)")
    ap.add_argument("--seeds", type=int, default=100, help="seeds of the sweep that tests a mutant (default 100)")
    ap.add_argument("--sample", type=int, default=60, help="mutants to run, drawn at random (default 60)")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--same-as", type=Path, default=None, metavar="SESSION",
                    help="run the mutants an earlier run ran (its --out DIR/session.sqlite), not a new draw")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per mutant (default: 5x the baseline)")
    ap.add_argument("--out", default="", help="keep the session and results.json here")
    args = ap.parse_args()
    if args.test:
        return run_test(args.seeds)
    from cosmic_ray.work_db import WorkDB, use_db  # type: ignore[import-untyped]
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory(prefix="paxos-mutation-") as tmp:
        tree = Path(tmp) / "tree"
        _copy_tree(tree)
        test = f"{sys.executable} {tree / 'benchmarks' / 'mutation.py'} --test --seeds {args.seeds}"
        start = time.monotonic()
        base = subprocess.run(test.split(), cwd=tree, capture_output=True, text=True)
        baseline_s = time.monotonic() - start
        print(f"# baseline (no mutant): {base.stdout.strip()} ({baseline_s:.0f} s)", flush=True)
        if base.returncode != 0:
            print(f"the unmutated core fails the test: nothing to measure\n{base.stderr[-2000:]}", file=sys.stderr)
            return 2
        timeout = args.timeout or max(120.0, 5 * baseline_s)
        config = tree / "cosmic-ray.toml"
        config.write_text("[cosmic-ray]\n"
                          f"module-path = {json.dumps(list(MODULES))}\n"
                          f"timeout = {timeout}\nexcluded-modules = []\n"
                          f"test-command = {json.dumps(test)}\n\n"
                          "[cosmic-ray.distributor]\nname = \"local\"\n", encoding="utf-8")
        session = tree / "session.sqlite"
        cr = str(Path(sys.executable).with_name("cosmic-ray"))
        subprocess.run([cr, "init", str(config), str(session)], cwd=tree, check=True)
        with use_db(str(session), WorkDB.Mode.open) as db:
            # job ids are random uuids, new at every `init`: draw from the mutations' own order, so one
            # --sample-seed names one sample of one source tree (sorting by job id drew a new one each run)
            items = sorted(db.work_items, key=_spec_key)
            if args.same_as is not None:
                with use_db(str(args.same_as), WorkDB.Mode.open) as old:
                    wanted = {_spec_key(i) for i, r in old.completed_work_items
                              if r is not None and r.worker_outcome is not WorkerOutcome.SKIPPED}
                picked = {w.job_id for w in items if _spec_key(w) in wanted}
                if len(picked) != len(wanted):
                    print(f"--same-as: {len(wanted)} mutants there, {len(picked)} of them here (the core changed?)",
                          file=sys.stderr)
                    return 2
            else:
                picked = set(w.job_id for w in random.Random(args.sample_seed).sample(items, min(args.sample, len(items))))
            for w in items:
                if w.job_id not in picked:
                    db.set_result(w.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        which = f"those of {args.same_as}" if args.same_as is not None else f"drawn with seed {args.sample_seed}"
        print(f"# {len(items)} mutants of {', '.join(MODULES)}; running {len(picked)}, {which}, each against "
              f"seeds 0..{args.seeds - 1} (timeout {timeout:.0f} s)", flush=True)
        start = time.monotonic()
        subprocess.run([cr, "exec", str(config), str(session)], cwd=tree, check=True)
        print(f"# exec took {time.monotonic() - start:.0f} s", flush=True)
        rows = []
        with use_db(str(session), WorkDB.Mode.open) as db:
            for item, result in db.completed_work_items:
                if item.job_id not in picked or result is None:
                    continue
                m = item.mutations[0]
                rows.append({"job": item.job_id, "module": str(m.module_path), "line": m.start_pos[0],
                             "operator": m.operator_name, "outcome": result.test_outcome.value if result.test_outcome else "-",
                             "worker": result.worker_outcome.value, "output": (result.output or "").strip()[-400:],
                             "diff": result.diff or ""})
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(session, out / "session.sqlite")
            (out / "results.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    killed = [r for r in rows if r["outcome"] == TestOutcome.KILLED.value]
    survived = [r for r in rows if r["outcome"] == TestOutcome.SURVIVED.value]
    other = [r for r in rows if r not in killed and r not in survived]
    print(f"mutants run: {len(rows)}; killed {len(killed)}, survived {len(survived)}, other {len(other)}; "
          f"raw score {len(killed) / max(1, len(killed) + len(survived)):.0%}")
    for r in killed:
        print(f"  killed  {r['module']}:{r['line']} {r['operator']}: {r['output'].splitlines()[-1] if r['output'] else ''}"[:220])
    for r in survived + other:
        changed = [ln for ln in r["diff"].splitlines() if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))]
        print(f"  {r['outcome']:<8} {r['module']}:{r['line']} {r['operator']}: {' | '.join(changed)[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
