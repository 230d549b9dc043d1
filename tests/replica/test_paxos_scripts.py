"""Text-script interaction tests for the core (etcd-style): tests/replica/scripts/NAME.txt is run against
the in-memory Cluster and its transcript must equal NAME.golden. Rewrite the goldens after an intended
change with `PAXOS_REWRITE_GOLDEN=1 pytest tests/replica/test_paxos_scripts.py` and review the diff.

Commands (one per line, `#` comments):
  cluster N [seed=S]           start N replicas
  elect I                      tick only I until it leads, delivering everything
  propose I CLIENT REQ OP KEY [VALUE]
  deliver                      deliver every in-flight message (seeded order)
  drop                         lose every in-flight message
  tick [N] [nodes=1,2]         N ticks (default 1), delivering after each
  partition 1,2 3              cut every link between the groups
  heal | crash I | restart I
  status                       one line per replica
  log I                        the slots replica I applied
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from replica_image.paxos import Batch, Command, CoreConfig, Role
from tests.replica.cluster import Cluster

SCRIPTS = Path(__file__).parent / "scripts"
CFG = CoreConfig(election_timeout_ticks=6, heartbeat_ticks=2, retransmit_ticks=3, batch_max=4, window=8,
                 entries_per_message_max=4)


def _batch_text(batch: Batch | None) -> str:
    if batch is None:
        return "snapshot"
    if not batch:
        return "noop"
    return ",".join(f"{c.op}({c.key}{'=' + c.value if c.value is not None else ''})" for c in batch)


def _status(c: Cluster) -> list[str]:
    out = []
    for i in c.ids:
        node = c.nodes[i]
        r = node.replica
        if not node.up:
            out.append(f"n{i} down")
            continue
        role = {Role.LEADER: "leader", Role.CANDIDATE: "candidate", Role.FOLLOWER: "follower"}[r.role]
        out.append(f"n{i} {role} ballot={r.ballot} leader={r.leader_id} first_unchosen={r.first_unchosen} "
                   f"applied={r.applied_index} kv={node.kv.digest()[:8]}")
    return out


def _run_line(c: Cluster | None, words: list[str]) -> tuple[Cluster | None, list[str]]:
    cmd, args = words[0], words[1:]
    if cmd == "cluster":
        seed = int(args[1].split("=")[1]) if len(args) > 1 else 0
        return Cluster(int(args[0]), seed=seed, config=CFG), []
    assert c is not None, "the script must start with `cluster N`"
    if cmd == "elect":
        c.elect(int(args[0]))
    elif cmd == "propose":
        node, client, req, op, key = int(args[0]), args[1], int(args[2]), args[3], args[4]
        value = args[5] if len(args) > 5 else None
        res = c.propose(node, Command(client_id=client, request_id=req, op=op, key=key, value=value))
        return c, [res.name]
    elif cmd == "deliver":
        c.deliver_all()
    elif cmd == "drop":
        c.network.clear()
    elif cmd == "tick":
        n = int(args[0]) if args and args[0].isdigit() else 1
        only = next((tuple(int(x) for x in a[6:].split(",")) for a in args if a.startswith("nodes=")), ())
        for _ in range(n):
            c.tick(*only)
            c.deliver_all()
    elif cmd == "partition":
        c.partition(*({int(x) for x in g.split(",")} for g in args))
    elif cmd == "heal":
        c.heal()
    elif cmd == "crash":
        c.crash(int(args[0]))
    elif cmd == "restart":
        c.restart(int(args[0]))
    elif cmd == "status":
        return c, _status(c)
    elif cmd == "log":
        return c, [f"{s}: {_batch_text(b)}" for s, b in c.nodes[int(args[0])].applied]
    else:
        raise AssertionError(f"unknown script command {cmd!r}")
    return c, []


def run_script(text: str) -> str:
    c: Cluster | None = None
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            out.append(line)
            continue
        out.append(f"> {line}")
        c, lines = _run_line(c, shlex.split(line))
        out.extend(f"  {x}" for x in lines)
    if c is not None:
        c.check_prefixes()
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.txt")), ids=lambda p: p.stem)
def test_script_transcript_matches_golden(script: Path) -> None:
    got = run_script(script.read_text())
    golden = script.with_suffix(".golden")
    if os.environ.get("PAXOS_REWRITE_GOLDEN") == "1":
        golden.write_text(got)
    assert golden.exists(), f"{golden.name} missing: run with PAXOS_REWRITE_GOLDEN=1 and review it"
    assert got == golden.read_text()


def test_there_are_scripts() -> None:
    assert len(list(SCRIPTS.glob("*.txt"))) >= 3
