"""Build every image the project needs, offline when it must: `python -m harness.images`.

Three images, each reused when it already exists and is up to date:

- the Python base: `python:3.11-slim` when it is present or pullable, else a Debian bookworm rootfs made
  with `debootstrap --variant=minbase` (python3 + python3-aiohttp from the host's Debian mirror) and loaded
  with `docker import` as `paxos-chaos/python-base:bookworm`;
- each target's image on that base (`targets/<name>/` fills the build context: paxos is
  `paxos-chaos/replica:latest` from `replica_image/`, etcd is `paxos-chaos/etcd:latest` from Debian's
  etcd-server), rebuilt only when its sources or the base changed (a content hash in an image label);
- the Toxiproxy server (`paxos-chaos/toxiproxy:latest`): the official `ghcr.io/shopify/toxiproxy` when
  present or pullable, else our noxious-based server built with cargo under `faults/toxiproxy-server/`.
  Either way a one-line derived image adds the Docker HEALTHCHECK that suits it (the official image has
  no shell, only `/toxiproxy-cli`; ours has python3), so the compose file is the same for both.

`PYTHON_BASE_IMAGE` and `TOXIPROXY_IMAGE` override the detection. Every route taken is printed.
Only images carrying the label `io.paxos-chaos.managed=true` are ours; `--clean` removes exactly those.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker import DockerClient

from targets.contract import POWERFS_PATH, Target
from targets.errors import HarnessError, InfraError, UsageError
from targets.registry import TARGETS, get_target

__all__ = [
    "BASE_IMAGE",
    "MANAGED_LABEL",
    "TOXIPROXY_IMAGE",
    "BuildReport",
    "build_all",
    "main",
    "remove_our_images",
]

ROOT = Path(__file__).resolve().parent.parent
MANAGED_LABEL = "io.paxos-chaos.managed"
HASH_LABEL = "io.paxos-chaos.source-hash"

SLIM_IMAGE = "python:3.11-slim"
BASE_IMAGE = "paxos-chaos/python-base:bookworm"
OFFICIAL_TOXIPROXY = "ghcr.io/shopify/toxiproxy:2.9.0"
NOXIOUS_IMAGE = "paxos-chaos/toxiproxy-noxious:latest"
TOXIPROXY_IMAGE = "paxos-chaos/toxiproxy:latest"

DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TOXIPROXY_SRC = ROOT / "faults" / "toxiproxy-server"
POWERFS_SRC = ROOT / "faults" / "powerfs"
WORK_DIR = ROOT / ".images"
PULL_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildReport:
    """What `build_all` used: the image names and, for each, the route taken (printed to the user)."""

    python_base: str
    targets: tuple[str, ...]
    toxiproxy: str
    routes: tuple[str, ...]


def say(msg: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable."""
    print(f"[images] {msg}", file=sys.stderr, flush=True)


def connect() -> DockerClient:
    """A Docker client, or InfraError saying how to get one."""
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types here
        raise InfraError(
            f"cannot reach the Docker engine ({exc}); start Docker and check that `docker ps` works"
        ) from exc
    return client


