"""Linearizability checker speed: Porcupine's kv corpus, a small-value register corpus, 100,000 operations.

Kv corpus: each file of tests/checker/corpus (the six Porcupine kv histories, vendored) is read, turned
into operations (timed once: parse ms) and checked (best and median of --repeat runs), with the
verdict compared to the known one. Porcupine's own figure on the same kind of machine (the corpus
README): about 145 ms for the six files, about 128 ms for c50-ok.

Register corpus: 99 generated histories shaped like the Jepsen etcd logs in Porcupine's test data
(tests/checker/histories.SmallRegister: about 90 ops, 5 live clients, values 0-4, read/write/cas,
5-14 % info ops that retire their client; every other file has one read's value changed). The
verdict to agree with is plain WGL's on the history as recorded (no reductions), computed untimed.
Check time is summed over the files (best and median of --repeat runs each). We cannot run
Porcupine here (no Go toolchain), nor vendor its etcd logs; the info share was chosen so that the
code before issue 14 takes about as long on this corpus (about 520-580 ms) as it did on the real
logs (514 ms, the issue's figure), which makes the issue's Porcupine figure (393 ms) a fair yardstick.

Big histories: tests/checker/histories.Execution, a seeded concurrent run against an in-memory
linearizable store (20 client processes, 10 keys, gets/puts/appends/deletes/cas, 3 % fail), 100,000
operations by default, per share of info (unknown-outcome) operations in --p-info, each once as
generated (valid) and once with a sequential tail on k0 that ends with a stale read (put old, put new,
get old: invalid). Each runs in a fresh interpreter, so that peak RSS (ru_maxrss) is its own; "before
MiB" is the peak before the check (the interpreter and the operations). Generation is not timed.

usage: .venv/bin/python benchmarks/checker.py [--repeat 7] [--ops 100000] [--p-info 0.03 ...]
                                             [--register-files 99] [--budget-s 120] [--engine jit|wgl]
                                             [--only kv|register|big]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.checker import Verdict, check, model_for, operations, parse  # noqa: E402
from tests.checker.histories import Execution, SmallRegister  # noqa: E402
from workloads.history import Event  # noqa: E402

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


def small_register(repeat: int, engine: str, files: int) -> bool:
    """The generated small-value register corpus: check time summed over files, against plain WGL's verdict."""
    total_median = total_best = 0.0
    agree = 0
    verdicts: Counter[str] = Counter()
    worst = (0.0, "")
    for seed in range(files):
        events = small_register_history(seed)
        ops = operations(events)
        model = model_for("register")
        reference = check(model, ops, engine="wgl", drop_unobserved=False, deduce=False).verdict
        times, verdict = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            verdict = check(model, ops, engine=engine).verdict
            times.append((time.perf_counter() - t0) * 1000)
        agree += verdict == reference
        verdicts[reference.name.lower()] += 1
        median = statistics.median(times)
        total_median += median
        total_best += min(times)
        worst = max(worst, (median, f"seed {seed} ({len(ops)} ops)"))
    print(f"{files} files ({dict(verdicts)} by plain WGL), agree with plain WGL: {agree}/{files}; "
          f"check best {total_best:.1f} ms, median {total_median:.1f} ms summed; worst file {worst[0]:.1f} ms, "
          f"{worst[1]}")
    return agree == files


