"""Does forget-promise-on-restart need fast restarts? The simulator's catches of it, with every restart
clamped to a range.

For each seed of the sweep, the seed's own config is drawn (`SimConfig.resolved`), then the downtime of
every kill, power loss and crash point is clamped to [LO, HI] ms, chance crash points included
(`restart_ms`), and the run is checked for a safety violation. A container restart takes 1-2 s; a
supervised process restarts in tens of milliseconds.

usage: .venv/bin/python benchmarks/sim_restart_speed.py [--seeds 3000] [--bug forget-promise-on-restart]
                                                        LO-HI [LO-HI ...]     e.g. 10-300 1000-2000
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.sim import SimConfig, simulate  # noqa: E402


def caught(seed: int, bug: str, lo: int, hi: int) -> bool:
    cfg = SimConfig(seed=seed, bugs=frozenset({bug}), restart_ms=(lo, hi)).resolved()
    assert cfg.faults is not None
    faults = tuple(replace(f, for_us=min(max(f.for_us, lo * 1000), hi * 1000))
                   if f.kind in ("kill", "power", "crash-point") else f for f in cfg.faults)
    return simulate(replace(cfg, faults=faults)).safety_violation is not None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ranges", nargs="+", metavar="LO-HI")
    ap.add_argument("--seeds", type=int, default=3000)
    ap.add_argument("--bug", default="forget-promise-on-restart")
    args = ap.parse_args()
    print(f"| restarts | seeds caught of {args.seeds} | which | wall time |")
    print("|---|---:|---|---:|")
    for text in args.ranges:
        lo, hi = (int(x) for x in text.split("-"))
        start = time.monotonic()
        hits = [s for s in range(args.seeds) if caught(s, args.bug, lo, hi)]
        print(f"| {lo}-{hi} ms | {len(hits)} | {', '.join(map(str, hits[:10])) or '-'} | "
              f"{time.monotonic() - start:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