def image_exists(client: DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_label(client: DockerClient, name: str, label: str) -> str | None:
    try:
        labels: dict[str, str] = client.images.get(name).labels or {}
    except docker.errors.ImageNotFound:
        return None
    return labels.get(label)


def image_id(client: DockerClient, name: str) -> str:
    """The image's id (`sha256:...`); InfraError when it vanished (someone removed it meanwhile)."""
    try:
        ident = client.images.get(name).id
    except docker.errors.ImageNotFound as exc:
        raise InfraError(f"image {name} disappeared during the build; re-run `make images`") from exc
    return str(ident)


def try_pull(client: DockerClient, name: str) -> bool:
    """Pull `name`; False (never an exception) when no registry is reachable, which is normal here."""
    say(f"trying to pull {name} ...")
    repo, _, tag = name.rpartition(":")
    try:
        client.images.pull(repo, tag=tag)
    except docker.errors.APIError as exc:
        say(f"  not pullable ({str(exc).splitlines()[0][:160]})")
        return False
    return True


# --------------------------------------------------------------------------------------------- base


def resolve_python_base(client: DockerClient) -> tuple[str, str]:
    """Return (image, route) for the Python base; builds it with debootstrap when nothing else works."""
    override = os.environ.get("PYTHON_BASE_IMAGE")
    if override:
        if image_exists(client, override) or try_pull(client, override):
            return override, f"python base: {override} (PYTHON_BASE_IMAGE)"
        raise UsageError(
            f"PYTHON_BASE_IMAGE={override}: no such image locally and it cannot be pulled; "
            "unset PYTHON_BASE_IMAGE to let `make images` build one offline"
        )
    if image_exists(client, SLIM_IMAGE):
        return SLIM_IMAGE, f"python base: {SLIM_IMAGE} (present)"
    if image_exists(client, BASE_IMAGE):
        return BASE_IMAGE, f"python base: {BASE_IMAGE} (present, built earlier with debootstrap)"
    if try_pull(client, SLIM_IMAGE):
        return SLIM_IMAGE, f"python base: {SLIM_IMAGE} (pulled)"
    t0 = time.monotonic()
    build_debootstrap_base()
    return BASE_IMAGE, f"python base: {BASE_IMAGE} (offline: debootstrap + docker import, {time.monotonic() - t0:.0f} s)"


def debian_mirror(sources: Iterator[Path] | None = None) -> str:
    """The Debian mirror the host already uses (so the build needs no new network access)."""
    paths = sources if sources is not None else _apt_source_files()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = mirror_from_sources_text(text)
        if found:
            return found
    return DEFAULT_MIRROR


def _apt_source_files() -> Iterator[Path]:
    yield Path("/etc/apt/sources.list")
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        yield from sorted(d.iterdir())


def mirror_from_sources_text(text: str) -> str | None:
    """The first main Debian archive URI in one-line (`deb URI suite ...`) or deb822 (`URIs:`) syntax."""
    for raw in text.splitlines():
        line = raw.strip()
        uri: str | None = None
        if line.startswith("deb ") and not line.startswith("deb-src"):
            parts = re.sub(r"\[[^\]]*\]", " ", line).split()[1:]  # drop `[arch=... signed-by=...]`
            uri = parts[0] if parts else None
        elif line.lower().startswith("uris:"):
            uri = line.split(":", 1)[1].split()[0] if line.split(":", 1)[1].split() else None
        if uri and uri.rstrip("/").endswith("/debian") and "security" not in uri:
            return uri.rstrip("/")
    return None


def ensure_debootstrap() -> str:
    """Path of debootstrap; installs it with apt-get when missing and root, else says what to install."""
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise InfraError(
            "no Python base image and none can be pulled, and debootstrap is not installed: "
            "install it (`sudo apt-get install debootstrap`) and re-run `make images` as root, "
            "or set PYTHON_BASE_IMAGE to an image with python3 >= 3.11 and aiohttp"
        )
    say("debootstrap is missing: apt-get install -y debootstrap")
    for attempt in range(2):
        proc = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if proc.returncode == 0:
            break
        if attempt == 0:  # a fresh machine may have empty package lists
            subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
    else:
        raise InfraError(f"apt-get install debootstrap failed: {proc.stderr.strip()[-400:]}")
    path = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    return path


def build_debootstrap_base() -> None:
    """debootstrap a minbase bookworm with python3 + aiohttp and `docker import` it as BASE_IMAGE."""
    if os.geteuid() != 0:
        raise InfraError(
            "building the offline Python base needs root (debootstrap); run `sudo make images`, "
            "or set PYTHON_BASE_IMAGE to an image with python3 >= 3.11 and aiohttp"
        )
    tool = ensure_debootstrap()
    mirror = debian_mirror()
    WORK_DIR.mkdir(exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=WORK_DIR))
    try:
        say(f"debootstrap {DEBIAN_SUITE} from {mirror} (about a minute) ...")
        cmd = [tool, "--variant=minbase", "--include=python3,python3-aiohttp", DEBIAN_SUITE, str(rootfs), mirror]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise InfraError(f"debootstrap failed (exit {proc.returncode}): {proc.stderr.strip()[-600:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        say(f"docker import -> {BASE_IMAGE}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["docker", "import",
             "--change", f"LABEL {MANAGED_LABEL}=true",
             "--change", 'CMD ["python3"]',
             "--change", "ENV LANG=C.UTF-8",
             "-", BASE_IMAGE],
            stdin=tar.stdout, capture_output=True, text=True, timeout=900,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait(timeout=60)
        if imp.returncode != 0:
            raise InfraError(f"docker import failed: {imp.stderr.strip()[-400:]}")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


# ------------------------------------------------------------------------------------------ targets


def tree_hash(paths: list[Path], *, extra: str = "") -> str:
    """A content hash of files (sorted by path) plus `extra`: decides whether an image is up to date."""
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def docker_build(client: DockerClient, *, context: Path, tag: str, buildargs: dict[str, str],
                 labels: dict[str, str]) -> None:
    """Build `context/Dockerfile` as `tag`; InfraError with the end of the build log on failure."""
    try:
        client.images.build(path=str(context), tag=tag, buildargs=buildargs, rm=True, forcerm=True,
                            labels={MANAGED_LABEL: "true", **labels}, pull=False)
    except docker.errors.BuildError as exc:
        tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)[-1500:]
        raise InfraError(f"docker build of {tag} failed: {exc}\n{tail}") from exc
    except docker.errors.APIError as exc:
        raise InfraError(f"docker build of {tag} failed: {exc}") from exc


