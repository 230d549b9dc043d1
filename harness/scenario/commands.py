"""The `validate` and `list` subcommands (registered by harness.cli), the `--node` option and shards."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.scenario.loading import for_target, load_scenario, scenario_files, under_target
from harness.scenario.model import Scenario
from harness.scenario.worlds import docker_refusal
from harness.shards import Shard, shard_count, split
from targets.errors import ScenarioError
from targets.registry import TARGETS, get_target

__all__ = ["add_node_argument", "option_overrides", "register_list", "register_validate", "shard_of"]


def register_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `paxos-chaos validate FILE...` to the CLI."""
    p = sub.add_parser("validate", help="check scenario files without running anything",
                       description="Validate scenario YAML files (or every *.yaml of a directory). "
                       "Prints every problem as file:line field.path: message. Exit 0 if all are "
                       "valid, 2 otherwise. Nothing is started.")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario files or directories")
    p.set_defaults(func=_run_validate)


def register_list(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `paxos-chaos list [DIR]` to the CLI."""
    p = sub.add_parser("list", help="list the scenarios of a directory with their descriptions",
                       description="List the scenarios of DIR (default: scenarios): name, replicas, "
                       "duration, fault items and the one-line description. Exit 2 if one is invalid. "
                       "--json prints the same as one JSON array; --shards N prints the job matrix of a "
                       "suite split in N slices (`run --suite DIR --shard K/N` runs slice K).")
    p.add_argument("directory", nargs="?", default="scenarios", metavar="DIR")
    p.add_argument("--target", default=None, metavar="NAME",
                   help=f"say which scenarios apply to this target ({', '.join(sorted(TARGETS))})")
    add_node_argument(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="one JSON array, an object per scenario (name, file, target, size, duration_s, "
                          "faults, description, applies, why; or file and error for an invalid one)")
    out.add_argument("--shards", type=shard_count, default=None, metavar="N",
                     help="print a CI job matrix, {\"include\": [{\"shard\": \"K/N\", \"target\": \"\", "
                          "\"scenarios\": \"a b\"}, ...]} (target: --target, or \"\" for each file's own): the scenarios that apply (to --target) dealt round-robin by "
                          "sorted name into N slices, empty slices left out; exit 2, printing nothing, "
                          "if a scenario is invalid")
    p.set_defaults(func=_run_list)


def add_node_argument(p: argparse.ArgumentParser) -> None:
    """`--node PATH`: the Maelstrom node program, replacing each scenario's `cluster.node`."""
    p.add_argument("--node", default=None, metavar="PATH",
                   help="target maelstrom: your node program, replacing each scenario's cluster.node")


def option_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The target options the command line sets (`--node`, made absolute against the working folder)."""
    node = getattr(args, "node", None)
    if not node:
        return {}
    owner = next(t for t in TARGETS.values() if any(o.name == "node" for o in t.options))
    try:
        return {"node": owner.resolve_path("node", node, base=Path.cwd())}
    except ValueError as exc:
        raise ScenarioError(f"--node {exc}") from None


def _expand(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        out.extend(scenario_files(p) if p.is_dir() else [p])
    return out


def _run_validate(args: argparse.Namespace) -> int:
    files = _expand(args.files)
    if not files:
        raise ScenarioError(f"no scenario files in {', '.join(args.files)}; give *.yaml files")
    bad = 0
    for path in files:
        try:
            s = load_scenario(path)
        except ScenarioError as exc:
            bad += 1
            print(str(exc), file=sys.stderr)
            continue
        print(f"ok {path}: {s.description}")
    if bad:
        print(f"{bad} of {len(files)} scenario file(s) invalid", file=sys.stderr)
    return 2 if bad else 0


def _run_list(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: not a directory; give the folder holding the scenarios")
    files = scenario_files(directory)
    if not files:
        raise ScenarioError(f"{directory}: no *.yaml scenario files")
    if args.target is not None:
        get_target(args.target)
    if args.shards is not None:
        return _print_matrix(files, args)
    entries: list[dict[str, object]] = []
    bad = 0
    for path in files:
        try:
            s = load_scenario(path)
        except ScenarioError as exc:
            bad += 1
            entries.append({"file": str(path), "error": str(exc).splitlines()[0]})
            if not args.json:
                print(f"{path.stem:24} INVALID  {str(exc).splitlines()[0]}")
            continue
        found = under_target(path, s, args.target, option_overrides(args))
        if isinstance(found, Scenario):  # what `run --suite` leaves out, list says (one rule: for_target's)
            found = docker_refusal(found) or found
        if isinstance(found, str):
            entries.append(_list_entry(path, s, why=found))
            if not args.json:
                print(f"{s.name:24} does not apply to {args.target or 'Docker'}: {found}")
            continue
        s = found
        entries.append(_list_entry(path, s, why=None))
        if not args.json:
            print(f"{s.name:24} {s.cluster.target:<6} n={s.cluster.size}  {s.workload.duration_s:>5g}s  "
                  f"{len(s.faults):>2} fault item(s)  {s.description}")
    if args.json:
        print(json.dumps(entries, indent=1))
    return 2 if bad else 0


def _list_entry(path: Path, s: Scenario, *, why: str | None) -> dict[str, object]:
    return {"name": s.name, "file": str(path), "target": s.cluster.target, "size": s.cluster.size,
            "duration_s": s.workload.duration_s, "faults": len(s.faults), "description": s.description,
            "applies": why is None, "why": why}


def _print_matrix(files: Sequence[Path], args: argparse.Namespace) -> int:
    """The job matrix for `--shards N`: the same slices `run --suite DIR --shard K/N` runs (one rule,
    `harness.shards.split`), so a matrix job never runs a scenario twice or misses one. An invalid
    scenario raises before anything is printed: a half matrix would silently skip scenarios."""
    runnable, _ = for_target(files, args.target, option_overrides(args))
    slices = split(runnable, [_shard_key(s) for s in runnable], args.shards)
    # the target goes along so that matrices of several targets can be concatenated (the nightly's)
    include = [{"shard": f"{k}/{args.shards}", "target": args.target or "", "scenarios": " ".join(s.name for s in part)}
               for k, part in enumerate(slices, start=1) if part]
    print(json.dumps({"include": include}))
    return 0


def shard_of(scenarios: Sequence[Scenario], shard: Shard) -> list[Scenario]:
    """Slice `shard` of `scenarios`, by sorted scenario name (the rule of `harness.shards.split`)."""
    return split(scenarios, [_shard_key(s) for s in scenarios], shard.count)[shard.index - 1]


def _shard_key(s: Scenario) -> str:
    # the name first (what a user sees and the store is keyed by); the file breaks ties between equal names
    return f"{s.name}\0{s.source}"
