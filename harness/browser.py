"""What a person sees: a page of the store rendered by headless Chromium (Debian's `chromium`).

`screenshot` loads one local HTML file, writes a PNG of it and returns what the page printed on its
console (our pages have no scripts, so anything there is a defect). Chromium is kept off every
network: host resolution fails for every name but localhost, and its background services (updates,
sync, metrics) are off, so rendering a report never leaves the machine. `paxos-chaos report
--screenshots` uses it to put `report.png` beside each report and `index.png` beside the index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from targets.errors import InfraError

__all__ = ["PageShot", "find_chromium", "screenshot"]

NAMES = ("chromium", "chromium-browser", "google-chrome")
_QUIET = ("--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-sync",
          "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
          "--disable-domain-reliability", "--metrics-recording-only", "--mute-audio",
          "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost", "--enable-logging=stderr", "--v=0")


@dataclass(frozen=True, slots=True, kw_only=True)
class PageShot:
    """A rendered page: its PNG, and every line the page wrote to its console (errors included)."""

    png: Path
    console: tuple[str, ...]


def find_chromium() -> str:
    """The Chromium binary; InfraError saying how to install it when there is none."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise InfraError("no Chromium found (chromium, chromium-browser or google-chrome): on Debian or Ubuntu "
                     "`apt-get install chromium`; `make test` installs it where it runs as root")


def screenshot(page: Path, png: Path, *, width: int = 1200, height: int = 2400, timeout_s: float = 90.0) -> PageShot:
    """Render `page` (a local HTML file) into `png`; InfraError when Chromium fails or makes no image."""
    chrome = find_chromium()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="paxos-chaos-chromium-") as profile:
        cmd = [chrome, *_QUIET, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png.resolve()}", page.resolve().as_uri()]
        if os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise InfraError(f"Chromium did not render {page} within {timeout_s:g} s") from None
    if not png.is_file() or png.stat().st_size == 0:
        tail = " | ".join(line for line in proc.stderr.splitlines()[-5:] if line.strip())[-600:]
        raise InfraError(f"Chromium made no screenshot of {page} (exit {proc.returncode}): {tail}")
    console = tuple(line.split("] ", 1)[-1] for line in proc.stderr.splitlines() if ":CONSOLE" in line)
    return PageShot(png=png, console=console)
