"""The core is sans-IO: walk the imports of every module of replica_image/paxos and ban I/O and clocks."""

from __future__ import annotations

import ast
from pathlib import Path

import replica_image.paxos

BANNED = {"asyncio", "aiohttp", "time", "socket", "os", "io", "selectors", "threading", "subprocess",
          "multiprocessing", "datetime", "pathlib", "shutil", "tempfile", "ssl", "http", "urllib", "json", "docker"}
RANDOM_ALLOWED = {"Random"}  # the type of the injected rng; module-level random functions are banned
CORE = Path(replica_image.paxos.__file__).parent


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in BANNED:
                    bad.append(f"{path.name}:{node.lineno} import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root in BANNED:
                bad.append(f"{path.name}:{node.lineno} from {node.module}")
            if root == "random" and any(a.name not in RANDOM_ALLOWED for a in node.names):
                bad.append(f"{path.name}:{node.lineno} from random import {[a.name for a in node.names]}")
            if root not in ("replica_image", "__future__", "random") and root not in _STDLIB_PURE:
                bad.append(f"{path.name}:{node.lineno} from {node.module} (not an allowed pure module)")
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "random"
              and node.attr not in RANDOM_ALLOWED):
            bad.append(f"{path.name}:{node.lineno} random.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("open", "print", "input"):
            bad.append(f"{path.name}:{node.lineno} {node.func.id}()")
    return bad


_STDLIB_PURE = {"dataclasses", "typing", "enum", "collections", "abc", "functools", "itertools", "bisect"}


def test_the_core_imports_no_io_no_clock_and_no_module_level_random() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 6
    bad = [v for f in files for v in _violations(f)]
    assert bad == []


def test_the_core_only_imports_the_replica_package_and_pure_stdlib() -> None:
    for f in CORE.glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("replica_image"):
                assert node.module.split(".")[1] in ("paxos", "errors"), f"{f.name}: {node.module}"


def test_the_walker_flags_banned_imports(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import time\nimport random\nfrom asyncio import sleep\nx = random.random()\nopen('f')\n")
    found = _violations(sample)
    assert any("import time" in v for v in found)
    assert any("asyncio" in v for v in found)
    assert any("random.random" in v for v in found)
    assert any("open()" in v for v in found)
