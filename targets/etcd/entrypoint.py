#!/usr/bin/env python3
"""Entrypoint of the etcd image: route every peer link through Toxiproxy, then become etcd.

Member j listens for peers on port 2380+j and advertises http://nj:(2380+j) to everyone. etcd has one
peer URL per member, but node i must reach node j only through proxy `ni-nj`, whose address the harness
passes in PEER_ROUTES. So, in node i's own network namespace, this script (root, capability NET_ADMIN)
installs

    iptables -t nat -A PAXOS-PEERS -p tcp --dport (2380+j) -j DNAT --to-destination <route j, resolved>

for every j != i, jumped to from the nat OUTPUT chain. The rules match the port only, so they hold when a
peer restarts with a new IP. The netns is new on every container start (also after `docker kill -s KILL`
and `docker start`), so the rules are installed again on every start. Docker's own nat rules for its DNS
(127.0.0.11) are left alone: only the PAXOS-PEERS chain is flushed.

Then it drops to the unprivileged `etcd` user (no capabilities left) and exec()s etcd: etcd replaces
this process, so it is PID 1 of the container and receives docker's SIGTERM/SIGKILL itself.

Environment (exit 2 with a message naming the variable when one is wrong):
  NODE_INDEX      i, 1..CLUSTER_SIZE (member name n<i>, peer port 2380+i)
  CLUSTER_SIZE    N, 1..9 (proxy ports 9000+10i+j need single-digit indexes)
  PEER_ROUTES     j=host:port for every other node j: where proxy ni-nj listens (harness.compose)
  CLUSTER_TOKEN   --initial-cluster-token (default: paxos-chaos-etcd)
  ETCD_EXTRA_ARGS more etcd flags, split like a shell would (e.g. "--heartbeat-interval=50
                  --election-timeout=500"); they come last, so they override the defaults
  ETCD_USER       the user etcd runs as (default: etcd); DATA_DIR (default: /data)
  IPTABLES        force the iptables binary (default: the first of iptables, iptables-nft,
                  iptables-legacy whose nat table works)
Standard library only.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

CLIENT_PORT = 2379
PEER_PORT_BASE = 2380
CHAIN = "PAXOS-PEERS"
ETCD = "/usr/bin/etcd"
RESOLVE_TIMEOUT_S = 30.0
IPTABLES_TIMEOUT_S = 10.0
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$")


class ConfigError(Exception):
    """The environment is wrong: exit 2."""


class SetupError(Exception):
    """The container cannot be set up (no NET_ADMIN, Toxiproxy unresolvable): exit 1."""


@dataclass(frozen=True, slots=True)
class Config:
    index: int
    size: int
    routes: tuple[tuple[int, str, int], ...]  # (j, host, port) of proxy ni-nj
    token: str
    extra_args: tuple[str, ...]
    user: str
    data_dir: str
    iptables: str | None


def peer_port(j: int) -> int:
    return PEER_PORT_BASE + j


def _int_env(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        raise ConfigError(f"{name} is not set: it must be an integer in {low}..{high}")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer: it must be in {low}..{high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range: it must be in {low}..{high}")
    return value


def parse_env(env: Mapping[str, str]) -> Config:
    size = _int_env(env, "CLUSTER_SIZE", 1, 9)
    index = _int_env(env, "NODE_INDEX", 1, size)
    routes = parse_routes(env.get("PEER_ROUTES", ""), index=index, size=size)
    token = env.get("CLUSTER_TOKEN", "").strip() or "paxos-chaos-etcd"
    if not _TOKEN.match(token):
        raise ConfigError(f"CLUSTER_TOKEN={token!r}: use 1-64 characters of A-Z a-z 0-9 . _ -")
    try:
        extra = tuple(shlex.split(env.get("ETCD_EXTRA_ARGS", "")))
    except ValueError as exc:
        raise ConfigError(f"ETCD_EXTRA_ARGS cannot be split like a shell command line: {exc}") from None
    if bad := [a for a in extra if not a.startswith("-")]:
        raise ConfigError(f"ETCD_EXTRA_ARGS: {bad[0]!r} is not a flag; write flags as --name=value")
    user = env.get("ETCD_USER", "").strip() or "etcd"
    data_dir = env.get("DATA_DIR", "").strip() or "/data"
    iptables = env.get("IPTABLES", "").strip() or None
    return Config(index=index, size=size, routes=routes, token=token, extra_args=extra, user=user,
                  data_dir=data_dir, iptables=iptables)


def parse_routes(raw: str, *, index: int, size: int) -> tuple[tuple[int, str, int], ...]:
    """PEER_ROUTES `j=host:port,...`: exactly one route for every node but this one."""
    routes: dict[int, tuple[str, int]] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        peer, _, where = item.partition("=")
        host, _, port = where.rpartition(":")
        if not (peer.isdigit() and port.isdigit() and _HOST.match(host) and 0 < int(port) < 65536):
            raise ConfigError(f"PEER_ROUTES item {item!r}: write j=host:port, e.g. 2=toxiproxy:9012")
        routes[int(peer)] = (host, int(port))
    wanted = {j for j in range(1, size + 1) if j != index}
    if set(routes) != wanted:
        raise ConfigError(f"PEER_ROUTES names nodes {sorted(routes)}; node {index} of {size} needs exactly "
                          f"{sorted(wanted)}")
    return tuple((j, *routes[j]) for j in sorted(routes))


def etcd_argv(cfg: Config) -> list[str]:
    i = cfg.index
    cluster = ",".join(f"n{j}=http://n{j}:{peer_port(j)}" for j in range(1, cfg.size + 1))
    return [
        ETCD,
        f"--name=n{i}",
        f"--data-dir={cfg.data_dir}",
        f"--listen-client-urls=http://0.0.0.0:{CLIENT_PORT}",
        f"--advertise-client-urls=http://n{i}:{CLIENT_PORT}",
        f"--listen-peer-urls=http://0.0.0.0:{peer_port(i)}",
        f"--initial-advertise-peer-urls=http://n{i}:{peer_port(i)}",
        f"--initial-cluster={cluster}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={cfg.token}",
        "--logger=zap",
        "--log-outputs=stderr",
        *cfg.extra_args,
    ]


def log(msg: str) -> None:
    print(f"[entrypoint] {msg}", file=sys.stderr, flush=True)


def resolve_ipv4(host: str, timeout: float = RESOLVE_TIMEOUT_S) -> str:
    """The IPv4 address of `host`, retrying while Docker's DNS does not know it yet (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
            return str(infos[0][4][0])
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise SetupError(f"cannot resolve {host!r} (PEER_ROUTES) within {timeout:.0f} s ({exc}): is the "
                                 "Toxiproxy service on the same Docker network?") from None
            time.sleep(0.5)


