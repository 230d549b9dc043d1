"""Download, on the host, the Debian packages a target image installs with dpkg (no network in the build).

Target images are built on the project's offline base (Debian bookworm minbase + python3 + python3-aiohttp),
so they need their packages (etcd: `etcd-server`, `iptables`; maelstrom: the runtimes) plus every
dependency a minbase lacks. That set is computed with
apt's own resolver rather than by walking `apt-cache depends`, because a walk cannot choose between the
alternatives of an `a | b` dependency and would download (and dpkg would then try to install) both:

1. the minbase is simulated: `apt-get -s install <every Priority: required package> apt usr-is-merged`
   against an EMPTY dpkg status file (what debootstrap --variant=minbase installs for bookworm);
2. the same simulation with the target's packages added (Depends and Pre-Depends only, no Recommends);
3. the packages in 2 and not in 1, at the versions apt chose, are fetched with `apt-get download`.

Nothing on the host is installed or changed, except `apt-get update` when the package lists do not know
one of the packages (which needs root). Works on a fresh Debian bookworm host; every command has a timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

__all__ = ["download_debs"]

#: Installed by debootstrap --variant=minbase besides the Priority: required packages (bookworm).
_MINBASE_EXTRA: tuple[str, ...] = ("apt", "usr-is-merged")

_UPDATE_TIMEOUT_S = 300.0
_QUERY_TIMEOUT_S = 120.0
_DOWNLOAD_TIMEOUT_S = 600.0
# "Inst libmnl0 (1.0.4-3 Debian:12.13/stable [amd64])" or, on a multiarch host, "Inst libc6:i386 (...)".
_INST = re.compile(r"^Inst (?P<pkg>[^\s:]+)(?::(?P<arch>\S+))? (?:\[[^\]]*\] )?\((?P<ver>\S+) ")


def _run(args: list[str], *, timeout: float, what: str, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    """Run one apt command and return its stdout; RuntimeError naming the command on any failure."""
    try:
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise RuntimeError(f"{what}: {args[0]} is not installed; run this on a Debian bookworm host") from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what}: `{' '.join(args[:4])} ...` did not finish within {timeout:g} s "
                           "(is the Debian mirror reachable?)") from exc
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise RuntimeError(f"{what}: `{' '.join(args[:4])} ...` exited with {done.returncode}: {tail}")
    return done.stdout


def _apt_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


def _ensure_lists(packages: tuple[str, ...]) -> None:
    """Run `apt-get update` only when the package lists do not offer every one of `packages`."""
    def missing() -> list[str]:
        out = _run(["apt-cache", "policy", *packages], timeout=_QUERY_TIMEOUT_S, what="apt-cache policy",
                   env=_apt_env())
        offered = set(re.findall(r"^(\S+):\n\s+Installed: .*\n\s+Candidate: (?!\(none\))", out, re.M))
        return [p for p in packages if p not in offered]

    if not missing():
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"the apt package lists do not offer {', '.join(missing())}: run `apt-get update` "
                           "as root (or run this as root) on a Debian bookworm host")
    _run(["apt-get", "update"], timeout=_UPDATE_TIMEOUT_S, what="apt-get update", env=_apt_env())
    if still := missing():
        raise RuntimeError(f"after apt-get update the package lists still do not offer {', '.join(still)}: "
                           "this needs Debian bookworm's main archive in /etc/apt/sources.list(.d)")


def _required_packages() -> list[str]:
    """Every package whose Priority is required (or that is Essential), as debootstrap's minbase takes."""
    out = _run(["apt-cache", "dumpavail"], timeout=_QUERY_TIMEOUT_S, what="apt-cache dumpavail", env=_apt_env())
    required: set[str] = set()
    for stanza in out.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if "Package" in fields and (fields.get("Priority") == "required" or fields.get("Essential") == "yes"):
            required.add(fields["Package"])
    if "dpkg" not in required or "libc-bin" not in required:
        raise RuntimeError("apt-cache dumpavail lists no Priority: required packages (dpkg, libc-bin): "
                           "the apt package lists look empty or are not Debian's")
    return sorted(required)


def _simulate(packages: list[str], status: Path) -> dict[str, str]:
    """What `apt-get install` would install on a system with nothing installed: {pkg[:arch]: version}."""
    out = _run(["apt-get", "-s", "-q", "-o", f"Dir::State::status={status}", "-o", "APT::Install-Recommends=false",
                "-o", "APT::Install-Suggests=false", "-o", "Debug::NoLocking=true", "install", *packages],
               timeout=_QUERY_TIMEOUT_S, what="apt-get -s install (dependency resolution)", env=_apt_env())
    chosen: dict[str, str] = {}
    for line in out.splitlines():
        if m := _INST.match(line):
            name = m["pkg"] if m["arch"] in (None, "all", _native_arch()) else f"{m['pkg']}:{m['arch']}"
            chosen[name] = m["ver"]
    if not chosen:
        raise RuntimeError(f"apt-get -s install {' '.join(packages[-3:])} chose no package; output: {out[-1000:]}")
    return chosen


_ARCH: list[str] = []


def _native_arch() -> str:
    if not _ARCH:
        _ARCH.append(_run(["dpkg", "--print-architecture"], timeout=30, what="dpkg --print-architecture").strip())
    return _ARCH[0]


def _deb_package(path: Path) -> str:
    return _run(["dpkg-deb", "--field", str(path), "Package"], timeout=30, what=f"dpkg-deb --field {path}").strip()


def download_debs(dest: Path, packages: tuple[str, ...]) -> list[Path]:
    """Download `packages` and every dependency a bookworm minbase lacks into `dest`.

    `dest` is created if needed; .deb files already in it that are not part of the new set are removed,
    so `dpkg -i debs/*.deb` installs exactly this set. Returns the .deb paths, sorted.
    Raises RuntimeError with the failing command and its output (apt missing, mirror unreachable,
    lists without one of the packages, a download that failed or timed out).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _ensure_lists(packages)
    base = _required_packages() + list(_MINBASE_EXTRA)
    with tempfile.TemporaryDirectory(prefix="target-debs-") as tmp:
        status = Path(tmp) / "status"
        status.write_text("")
        minbase = _simulate(base, status)
        full = _simulate(base + list(packages), status)
    wanted = {pkg: ver for pkg, ver in sorted(full.items()) if minbase.get(pkg) != ver}
    absent = [p for p in packages if p not in wanted]
    if absent:
        raise RuntimeError(f"apt resolved {', '.join(absent)} as part of a minbase: unexpected package lists")

    for old in dest.glob("*.deb"):
        old.unlink()
    # Downloading as root: apt would hand the download to the _apt user, who may not be able to write dest.
    _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
          *(f"{pkg}={ver}" for pkg, ver in wanted.items())],
         cwd=dest, timeout=_DOWNLOAD_TIMEOUT_S, what="apt-get download", env=_apt_env())

    debs = sorted(dest.glob("*.deb"))
    got = {_deb_package(deb) for deb in debs}
    lacking = sorted({pkg.split(":")[0] for pkg in wanted} - got)
    if lacking:
        raise RuntimeError(f"apt-get download left no .deb for {', '.join(lacking)} in {dest}")
    return debs


if __name__ == "__main__":  # python -m targets.debs DEST PACKAGE...: a manual check
    import sys

    for path in download_debs(Path(sys.argv[1]), tuple(sys.argv[2:])):
        print(path)
