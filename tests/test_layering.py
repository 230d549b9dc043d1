"""The imports run one way (DESIGN 2): a walk over every module's imports fails on an arrow against it.

harness -> targets (the contract and the registry), faults, workloads; faults and workloads -> the
target contract only; a target -> the contract (and paxos -> replica_image); replica_image -> itself;
harness.checker is pure. No import cycle between modules (imports under TYPE_CHECKING do not count:
they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "faults", "workloads", "targets", "replica_image")
CONTRACT = ("targets", "targets.contract", "targets.errors")
IO_MODULES = ("asyncio", "aiohttp", "docker", "socket", "subprocess", "urllib", "http", "threading")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(path: Path) -> list[str]:
    """Absolute module names imported when the module runs (function-local imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _runtime_imports(path) if m in modules}
    return graph


GRAPH = _graph()


def _allowed(src: str, dst: str) -> bool:
    top, dtop = src.split(".")[0], dst.split(".")[0]
    if top == dtop and top != "targets":
        return not (src.startswith("harness.checker") and not dst.startswith("harness.checker")
                    and dst not in ("harness", "harness.checker"))
    if top == "replica_image":
        return False
    if top in ("faults", "workloads"):
        return dst in CONTRACT or dtop in ("faults", "workloads") and dtop == top
    if top == "harness":
        if src.startswith("harness.checker"):
            return dst in CONTRACT or dst.startswith("workloads.history")
        if src.startswith("harness.sim") and dst.startswith("targets.paxos.core"):
            return True  # the simulator drives our core, only through its target (DESIGN 2)
        return dtop in ("faults", "workloads") or dst in (*CONTRACT, "targets.registry")
    # targets
    if src in CONTRACT:
        return dst in CONTRACT
    if src == "targets.registry":
        return dtop == "targets"
    own = ".".join(src.split(".")[:2])
    if dst == "targets.debs":
        return True  # the host-side apt helper any target's image may use (it imports nothing of ours)
    if dst in CONTRACT or dst == own or dst.startswith(own + "."):
        return True
    return own == "targets.paxos" and dtop == "replica_image"


def test_every_arrow_runs_the_right_way() -> None:
    wrong = sorted(f"{src} -> {dst}" for src, dsts in GRAPH.items() for dst in dsts
                   if dst != src and not _allowed(src, dst))
    assert not wrong, "imports against DESIGN 2:\n" + "\n".join(wrong)


def test_no_module_cycle() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt == node or nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_is_pure() -> None:
    impure = []
    for path in (ROOT / "harness" / "checker").rglob("*.py"):
        for mod in _runtime_imports(path):
            if mod.split(".")[0] in IO_MODULES:
                impure.append(f"{_module_name(path)} imports {mod}")
    assert not impure, impure


@pytest.mark.parametrize(("src", "dst", "ok"), [
    ("faults.plan", "harness.scenario", False),
    ("workloads.client", "targets.paxos", False),
    ("harness.runner", "targets.etcd", False),
    ("harness.runner", "targets.registry", True),
    ("harness.sim.node", "replica_image.paxos", False),
    ("targets.etcd", "harness.cluster", False),
    ("targets.paxos", "replica_image.bugs", True),
    ("replica_image.server", "harness.errors", False),
])
def test_the_rule_itself_catches_wrong_arrows(src: str, dst: str, ok: bool) -> None:
    assert _allowed(src, dst) is ok
