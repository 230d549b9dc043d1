"""`paxos-chaos sim --coverage`: which branches of the core a sweep reaches (coverage.py, branch mode).

The core is the Paxos package (`replica_image/paxos/`) and the kv state machine (`replica_image/kv.py`),
reached, like everything the simulator drives, through `targets.paxos.core`. The sweep runs in a child
Python process (one job) with coverage started before anything of ours is imported, so the lines that
run at import (`def`, `class`, constants) count as run, and what is left missing is what the sweep never
executed. The child writes coverage.py's JSON report to a temporary directory; this module reads it and
prints a summary per file and every missed branch with its source line.

Like `harness.sim.sweep`, this is the command side of the simulator (processes, files, the wall clock):
the simulated world itself stays pure. coverage.py is a dev dependency (`pip install -e '.[dev]'`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from targets.errors import UsageError

__all__ = ["FileReach", "core_files", "measure", "render"]

# The child: start coverage, then import and run the CLI. argv[1]: the JSON report path; argv[2]: the
# include patterns, comma-separated; the rest: the `paxos-chaos` arguments.
_CHILD = """
import sys, coverage
cov = coverage.Coverage(branch=True, data_file=None, include=sys.argv[2].split(","), config_file=False)
cov.start()
from harness.cli import main
try:
    code = main(sys.argv[3:])
finally:
    cov.stop()
    cov.json_report(outfile=sys.argv[1], pretty_print=False)
sys.exit(code)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReach:
    """What a sweep reached in one file of the core."""

    path: Path
    statements: int
    missing_lines: tuple[int, ...]
    branches: int
    missing_branches: tuple[tuple[int, int], ...]  # (from line, to line); to < 0: leaving the function

    @property
    def covered_branches(self) -> int:
        return self.branches - len(self.missing_branches)


def core_files() -> tuple[Path, ...]:
    """The files of the core: the Paxos package's modules and the kv state machine."""
    from targets.paxos.core import KV, Replica

    paxos = Path(sys.modules[Replica.__module__].__file__ or "").parent
    kv = Path(sys.modules[KV.__module__].__file__ or "")
    return (*sorted(paxos.glob("*.py")), kv)


def measure(sim_argv: Sequence[str], *, files: Sequence[Path] | None = None) -> tuple[int, list[FileReach]]:
    """Run `paxos-chaos sim *sim_argv` under coverage in a child process; (its exit code, per-file reach).

    Raises:
        UsageError: coverage.py is not installed.
    """
    try:
        import coverage  # noqa: F401 - only to say clearly that it is missing
    except ImportError:
        raise UsageError("--coverage needs coverage.py: pip install -e '.[dev]' (or pip install coverage)") from None
    files = tuple(files or core_files())
    with tempfile.TemporaryDirectory(prefix="paxos-chaos-reach-") as tmp:
        report = Path(tmp) / "coverage.json"
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(report), ",".join(map(str, files)), "sim",
                               *sim_argv], check=False)
        if not report.exists():
            raise UsageError(f"the sweep under coverage stopped (exit {proc.returncode}) before its report")
        data = json.loads(report.read_text(encoding="utf-8"))
    by_path = {Path(name).resolve(): entry for name, entry in data["files"].items()}
    reach = []
    for path in files:
        entry = by_path.get(path.resolve())
        if entry is None:  # never imported: nothing of it ran
            reach.append(FileReach(path=path, statements=-1, missing_lines=(), branches=-1, missing_branches=()))
            continue
        s = entry["summary"]
        reach.append(FileReach(path=path, statements=s["num_statements"], missing_lines=tuple(entry["missing_lines"]),
                               branches=s.get("num_branches", 0),
                               missing_branches=tuple((a, b) for a, b in entry.get("missing_branches", ()))))
    return proc.returncode, reach


def render(reach: Sequence[FileReach], *, root: Path | None = None) -> Iterator[str]:
    """A per-file table, a total, then every missed branch with its source line."""
    def name(p: Path) -> str:
        return str(p.relative_to(root)) if root is not None and p.is_relative_to(root) else str(p)

    width = max(len(name(r.path)) for r in reach)
    yield f"{'file':<{width}}  stmts  missed  branches  missed  branch cover"
    totals = [0, 0, 0, 0]
    for r in reach:
        if r.statements < 0:
            yield f"{name(r.path):<{width}}  (never imported)"
            continue
        pct = 100.0 * r.covered_branches / r.branches if r.branches else 100.0
        yield (f"{name(r.path):<{width}}  {r.statements:5}  {len(r.missing_lines):6}  {r.branches:8}  "
               f"{len(r.missing_branches):6}  {pct:11.1f}%")
        for k, v in enumerate((r.statements, len(r.missing_lines), r.branches, len(r.missing_branches))):
            totals[k] += v
    pct = 100.0 * (totals[2] - totals[3]) / totals[2] if totals[2] else 100.0
    yield f"{'total':<{width}}  {totals[0]:5}  {totals[1]:6}  {totals[2]:8}  {totals[3]:6}  {pct:11.1f}%"
    missed = [(r, a, b) for r in reach for a, b in r.missing_branches]
    yield f"missed branches: {len(missed)}" + (" (line -> line it never went to; exit: out of the function)"
                                               if missed else "")
    lines: dict[Path, list[str]] = {}
    for r, a, b in missed:
        text = lines.setdefault(r.path, r.path.read_text(encoding="utf-8").splitlines())
        to = "exit" if b < 0 else str(b)
        yield f"  {name(r.path)}:{a}->{to}  {text[a - 1].strip()[:90]}"
    if any(r.missing_lines for r in reach):
        yield "lines never run: " + "; ".join(f"{name(r.path)}: {_ranges(r.missing_lines)}"
                                              for r in reach if r.missing_lines)


def _ranges(nums: Sequence[int]) -> str:
    """1, 2, 3, 7 -> '1-3, 7'."""
    out: list[str] = []
    for n in sorted(nums):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)
