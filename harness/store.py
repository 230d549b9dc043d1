"""Where a run's results live: `store/<scenario>/<timestamp>/` and the `store/latest` link.

A run directory holds the scenario as run, history.jsonl, faults.jsonl, results.json, report.html,
junit.xml and every replica's log (DESIGN section 10). `store/latest` always points at the newest run
directory; it is replaced atomically so a reader never sees it half-written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["RunDir", "new_run_dir"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class RunDir:
    """One run's directory; helper methods write its files."""

    path: Path

    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        return target

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def new_run_dir(root: Path, scenario: str, *, now: datetime | None = None) -> RunDir:
    """Create `root/<scenario>/<UTC timestamp>/` (unique) and point `root/latest` at it.

    Args:
        root: the store directory (created when missing).
        scenario: the scenario name; characters unsafe in a path become `_`.
        now: the run's start time (default: now, UTC).
    """
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    base = root / (_SAFE.sub("_", scenario) or "scenario")
    base.mkdir(parents=True, exist_ok=True)
    path = base / stamp
    suffix = 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            suffix += 1
            path = base / f"{stamp}-{suffix}"
    _point_latest(root, path)
    return RunDir(path)


def _point_latest(root: Path, target: Path) -> None:
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target.relative_to(root))
    os.replace(tmp, link)
