"""Time to detect a target's known-unsafe mode: run a scenario under several seeds and report, per
seed, the verdict, when (seconds into the workload) the counterexample's first operation began, when
the first operation the checker could not place completed (the anomaly was observable from then on),
and the wall time of the whole run (cluster up to cluster down). `--report-only` reads the stores of
an earlier run instead of running again.

    .venv/bin/python benchmarks/target_detection.py scenarios/etcd/serializable-reads.yaml --seeds 1,2,3
    .venv/bin/python benchmarks/target_detection.py scenarios/maelstrom/kills.yaml --seeds 1,2,3 \
        --node targets/maelstrom/examples/memory_kv.js

Needs `make images`. Each run is a fresh cluster on PORT_BASE 12000, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.scenario import load_scenario  # noqa: E402  (the repository root first, as `make` runs it)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--store", default=str(ROOT / "store" / "bench-detection"))
    parser.add_argument("--node", help="target maelstrom: the node program (passed to run --node)")
    parser.add_argument("--report-only", action="store_true", help="only read the stores of an earlier run")
    args = parser.parse_args()
    name = load_scenario(args.scenario).name  # runs are stored under store/seed-N/<name>/<time>/
    print("seed  exit  verdict   first counterexample op at   first unplaced op done at   run wall time")
    for seed in args.seeds.split(","):
        store = Path(args.store) / f"seed-{seed}"
        if args.report_only:
            found = sorted((store / name).glob("*/results.json"))
            data = json.loads(found[-1].read_text()) if found else {}
            _row(seed, data.get("exit_code", "-"), data.get("check") or {}, data.get("duration_s"))
            continue
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", args.scenario, "--seed", seed,
                               "--store", str(store), "--port-base", "12000", "--project", "pc-bench-detect",
                               *(["--node", str(Path(args.node).resolve())] if args.node else [])],
                              cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        wall = time.monotonic() - t0
        found = sorted((store / name).glob("*/results.json"))
        if not found:
            print(f"{seed:>4}  {proc.returncode:>4}  (no results) {proc.stderr.strip()[-300:]}")
            continue
        _row(seed, proc.returncode, json.loads(found[-1].read_text())["check"] or {}, wall)
    return 0


def _row(seed: str, code: object, check: dict[str, Any], wall: float | None) -> None:
    examples = [p["counterexample"] for p in check.get("partitions", []) if p.get("counterexample")]
    starts = [op["call_time"] for ex in examples for op in ex["operations"] if isinstance(op.get("call_time"), int)]
    unplaced = [op.get("ret_time") or op["call_time"] for ex in examples for op in ex["operations"]
                if op.get("id") in set(ex.get("unplaced") or ())]
    first = f"{min(starts) / 1e9:6.1f} s" if starts else "     -  "
    shown = f"{min(unplaced) / 1e9:6.1f} s" if unplaced else "     -  "
    took = f"{wall:8.1f} s" if wall is not None else "       -"
    print(f"{seed:>4}  {code!s:>4}  {check.get('verdict', '-'):<9} {first:>26}   {shown:>25}   {took}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