def build_target(client: DockerClient, target: Target, base: str, *, force: bool) -> str:
    """Build the target's image on `base` unless one of the same sources and base exists; returns the route.

    The target fills the build context (targets/<name>/); the hash of its sources and the base's id,
    kept in an image label, decides whether a rebuild is needed.
    """
    digest = tree_hash(target.sources() + powerfs_sources(), extra=image_id(client, base))
    if not force and image_label(client, target.image, HASH_LABEL) == digest:
        return f"target {target.name}: {target.image} (present, sources unchanged)"
    ctx = WORK_DIR / f"{target.name}-context"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    t0 = time.monotonic()
    try:
        target.build_context(ctx, base=base, project_base=base == BASE_IMAGE)
        add_powerfs(ctx)
        say(f"building {target.image} on {base}")
        docker_build(client, context=ctx, tag=target.image, buildargs={"BASE_IMAGE": base},
                     labels={HASH_LABEL: digest, "io.paxos-chaos.target": target.name})
    except InfraError as exc:
        raise InfraError(f"target {target.name}: {exc}") from exc
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return f"target {target.name}: {target.image} (built on {base}, {time.monotonic() - t0:.0f} s)"


# ---------------------------------------------------------------------------------------- toxiproxy


def resolve_toxiproxy(client: DockerClient, base: str, *, force: bool) -> tuple[str, str]:
    """Return (upstream image, route): the override, the official image, or our noxious build."""
    override = os.environ.get("TOXIPROXY_IMAGE")
    if override:
        if image_exists(client, override) or try_pull(client, override):
            return override, f"toxiproxy: {override} (TOXIPROXY_IMAGE)"
        raise UsageError(f"TOXIPROXY_IMAGE={override}: no such image locally and it cannot be pulled; "
                         "unset TOXIPROXY_IMAGE to let `make images` build one offline")
    if image_exists(client, OFFICIAL_TOXIPROXY):
        return OFFICIAL_TOXIPROXY, f"toxiproxy: {OFFICIAL_TOXIPROXY} (present)"
    if try_pull(client, OFFICIAL_TOXIPROXY):
        return OFFICIAL_TOXIPROXY, f"toxiproxy: {OFFICIAL_TOXIPROXY} (pulled)"
    return NOXIOUS_IMAGE, build_noxious(client, base, force=force)