def _iptables(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([binary, "-w", "5", *args], capture_output=True, text=True,
                              timeout=IPTABLES_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess([binary, *args], 127, "", f"{binary}: not installed")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([binary, *args], 124, "", f"{binary}: timed out")


def pick_iptables(forced: str | None) -> str:
    """The first iptables binary whose nat table can be listed in this netns (needs NET_ADMIN)."""
    errors: list[str] = []
    for binary in [forced] if forced else ["iptables", "iptables-nft", "iptables-legacy"]:
        done = _iptables(binary, "-t", "nat", "-S", "OUTPUT")
        if done.returncode == 0:
            return binary
        errors.append(f"{binary}: {done.stderr.strip() or done.returncode}")
    raise SetupError("no usable iptables nat table (" + "; ".join(errors) + "): give the container "
                     "cap_add: [NET_ADMIN] and run it as root (the entrypoint drops to the etcd user itself)")


def install_rules(binary: str, cfg: Config, ips: Mapping[str, str]) -> list[str]:
    """(Re)build chain PAXOS-PEERS: DNAT peer port of every j != i to proxy ni-nj. Idempotent."""
    def must(*args: str) -> None:
        done = _iptables(binary, *args)
        if done.returncode != 0:
            raise SetupError(f"{binary} {' '.join(args)} failed: {done.stderr.strip()}")

    if _iptables(binary, "-t", "nat", "-S", CHAIN).returncode != 0:
        must("-t", "nat", "-N", CHAIN)
    must("-t", "nat", "-F", CHAIN)
    rules: list[str] = []
    for j, host, port in cfg.routes:
        rule = ["-p", "tcp", "--dport", str(peer_port(j)), "-j", "DNAT",
                "--to-destination", f"{ips[host]}:{port}"]
        must("-t", "nat", "-A", CHAIN, *rule)
        rules.append(" ".join(rule))
    if _iptables(binary, "-t", "nat", "-C", "OUTPUT", "-p", "tcp", "-j", CHAIN).returncode != 0:
        must("-t", "nat", "-I", "OUTPUT", "1", "-p", "tcp", "-j", CHAIN)
    return rules


def drop_privileges(user: str, data_dir: str) -> None:
    """Own the data dir (0700, as etcd wants), then become `user` with no supplementary groups or caps."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"ETCD_USER={user!r} does not exist in the image") from None
    os.makedirs(data_dir, exist_ok=True)
    st = os.stat(data_dir)
    if (st.st_uid, st.st_gid) != (pw.pw_uid, pw.pw_gid):
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
    os.chmod(data_dir, 0o700)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)  # from root to non-root: the permitted and effective capabilities are cleared
    os.environ.update(HOME=pw.pw_dir, USER=user, LOGNAME=user)
    log(f"running as {user} (uid {pw.pw_uid}, gid {pw.pw_gid} {grp.getgrgid(pw.pw_gid).gr_name})")


def main(argv: Sequence[str]) -> NoReturn | int:
    try:
        cfg = parse_env(os.environ)
    except ConfigError as exc:
        log(f"bad environment: {exc}")
        return 2
    args = etcd_argv(cfg) + list(argv[1:])  # `docker run IMAGE --flag` appends flags too
    try:
        if os.geteuid() == 0:
            binary = pick_iptables(cfg.iptables)
            ips = {host: resolve_ipv4(host) for host in {h for _, h, _ in cfg.routes}}
            rules = install_rules(binary, cfg, ips)
            log(f"n{cfg.index}/{cfg.size}: {binary} nat {CHAIN}: " + "; ".join(rules or ["(no peers)"]))
            drop_privileges(cfg.user, cfg.data_dir)
        elif cfg.size > 1:
            raise SetupError("not running as root: cannot install the iptables rules that route peer links "
                             "through Toxiproxy (do not set `user:` on this service)")
    except ConfigError as exc:
        log(f"bad environment: {exc}")
        return 2
    except (SetupError, OSError) as exc:
        log(f"setup failed: {exc}")
        return 1
    # etcd reads ETCD_<FLAG> variables as flags and warns about unknown ones: hand it none of ours.
    env = {k: v for k, v in os.environ.items() if k not in ("ETCD_EXTRA_ARGS", "ETCD_USER")}
    log("exec " + shlex.join(args))
    os.execve(ETCD, args, env)  # replaces this process: nothing after it runs


if __name__ == "__main__":
    sys.exit(main(sys.argv))