def small_register_history(seed: int) -> list[Event]:
    """One file of the corpus: about 90 ops; every other file has one read's value replaced (a likely
    but not certain violation: the verdict is whatever plain WGL says)."""
    rng = random.Random(f"small-register/{seed}")
    ex = SmallRegister(seed=seed, ops=rng.randint(80, 100), p_info=rng.uniform(0.05, 0.14))
    events = ex.run()
    if seed % 2:
        reads = [e for e in events[len(events) // 2:] if e.type == "ok" and e.f == "read"]
        if reads:
            e = rng.choice(reads)
            old = e.value if isinstance(e.value, int) else 0
            events[e.index] = dataclasses.replace(e, value=old + 1 + rng.randrange(3))
    return events


def big_history(n_ops: int, p_info: float, late_violation: bool) -> list[Event]:
    """tests/checker/histories.Execution (seed 1, 20 processes, 10 keys), with a sequential tail on k0
    that is fine or ends with a stale read (a put, another put, then a get of the first value)."""
    ex = Execution(seed=1, processes=20, keys=10, ops=n_ops, p_info=p_info)
    ex.run()
    return ex.tail("stale-read" if late_violation else None)


def big(n_ops: int, engine: str, p_info: float, budget_s: float, late_violation: bool) -> bool:
    """Runs the check in a fresh interpreter so that its peak RSS is this history's alone."""
    args = [sys.executable, __file__, "--one-big", str(n_ops), str(p_info), str(int(late_violation)),
            "--engine", engine, "--budget-s", str(budget_s)]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stdout, out.stderr, file=sys.stderr)
        return False
    r = json.loads(out.stdout.strip().splitlines()[-1])
    expected = "invalid" if late_violation else "valid"
    print(f"{n_ops:>8,} {p_info:>7.3f} {'late stale read' if late_violation else 'none':>15} {r['infos']:>6,} "
          f"{r['verdict']:>8} {r['check_s']:>8.2f} {r['peak_mib']:>9.0f} {r['before_mib']:>10.0f}   "
          f"(generated in {r['gen_s']:.1f} s{'; window ' + r['window'] if r['window'] else ''})", flush=True)
    return bool(r["verdict"] == expected)


def one_big(n_ops: int, engine: str, p_info: float, budget_s: float, late_violation: bool) -> None:
    t0 = time.perf_counter()
    events = big_history(n_ops, p_info, late_violation)
    ops = operations(events)
    gen_s = time.perf_counter() - t0
    infos = sum(1 for e in events if e.type == "info")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    end = time.monotonic() + budget_s
    t0 = time.perf_counter()
    result = check(model_for("kv"), ops, engine=engine, deadline=lambda: time.monotonic() > end)
    check_s = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cx = result.counterexamples
    window = f"{len(cx[0].operations)} ops shown" if cx else ""
    print(json.dumps({"verdict": result.verdict.name.lower(), "check_s": check_s, "gen_s": gen_s,
                      "infos": infos, "peak_mib": rss1 / 1024, "before_mib": rss0 / 1024, "window": window}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--engine", default="jit", choices=["jit", "wgl"])
    ap.add_argument("--p-info", type=float, nargs="+", default=[0.03],
                    help="share of operations that end info (unknown outcome), one pair of runs each")
    ap.add_argument("--register-files", type=int, default=99, help="files in the small-register corpus")
    ap.add_argument("--budget-s", type=float, default=120.0, help="check time budget per big history")
    ap.add_argument("--only", choices=["kv", "register", "big"], help="run one part only")
    ap.add_argument("--one-big", nargs=3, metavar=("OPS", "P_INFO", "LATE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_big:
        n, p, late = args.one_big
        one_big(int(n), args.engine, float(p), args.budget_s, late == "1")
        return 0
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}; "
          f"engine {args.engine}")
    ok = True
    if args.only in (None, "kv"):
        ok &= corpus(args.repeat, args.engine)
    if args.only in (None, "register"):
        print(f"\nsmall-value register corpus (generated, shaped like Porcupine's Jepsen etcd logs), {args.repeat} runs each")
        ok &= small_register(args.repeat, args.engine, args.register_files)
    if args.only in (None, "big"):
        print(f"\nbig histories (20 processes, 10 keys, 3 % fail; budget {args.budget_s:g} s each; "
              "each in its own process)")
        print(f"{'ops':>8} {'p_info':>7} {'anomaly':>15} {'infos':>6} {'verdict':>8} {'check s':>8} {'peak MiB':>9} "
              f"{'before MiB':>10}")
        for p_info in args.p_info:
            for late in (False, True):
                ok &= big(args.ops, args.engine, p_info, args.budget_s, late)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