# Used only while faults/toxiproxy-server/ has no Dockerfile of its own (same contract: ARG BASE_IMAGE,
# the binary at ./dist/toxiproxy-server in the context, the server as ENTRYPOINT so compose passes flags).
FALLBACK_TOXIPROXY_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY dist/toxiproxy-server /usr/local/bin/toxiproxy-server
USER nobody
EXPOSE 8474
ENTRYPOINT ["/usr/local/bin/toxiproxy-server"]
CMD ["-host=0.0.0.0"]
"""


def noxious_sources() -> list[Path]:
    files = [TOXIPROXY_SRC / n for n in ("Cargo.toml", "Cargo.lock")]
    if (TOXIPROXY_SRC / "Dockerfile").exists():
        files.append(TOXIPROXY_SRC / "Dockerfile")
    files += [p for p in (TOXIPROXY_SRC / "src").rglob("*") if p.is_file()]
    files += [p for p in (TOXIPROXY_SRC / "vendor").rglob("*") if p.is_file()]  # noxious, patched
    missing = [str(p.relative_to(ROOT)) for p in files if not p.exists()]
    if missing:
        raise InfraError(f"cannot build the offline Toxiproxy server: missing {', '.join(missing)}")
    return files


def cargo_build(src: Path, binary: str, *, missing: str) -> Path:
    """`cargo build --release --locked` in `src` (incremental: seconds when nothing changed); returns the
    built `binary`, a glibc one for bookworm-based images. `missing` says what to do without cargo."""
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        raise InfraError(f"cargo is not installed: {missing}")
    name = src.relative_to(ROOT)
    say(f"cargo build --release --locked ({name})")
    proc = subprocess.run([cargo, "build", "--release", "--locked"], cwd=src,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise InfraError(f"cargo build of {name} failed: {proc.stderr.strip()[-1200:]}")
    path = Path(os.environ.get("CARGO_TARGET_DIR", src / "target")) / "release" / binary
    if not path.exists():
        raise InfraError(f"cargo build succeeded but {path} does not exist")
    return path


def cargo_binary() -> Path:
    """The Toxiproxy-compatible server of faults/toxiproxy-server, built with cargo."""
    return cargo_build(TOXIPROXY_SRC, "toxiproxy-server",
                       missing="the official Toxiproxy image cannot be pulled either: install Rust "
                               "(https://rustup.rs) so `make images` can build faults/toxiproxy-server, "
                               "or set TOXIPROXY_IMAGE")


def powerfs_sources() -> list[Path]:
    return sorted([POWERFS_SRC / "Cargo.toml", POWERFS_SRC / "Cargo.lock", *(POWERFS_SRC / "src").rglob("*.rs")])


def add_powerfs(ctx: Path) -> None:
    """Every target image carries powerfs at POWERFS_PATH, so any target's node can run under it (power
    loss): one rule for all targets, appended to the target's own Dockerfile."""
    shutil.copy2(build_powerfs(), ctx / "powerfs")
    with (ctx / "Dockerfile").open("a", encoding="utf-8") as fh:
        fh.write(f"\n# Added by harness/images.py: the power-loss layer (docs/powerfs.md).\n"
                 f"COPY powerfs {POWERFS_PATH}\n")


def build_powerfs() -> Path:
    """powerfs (faults/powerfs, the power-loss FUSE layer, docs/powerfs.md), built with cargo."""
    return cargo_build(POWERFS_SRC, "powerfs", missing="install Rust (https://rustup.rs) so faults/powerfs "
                                                       "(the power-loss FUSE layer) can be built")


def build_noxious(client: DockerClient, base: str, *, force: bool) -> str:
    """Build NOXIOUS_IMAGE (cargo on the host, copied onto the Python base) unless it is up to date."""
    digest = tree_hash(noxious_sources(), extra=image_id(client, base))
    if not force and image_label(client, NOXIOUS_IMAGE, HASH_LABEL) == digest:
        return f"toxiproxy: {NOXIOUS_IMAGE} (present, sources unchanged)"
    t0 = time.monotonic()
    binary = cargo_binary()
    ctx = WORK_DIR / "toxiproxy-context"
    shutil.rmtree(ctx, ignore_errors=True)
    (ctx / "dist").mkdir(parents=True)
    shutil.copy(binary, ctx / "dist" / "toxiproxy-server")
    if (TOXIPROXY_SRC / "Dockerfile").exists():
        shutil.copy(TOXIPROXY_SRC / "Dockerfile", ctx / "Dockerfile")
    else:
        say("faults/toxiproxy-server/Dockerfile is missing: using the builder's fallback Dockerfile")
        (ctx / "Dockerfile").write_text(FALLBACK_TOXIPROXY_DOCKERFILE, encoding="utf-8")
    say(f"building {NOXIOUS_IMAGE} on {base}")
    docker_build(client, context=ctx, tag=NOXIOUS_IMAGE, buildargs={"BASE_IMAGE": base},
                 labels={HASH_LABEL: digest})
    shutil.rmtree(ctx, ignore_errors=True)
    return f"toxiproxy: {NOXIOUS_IMAGE} (offline: noxious built with cargo, {time.monotonic() - t0:.0f} s)"


