"""Damage a stopped node's data files: the `corrupt` fault (DESIGN 5, docs/scenarios.md).

This file runs twice over: imported by the harness (tests, the plan's wording) and, as its own source
text, by `python3 -c` in a one-shot container that mounts the stopped node's volumes. So it needs only
the standard library and names nothing of the project.

What it does, target-agnostic (it knows nothing of a node's file formats):
- `tail`, a torn final write: the newest file (by modification time) loses its last 1..512 bytes, as a
  write cut short by a crash leaves it. A correct node cuts the partial record and rejoins.
- `random`, a flipped byte: one byte anywhere in the node's files (a file picked with odds by size) is
  XORed with a non-zero mask. A correct node notices (checksums) and refuses to start rather than serve
  from damaged state; with a majority intact the cluster loses nothing acknowledged.
Which file, which offset and which mask come from `salt` (drawn by the fault plan), so a seed replays the
same damage on the same files. Bookkeeping of powerfs (`.powerfs`) is never touched.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

SKIP_DIRS = frozenset({".powerfs"})
MAX_TORN_BYTES = 512


def data_files(root: Path) -> list[tuple[Path, int, float]]:
    """(path, size, mtime) of every non-empty regular file under `root`, in path order."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(folder) / name
            st = path.lstat()
            if path.is_file() and not path.is_symlink() and st.st_size > 0:
                out.append((path, st.st_size, st.st_mtime))
    return out


def damage(root: Path, where: str, salt: int) -> dict[str, object]:
    """Damage the files under `root` as `where` says; returns what was done (for the fault log)."""
    rng = random.Random(salt)
    files = data_files(root)
    if not files:
        return {"damaged": None, "why": f"no non-empty file under {root}"}
    if where == "tail":
        path, size, _ = max(files, key=lambda f: (f[2], str(f[0])))
        cut = rng.randint(1, min(size, MAX_TORN_BYTES))
        with open(path, "r+b") as fh:
            fh.truncate(size - cut)
            os.fsync(fh.fileno())
        return {"damaged": str(path.relative_to(root)), "where": "tail", "cut_bytes": cut, "size": size}
    if where == "random":
        total = sum(size for _, size, _ in files)
        pick = rng.randrange(total)
        for path, size, _ in files:
            if pick < size:
                break
            pick -= size
        mask = rng.randint(1, 255)
        with open(path, "r+b") as fh:
            fh.seek(pick)
            old = fh.read(1)[0]
            fh.seek(pick)
            fh.write(bytes([old ^ mask]))
            os.fsync(fh.fileno())
        return {"damaged": str(path.relative_to(root)), "where": "random", "offset": pick,
                "old": old, "new": old ^ mask}
    raise ValueError(f"where must be tail or random, not {where!r}")


def main(argv: list[str]) -> int:
    """`python3 corrupt.py ROOT tail|random SALT`: print what was done as one JSON line."""
    if len(argv) != 3:
        print("usage: corrupt.py ROOT tail|random SALT", file=sys.stderr)
        return 2
    root, where, salt = Path(argv[0]), argv[1], int(argv[2])
    if not root.is_dir():
        print(f"corrupt: {root} is not a directory", file=sys.stderr)
        return 2
    print(json.dumps(damage(root, where, salt), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
