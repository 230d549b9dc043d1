"""Time to detect a target's known-unsafe mode: run a scenario under several seeds and report, per
seed, the verdict, when (seconds into the workload) the counterexample's first operation began, and
the wall time of the whole run (cluster up to cluster down).

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

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--store", default=str(ROOT / "store" / "bench-detection"))
    parser.add_argument("--node", help="target maelstrom: the node program (passed to run --node)")
    args = parser.parse_args()
    print("seed  exit  verdict   first counterexample op at   run wall time")
    for seed in args.seeds.split(","):
        store = Path(args.store) / f"seed-{seed}"
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", args.scenario, "--seed", seed,
                               "--store", str(store), "--port-base", "12000", "--project", "pc-bench-detect",
                               *(["--node", str(Path(args.node).resolve())] if args.node else [])],
                              cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        wall = time.monotonic() - t0
        found = sorted(store.rglob("results.json"))
        if not found:
            print(f"{seed:>4}  {proc.returncode:>4}  (no results) {proc.stderr.strip()[-300:]}")
            continue
        check = json.loads(found[-1].read_text())["check"] or {}
        starts = [op["call_time"] for p in check.get("partitions", []) if p.get("counterexample")
                  for op in p["counterexample"]["operations"] if isinstance(op.get("call_time"), int)]
        first = f"{min(starts) / 1e9:6.1f} s" if starts else "     -  "
        print(f"{seed:>4}  {proc.returncode:>4}  {check.get('verdict', '-'):<9} {first:>26}   {wall:8.1f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