def has_file(client: DockerClient, image: str, path: str) -> bool:
    """Whether `image` contains `path`, without running it (create, read the archive, remove)."""
    box = client.containers.create(image, labels={MANAGED_LABEL: "true"})
    try:
        box.get_archive(path)
        return True
    except docker.errors.NotFound:
        return False
    finally:
        box.remove(force=True)


def healthcheck_for(client: DockerClient, upstream: str) -> str:
    """The HEALTHCHECK line for a Toxiproxy image: its CLI when it has one (no shell), else python3."""
    if has_file(client, upstream, "/toxiproxy-cli"):
        cmd = '["/toxiproxy-cli", "list"]'
    else:
        cmd = ('["python3", "-c", "import urllib.request; '
               "urllib.request.urlopen('http://127.0.0.1:8474/proxies', timeout=2)\"]")
    return f"HEALTHCHECK --interval=1s --timeout=3s --start-period=2s --retries=30 CMD {cmd}"


def build_toxiproxy(client: DockerClient, upstream: str, *, force: bool) -> None:
    """TOXIPROXY_IMAGE = `upstream` + the health check that suits it (reused when already derived from it)."""
    upstream_id = image_id(client, upstream)
    if not force and image_label(client, TOXIPROXY_IMAGE, HASH_LABEL) == upstream_id[:80]:
        return
    ctx = WORK_DIR / "toxiproxy-health"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(f"FROM {upstream}\n{healthcheck_for(client, upstream)}\n", encoding="utf-8")
    docker_build(client, context=ctx, tag=TOXIPROXY_IMAGE, buildargs={}, labels={HASH_LABEL: upstream_id[:80]})
    shutil.rmtree(ctx, ignore_errors=True)


# ------------------------------------------------------------------------------------------- driver


def build_all(*, force: bool = False, targets: tuple[str, ...] | None = None) -> BuildReport:
    """Make sure every image exists and is current (the base, each target's, Toxiproxy); print and
    return the routes taken. `targets` limits which targets' images are built (default: all).

    Raises:
        InfraError: Docker unreachable, or an offline build step failed (the message says what to install).
        UsageError: an override names an image that does not exist, or an unknown target.
    """
    wanted = [get_target(name) for name in (targets if targets is not None else tuple(TARGETS))]
    client = connect()
    base, r_base = resolve_python_base(client)
    say(r_base)
    routes = [r_base]
    for target in wanted:
        routes.append(build_target(client, target, base, force=force))
        say(routes[-1])
    upstream, r_toxi = resolve_toxiproxy(client, base, force=force)
    say(r_toxi)
    routes.append(r_toxi)
    build_toxiproxy(client, upstream, force=force)
    images = [t.image for t in wanted]
    say(f"cluster images ready: {', '.join(images)}, {TOXIPROXY_IMAGE}")
    return BuildReport(python_base=base, targets=tuple(images), toxiproxy=TOXIPROXY_IMAGE, routes=tuple(routes))


def remove_our_images(client: DockerClient) -> list[str]:
    """Remove every image labelled MANAGED_LABEL (never anyone else's); returns the removed tags/ids."""
    removed: list[str] = []
    # Derived images first, so their parents are no longer in use when we reach them.
    order = [TOXIPROXY_IMAGE, *(t.image for t in TARGETS.values()), NOXIOUS_IMAGE, BASE_IMAGE]
    images: list[Any] = client.images.list(filters={"label": f"{MANAGED_LABEL}=true"})
    images.sort(key=lambda im: min((order.index(t) for t in im.tags if t in order), default=-1))
    for im in images:
        try:
            client.images.remove(im.id, force=True)
            removed.append(",".join(im.tags) or im.id)
        except docker.errors.ImageNotFound:
            pass
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.images", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild our images even when up to date")
    parser.add_argument("--clean", action="store_true", help="remove our images (label io.paxos-chaos.managed)")
    parser.add_argument("--target", action="append", dest="targets", metavar="NAME",
                        help="build only this target's image (repeatable; default: every target)")
    args = parser.parse_args(argv)
    try:
        if args.clean:
            for name in remove_our_images(connect()):
                say(f"removed {name}")
            return 0
        t0 = time.monotonic()
        build_all(force=args.force, targets=tuple(args.targets) if args.targets else None)
        say(f"done in {time.monotonic() - t0:.1f} s")
    except HarnessError as exc:
        print(f"make images: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
