"""Linearizability checker speed: the Porcupine kv corpus, and a 100,000-operation history of our shape.

Corpus: each file of tests/checker/corpus (the six Porcupine kv histories, vendored) is read, turned
into operations (timed once: parse ms) and checked (best and median of --repeat runs), with the
verdict compared to the known one. Porcupine's own figure on the same kind of machine (the corpus
README): about 145 ms for the six files, about 128 ms for c50-ok.

Big histories: tests/checker/histories.Execution, a seeded concurrent run against an in-memory
linearizable store (20 client processes, 10 keys, gets/puts/appends/deletes/cas, 3 % fail), 100,000
operations by default, once per share of info (unknown-outcome) operations in --p-info: those are
what makes the search hard. Generation is not timed. Memory is the process's peak RSS growth
during the check (ru_maxrss), which includes the operations themselves.

usage: .venv/bin/python benchmarks/checker.py [--repeat 7] [--ops 100000] [--p-info 0 0.003 0.01 0.03]
                                             [--budget-s 60] [--engine jit|wgl]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.checker import Verdict, check, model_for, operations, parse  # noqa: E402
from tests.checker.histories import Execution  # noqa: E402

CORPUS = ROOT / "tests" / "checker" / "corpus"
EXPECTED = {"c01-ok.txt": Verdict.VALID, "c01-bad.txt": Verdict.INVALID, "c10-ok.txt": Verdict.VALID,
            "c10-bad.txt": Verdict.INVALID, "c50-ok.txt": Verdict.VALID, "c50-bad.txt": Verdict.INVALID}


def corpus(repeat: int, engine: str) -> bool:
    print(f"{'file':<12} {'events':>6} {'verdict':>8} {'right':>5} {'parse ms':>8} {'best ms':>8} {'median ms':>9}")
    best_total = median_total = parse_total = 0.0
    all_right = True
    for name, expected in EXPECTED.items():
        text = (CORPUS / name).read_text(encoding="utf-8")
        t0 = time.perf_counter()
        parsed = parse(text, source=name)
        ops = operations(parsed.events, where=parsed.where)
        parse_ms = (time.perf_counter() - t0) * 1000
        parse_total += parse_ms
        model = model_for(parsed.model)
        times, verdict = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            verdict = check(model, ops, engine=engine).verdict
            times.append((time.perf_counter() - t0) * 1000)
        right = verdict == expected
        all_right &= right
        best, median = min(times), statistics.median(times)
        best_total += best
        median_total += median
        print(f"{name:<12} {len(parsed.events):>6} {verdict.name.lower() if verdict is not None else '-':>8} "
              f"{'yes' if right else 'NO':>5} {parse_ms:>8.1f} {best:>8.1f} {median:>9.1f}")
    print(f"{'total':<12} {'':>6} {'':>8} {'yes' if all_right else 'NO':>5} {parse_total:>8.1f} {best_total:>8.1f} "
          f"{median_total:>9.1f}")
    return all_right


def big(n_ops: int, engine: str, p_info: float, budget_s: float) -> bool:
    t0 = time.perf_counter()
    events = Execution(seed=1, processes=20, keys=10, ops=n_ops, p_info=p_info).run()
    ops = operations(events)
    gen_s = time.perf_counter() - t0
    infos = sum(1 for e in events if e.type == "info")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    end = time.monotonic() + budget_s
    t0 = time.perf_counter()
    result = check(model_for("kv"), ops, engine=engine, deadline=lambda: time.monotonic() > end)
    check_s = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{n_ops:>8,} {p_info:>7.3f} {infos:>6,} {result.verdict.name.lower():>8} {check_s:>8.2f} "
          f"{rss1 / 1024:>9.0f} {(rss1 - rss0) / 1024:>+8.0f}   (generated in {gen_s:.1f} s)", flush=True)
    return result.verdict == Verdict.VALID


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--engine", default="jit", choices=["jit", "wgl"])
    ap.add_argument("--p-info", type=float, nargs="+", default=[0.0, 0.003, 0.01, 0.03],
                    help="share of operations that end info (unknown outcome), one run each")
    ap.add_argument("--budget-s", type=float, default=60.0, help="check time budget per big history")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}; "
          f"engine {args.engine}")
    ok = corpus(args.repeat, args.engine)
    print(f"\nbig histories (20 processes, 10 keys, 3 % fail; budget {args.budget_s:g} s each; expected valid)")
    print(f"{'ops':>8} {'p_info':>7} {'infos':>6} {'verdict':>8} {'check s':>8} {'peak MiB':>9} {'+MiB':>8}")
    for p_info in args.p_info:
        ok &= big(args.ops, args.engine, p_info, args.budget_s)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
