"""Scenario files: the YAML schema, the loader and the validator.

A scenario names the cluster, the workload, the fault schedule, the seed and the checks (the user's
reference is docs/scenarios.md). Loading turns YAML into frozen dataclasses and nothing else: it
starts no container and reads no clock. Every problem is reported with file, line and field path,
e.g. `scenarios/x.yaml:12 faults[2].for: '10 sec' is not a duration, use e.g. 10s, ...`, and all
problems of a file are collected before one `ScenarioError` is raised, so a user fixes them in one go.

What does not belong here: turning the schedule into concrete fault steps (that is `faults.plan`,
pure and seeded) and applying faults (the nemeses in `faults`).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeGuard, TypeVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from faults.schema import (
    CORRUPT_WHERE,
    LINKS,
    POWERFS_MODELS,
    MODES,
    SHAPES,
    TARGET_WORDS,
    TOXIC_ATTRS,
    TOXIC_FAULTS,
    FaultSpec,
    LinkSpec,
    PartitionSpec,
    PowerfsModel,
    ProcessActionName,
    ProcessSpec,
    RollingRestartSpec,
    ScheduleEntry,
    TargetSpec,
    ToxicType,
)
from harness.durations import DURATION_HINT, parse_duration_s
from harness.shards import Shard, shard_count, split
from targets.contract import Target
from targets.errors import ScenarioError
from targets.registry import DEFAULT_TARGET, TARGETS, get_target
from workloads.spec import OPS, WorkloadSpec

__all__ = [
    "CLUSTER_SIZES", "OPS", "SHAPES", "ChecksSpec", "ClusterSpec", "FaultSpec", "LinkSpec",
    "PartitionSpec", "ProcessSpec", "RollingRestartSpec", "Scenario", "ScheduleEntry", "TOXIC_FAULTS",
    "TargetSpec", "ToxicType",
    "WorkloadSpec", "add_node_argument", "load_scenario", "option_overrides", "parse_scenario", "register_list",
    "register_validate",
    "scenario_files", "seed_argument", "shard_of",
]

CLUSTER_SIZES = (3, 5, 7)
# Bounds: "put a limit on everything" (STYLE R15); generous for users, small enough to stay sane.
MAX_DURATION_S = 24 * 3600.0
MAX_CONCURRENCY = 256
MAX_KEYS = 100_000
MAX_RATE = 100_000.0
MAX_OCCURRENCES = 10_000
MAX_FILE_BYTES = 1 << 20
MAX_SEED = 2**63 - 1
SEED_RULE = "a seed is an integer from 0 to 2^63-1"
MAX_NAME = 100  # the name is a directory of the store: keep it well under a file name's 255 bytes
# The YAML itself: a scenario is a few hundred values nested a few levels deep. Deeper nesting would
# overflow Python's stack in the composer; aliases expanding to more values ("billion laughs") would
# make the validator walk millions of nodes. Problems beyond MAX_PROBLEMS are counted, not listed.
MAX_YAML_DEPTH = 50
MAX_YAML_VALUES = 100_000
MAX_PROBLEMS = 50


_UNIT_SCALE = {"ms": 1000.0, "us": 1_000_000.0}


# -- the schema as frozen dataclasses (STYLE R9) ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """The nodes: `size` in 3/5/7 of `target` (targets/, default paxos) with its `options` (every option
    of the target, defaults filled in); `bugs` are paxos's deliberate bugs, passed as BUGS (DESIGN 9)."""

    size: int = 3
    bugs: tuple[str, ...] = ()
    target: str = DEFAULT_TARGET
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChecksSpec:
    """What is checked: linearizability within `timeout_s` (else UNKNOWN), and liveness: after the
    final heal every replica answers and the cluster serves writes within `recovery_s`."""

    linearizable: bool = True
    timeout_s: float = 60.0
    recovery_s: float = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario. `source` is the file it came from (or `<string>`)."""

    name: str
    description: str
    seed: int
    cluster: ClusterSpec
    workload: WorkloadSpec
    faults: tuple[ScheduleEntry, ...]
    checks: ChecksSpec
    source: str

    @property
    def powerfs_model(self) -> PowerfsModel | None:
        """The powerfs model the nodes' data runs under, or None when no fault needs powerfs (only
        power-loss does: it keeps only what was fsynced). The validator allows one model per scenario."""
        models = [c.model for entry in self.faults for c in entry.choices
                  if isinstance(c, ProcessSpec) and c.action == "power-loss"]
        return models[0] if models else None


# -- loading -----------------------------------------------------------------------------------------


def load_scenario(path: str | Path, *, target: str | None = None,
                  options: Mapping[str, str] | None = None) -> Scenario:
    """Read and validate one scenario file; `target` (the CLI's `--target`) replaces `cluster.target`,
    `options` (the CLI's `--node`, an absolute path) replace the file's target options of those names.

    Raises:
        ScenarioError: the file is missing, unreadable, not YAML, or breaks the schema. The message
            has one line per problem, each `file:line field.path: what is wrong, how to fix it`.
    """
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{p}: {p.stat().st_size} bytes is too big for a scenario (limit "
                                f"{MAX_FILE_BYTES}); is this the right file?")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such file; give the path of a scenario YAML file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{p}: is a directory; give a scenario YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot read the file ({exc}); check its permissions/encoding") from None
    return parse_scenario(text, source=str(p), default_name=p.stem, target=target, options=options)


def parse_scenario(text: str, *, source: str = "<string>", default_name: str = "scenario",
                   target: str | None = None, options: Mapping[str, str] | None = None) -> Scenario:
    """Validate scenario YAML `text`; `source` names it in messages. See `load_scenario`."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(f"{source}: {len(text)} characters is too big for a scenario (limit "
                            f"{MAX_FILE_BYTES})")
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except _YamlLimit as exc:
        raise ScenarioError(f"{source}:{exc.line} {exc}") from None
    except ReaderError as exc:  # a control character; PyYAML's own message spans lines
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ScenarioError(f"{source}:{line} YAML error: character {char} is not allowed in YAML; "
                            "remove it (a scenario is plain UTF-8 text)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = (exc.problem or exc.context or "invalid YAML").replace("\n", "\\n")
        raise ScenarioError(f"{source}:{line} YAML syntax error: {what}; check indentation, "
                            "colons and quoting") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}:1 YAML error: {' '.join(str(exc).split())}") from None
    if root is None:
        raise ScenarioError(f"{source}:1 the file is empty; a scenario needs at least "
                            "`description:` and `workload:` (see docs/scenarios.md)")
    if target is not None and target not in TARGETS:
        raise ScenarioError(f"--target {target!r}: {_unknown(target, sorted(TARGETS), 'target')}")
    v = _Validator(source, target=target, options=options)
    scenario = v.scenario(root, default_name)
    if v.problems or scenario is None:
        # an aliased node is validated at each use: say each problem once
        lines = list(dict.fromkeys(p for _, p in sorted(v.problems, key=lambda lp: lp[0])))
        if len(lines) > MAX_PROBLEMS:
            lines[MAX_PROBLEMS:] = [f"{source}: ... and {len(lines) - MAX_PROBLEMS} more problems; "
                                    "fix the ones above first"]
        raise ScenarioError("\n".join(lines))
    return scenario


def seed_argument(text: str) -> int:
    """argparse `type=` of a `--seed N` option: the rule of the scenario's `seed` (0..2^63-1)."""
    t = text.strip()
    # checked before int(): Python refuses to convert more than 4,300 digits, with a traceback
    if not (t.isascii() and t.isdigit()) or len(t) > len(str(MAX_SEED)) or int(t) > MAX_SEED:
        shown = text if len(text) <= 30 else f"{text[:27]}... ({len(text)} characters)"
        raise argparse.ArgumentTypeError(f"{shown!r} is not a seed; {SEED_RULE} ({MAX_SEED})")
    return int(t)


class _YamlLimit(Exception):
    """The YAML breaks one of the bounds above; `line` is 1-based, the message says what to do."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer with three bounds, checked while composing, before anything is walked:
    nesting depth, values after expanding aliases (an alias counts as every value it stands for), and
    no alias inside its own anchor (a cycle, which would make "expanded" infinite)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its expanded size, once composed
        self._path: list[str] = []  # field path of the node being composed, for the messages

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        line = event.start_mark.line + 1
        at: object = index  # PyYAML passes the key node for a mapping's value, None for a key
        self._path.append(f"[{at}]" if isinstance(parent, SequenceNode) else
                          f".{at.value}" if isinstance(at, ScalarNode) else "")
        try:
            if isinstance(event, AliasEvent):
                target = self.anchors.get(event.anchor)
                if target is not None and id(target) not in self._sizes:
                    name = _short(str(event.anchor), 30)
                    raise self._limit(line, f"alias *{name} is used inside its own anchor &{name}; a "
                                            "scenario cannot contain itself, write the values out")
                node = super().compose_node(parent, index)  # an undefined alias is PyYAML's error
                self._count(self._sizes[id(target)] if target is not None else 1, line)
                return node
            if self._depth >= MAX_YAML_DEPTH:
                raise self._limit(line, f"nested more than {MAX_YAML_DEPTH} levels deep; a scenario "
                                        "needs a few levels, is this the right file?")
            self._depth += 1
            before = self._values
            node = super().compose_node(parent, index)
            self._depth -= 1
            self._count(1, line)
            if node is not None and getattr(event, "anchor", None) is not None:
                self._sizes[id(node)] = self._values - before
            return node
        finally:
            self._path.pop()

    def _count(self, values: int, line: int) -> None:
        self._values += values
        if self._values > MAX_YAML_VALUES:
            raise self._limit(line, f"more than {MAX_YAML_VALUES} values (aliases `*name` counted "
                                    "as what they expand to); a scenario has a few hundred, is this "
                                    "the right file?")

    def _limit(self, line: int, message: str) -> _YamlLimit:
        path = "".join(self._path).lstrip(".")
        return _YamlLimit(line, f"{_short(path, 60)}: {message}" if path else message)


def _owners(option: str) -> str:
    """The targets that have `option`, for a message: "etcd" or "a and b"."""
    return " and ".join(t.name for t in TARGETS.values() if option in {o.name for o in t.options})


def scenario_files(directory: str | Path) -> list[Path]:
    """The scenario files of a directory (`*.yaml` and `*.yml`), sorted by name."""
    d = Path(directory)
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


# -- the validator -----------------------------------------------------------------------------------

T = TypeVar("T")
# The keys of every mapping and the bounds of every number, in one place: the validator below reads them,
# and so does harness.scenario_schema, which turns them into the JSON Schema editors use.
_TOP_KEYS = ("name", "description", "seed", "cluster", "workload", "faults", "checks")
_TOP_REQUIRED = ("description", "workload")
_OPTION_KEYS = tuple(sorted({o.name for t in TARGETS.values() for o in t.options}))
_CLUSTER_KEYS = ("size", "bugs", "target", *_OPTION_KEYS)
_WORKLOAD_KEYS = ("duration", "concurrency", "rate", "keys", "distribution", "skew", "mix",
                  "timeout", "attempts", "retry_unknown")
_WORKLOAD_REQUIRED = ("duration",)
_DISTRIBUTIONS = ("uniform", "skewed")
MAX_SKEW = 10.0
MAX_ATTEMPTS = 20
MAX_WEIGHT = 1e6
MAX_OP_TIMEOUT_S = 600.0
_CHECKS_KEYS = ("linearizable", "timeout", "recovery")
_PARTITION_KEYS = ("shape", "mode", "one-way", "target", "groups")
_PARTITION_REQUIRED = ("shape",)
_LINK_KEYS = ("links", "target", "toxicity")  # besides the toxic's own (TOXIC_ATTRS)
_PROCESS_KEYS: dict[str, tuple[str, ...]] = {"kill": ("target",), "pause": ("target",),
                                             "restart": ("target", "graceful"), "power-loss": ("target", "model"),
                                             "corrupt": ("target", "where")}
_ROLLING_KEYS = ("gap", "graceful")
_TIMING_KEYS = ("at", "for", "every", "jitter", "until")
_FAULT_KEYS = ("partition", "latency", "bandwidth", "reset", "slicer", "slow-close", "limit-data", "kill",
               "pause", "restart", "rolling-restart", "power-loss", "corrupt", "one-of")
_INSTANT = (RollingRestartSpec,)


_NO_ENTRIES: tuple[ScheduleEntry, ...] = ()
_NO_BUGS: tuple[str, ...] = ()
_NO_GROUPS: tuple[tuple[int, ...], ...] = ()


class _Missing:
    """Marks a value that was absent or invalid (its problem is already recorded)."""


_BAD = _Missing()


class _Validator:
    """Walks the composed YAML node tree, collecting problems as (line, message)."""

    def __init__(self, source: str, *, target: str | None = None, options: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.override = target  # the CLI's --target: wins over the file's cluster.target
        self.option_overrides = dict(options or {})  # the CLI's --node: wins over the file's
        self.system: Target = get_target(target or DEFAULT_TARGET)  # known once `cluster` validated
        self.problems: list[tuple[int, str]] = []
        self.size: int | None = None  # known once `cluster` validated; gates node-name checks
        self.powerfs_model: dict[str, str] = {}  # "model": the first power-loss's, which the others must match
        self._constructor = SafeConstructor()

    # ---- primitives ----

    def problem(self, node: Node, path: str, message: str) -> None:
        line = node.start_mark.line + 1
        where = f" {path}:" if path else ""
        text = f"{where} {message}".replace("\n", "\\n")  # one problem, one line, whatever was quoted
        self.problems.append((line, f"{self.source}:{line}{text}"))

    def value(self, node: Node) -> object:
        return _construct(node)

    def mapping(self, node: Node, path: str, allowed: Sequence[str],
                required: Sequence[str] = ()) -> dict[str, Node] | None:
        """The keys of a mapping node; unknown, duplicate and missing keys are problems."""
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping with keys {', '.join(allowed)}, "
                                     f"got {_kind(node)}")
            return None
        own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        try:
            self._constructor.flatten_mapping(node)  # resolve `<<: *anchor` merge keys
        except ConstructorError as exc:
            self.problem(node, path, f"bad merge key: {exc.problem}")
            return None
        merged = len(node.value) - own  # merged pairs come first; the file's own keys override them
        keys = [self.value(k) for k, _ in node.value]  # once each: the override test below is a lookup
        own_keys = {k for k in keys[merged:] if isinstance(k, str)}
        out: dict[str, Node] = {}
        suggested: set[str] = set()
        for index, (knode, vnode) in enumerate(node.value):
            key = keys[index]
            if index < merged and isinstance(key, str) and key in own_keys:
                continue
            shown = (key if key.isprintable() else repr(key)) if isinstance(key, str) else _kind(knode)
            kpath = f"{path}.{_short(shown, 40)}" if path else _short(shown, 40)
            if not isinstance(key, str):
                self.problem(knode, kpath, "keys must be plain words")
            elif key in out:
                self.problem(knode, kpath, "duplicate key; keep only one")
            elif key not in allowed:
                self.problem(knode, kpath, _unknown(key, allowed, "key"))
                suggested.update(difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6))
            else:
                out[key] = vnode
        for key in required:
            if key not in out and key not in suggested:  # a misspelling of it was already reported
                self.problem(node, path, f"missing required key `{key}`; add it")
        return out

    def scalar(self, node: Node, path: str, what: str) -> object:
        if not isinstance(node, ScalarNode):
            self.problem(node, path, f"expected {what}, got {_kind(node)}")
            return _BAD
        v = self.value(node)
        if isinstance(v, _Unreadable):
            self.problem(node, path, f"{v}; quote it if it is meant as text, else expected {what}")
            return _BAD
        return v

    def integer(self, node: Node, path: str, lo: int, hi: int, *, rule: str = "") -> int | _Missing:
        """An integer in [lo, hi]; `rule` replaces the default hint (e.g. the seed's)."""
        v = self.scalar(node, path, "an integer")
        if isinstance(v, _Missing):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, _BigInt)):
            self.problem(node, path, f"{_show(v)} is not an integer, " +
                         (rule or f"use a whole number from {lo} to {hi}"))
            return _BAD
        if isinstance(v, _BigInt) or not lo <= v <= hi:
            self.problem(node, path, f"{_show(v)} is out of range, " +
                         (rule or f"use a number from {lo} to {hi}"))
            return _BAD
        return v

    def number(self, node: Node, path: str, lo: float, hi: float, *,
               lo_open: bool = False) -> float | _Missing:
        v = self.scalar(node, path, "a number")
        if isinstance(v, _Missing):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float, _BigInt)) or v != v:  # v != v: NaN
            self.problem(node, path, f"{_show(v)} is not a number, use one from {lo:g} to {hi:g}")
            return _BAD
        if isinstance(v, _BigInt) or v < lo or v > hi or (lo_open and v == lo):
            low = f"above {lo:g}" if lo_open else f"from {lo:g}"
            shown = _show(v) if isinstance(v, _BigInt) else f"{v:g}"
            self.problem(node, path, f"{shown} is out of range, use a number {low} to {hi:g}")
            return _BAD
        return float(v)

    def boolean(self, node: Node, path: str) -> bool | _Missing:
        v = self.scalar(node, path, "true or false")
        if isinstance(v, _Missing):
            return v
        if not isinstance(v, bool):
            self.problem(node, path, f"{_show(v)} is not a boolean, use true or false")
            return _BAD
        return v

    def text(self, node: Node, path: str, *, one_line: bool = False,
             max_len: int | None = None) -> str | _Missing:
        v = self.scalar(node, path, "a string")
        if isinstance(v, _Missing):
            return v
        if not isinstance(v, str) or not v.strip():
            self.problem(node, path, f"{_show(v)} is not a non-empty string")
            return _BAD
        if one_line and "\n" in v.strip():
            self.problem(node, path, "must be one line; shorten it")
            return _BAD
        if max_len is not None and len(v.strip()) > max_len:
            self.problem(node, path, f"{_show(v.strip())} is {len(v.strip())} characters long, the "
                                     f"limit is {max_len}; shorten it")
            return _BAD
        return v.strip()

    def choice(self, node: Node, path: str, choices: Sequence[str]) -> str | _Missing:
        v = self.scalar(node, path, f"one of {', '.join(choices)}")
        if isinstance(v, _Missing):
            return v
        if not isinstance(v, str) or v not in choices:
            self.problem(node, path, _unknown(_show(v), choices, "value"))
            return _BAD
        return v

    def duration(self, node: Node, path: str, *, positive: bool = False,
                 hi: float = MAX_DURATION_S) -> float | _Missing:
        v = self.scalar(node, path, "a duration")
        if isinstance(v, _Missing):
            return v
        if isinstance(v, str) and len(v) > 40:  # no duration is this long; keep the message short
            self.problem(node, path, f"{_show(v)} is not a duration, {DURATION_HINT}")
            return _BAD
        try:
            seconds = parse_duration_s(v)
        except ValueError as exc:
            self.problem(node, path, str(exc))
            return _BAD
        if positive and seconds == 0:
            self.problem(node, path, "must be longer than 0s")
            return _BAD
        if seconds > hi:
            self.problem(node, path, f"{v} is too long, the limit is {hi:g}s")
            return _BAD
        return seconds

    def optional(self, keys: Mapping[str, Node], key: str, path: str, default: T,
                 read: Callable[[Node, str], T | _Missing]) -> T | _Missing:
        if key not in keys:
            return default
        return read(keys[key], f"{path}.{key}" if path else key)

    # ---- sections ----

    def scenario(self, root: Node, default_name: str) -> Scenario | None:
        keys = self.mapping(root, "", _TOP_KEYS, required=_TOP_REQUIRED)
        if keys is None:
            return None
        name = self.optional(keys, "name", "", default_name,
                             lambda n, p: self.text(n, p, one_line=True, max_len=MAX_NAME))
        desc = self.optional(keys, "description", "",
                             "", lambda n, p: self.text(n, p, one_line=True))
        seed = self.optional(keys, "seed", "", 1,
                             lambda n, p: self.integer(n, p, 0, MAX_SEED, rule=f"{SEED_RULE} ({MAX_SEED})"))
        cluster = (self.cluster(keys["cluster"], "cluster") if "cluster" in keys
                   else self.cluster(MappingNode("tag:yaml.org,2002:map", [], root.start_mark, root.end_mark),
                                     "cluster"))
        if isinstance(cluster, ClusterSpec):
            self.size = cluster.size
        workload = self.workload(keys["workload"], "workload") if "workload" in keys else _BAD
        duration = workload.duration_s if isinstance(workload, WorkloadSpec) else None
        faults = self.optional(keys, "faults", "", _NO_ENTRIES, lambda n, p: self.faults(n, p, duration))
        checks = self.optional(keys, "checks", "", ChecksSpec(), self.checks)
        parts = (name, desc, seed, cluster, workload, faults, checks)
        if any(isinstance(x, _Missing) for x in parts):
            return None
        assert isinstance(name, str) and isinstance(desc, str) and isinstance(seed, int)
        assert isinstance(cluster, ClusterSpec) and isinstance(workload, WorkloadSpec)
        assert isinstance(faults, tuple) and isinstance(checks, ChecksSpec)
        return Scenario(name=name, description=desc, seed=seed, cluster=cluster, workload=workload,
                        faults=faults, checks=checks, source=self.source)

    def cluster(self, node: Node, path: str) -> ClusterSpec | _Missing:
        keys = self.mapping(node, path, _CLUSTER_KEYS)
        if keys is None:
            return _BAD
        if "target" in keys and self.override is None:
            name = self.choice(keys["target"], f"{path}.target", sorted(TARGETS))
            if isinstance(name, _Missing):
                return _BAD
            self.system = get_target(name)
        size = self.optional(keys, "size", path, 3, self.cluster_size)
        bugs = self.optional(keys, "bugs", path, _NO_BUGS, self.bug_list)
        given: dict[str, str] = {}
        for key in _OPTION_KEYS:
            if key not in keys:
                continue
            if key not in {o.name for o in self.system.options}:
                self.problem(keys[key], f"{path}.{key}", f"is an option of target {_owners(key)}, "
                                                         f"not of {self.system.name}; remove it")
                return _BAD
            opt = next(o for o in self.system.options if o.name == key)
            value = (self.path_option(keys[key], f"{path}.{key}", key) if opt.kind == "path"
                     else self.choice(keys[key], f"{path}.{key}", opt.choices))
            if isinstance(value, _Missing):
                return _BAD
            given[key] = value
        if not self.apply_option_overrides(node, path, given):
            return _BAD
        if isinstance(size, _Missing) or isinstance(bugs, _Missing):
            return _BAD
        if bugs and not self.system.known_bugs:
            self.problem(keys["bugs"], f"{path}.bugs", f"target {self.system.name} has no deliberate bugs "
                                                       "(bugs are the paxos replica's); remove it")
            return _BAD
        try:
            options = tuple(sorted(self.system.check_options(given).items()))
        except ValueError as exc:  # a path option that must be given
            self.problem(node, path, f"{exc}")
            return _BAD
        return ClusterSpec(size=size, bugs=bugs, target=self.system.name, options=options)

    def apply_option_overrides(self, node: Node, path: str, given: dict[str, str]) -> bool:
        """The CLI's option overrides (`--node`), checked like the file's own; False after a problem."""
        ok = True
        for key, value in self.option_overrides.items():
            opt = next((o for o in self.system.options if o.name == key), None)
            if opt is None:
                self.problem(node, path, f"--{key} is an option of target {_owners(key) or '(none)'}, "
                                         f"not of {self.system.name}; leave it out or use --target")
                ok = False
                continue
            given[key] = value  # a path: made absolute and checked by `option_overrides`
        return ok

    def path_option(self, node: Node, path: str, option: str) -> str | _Missing:
        """A host path, relative to the scenario file's folder, checked by the target; returned absolute."""
        v = self.scalar(node, path, "a path")
        if isinstance(v, _Missing):
            return v
        if not isinstance(v, str):
            self.problem(node, path, f"{_show(v)} is not a path; give the file's path, relative to this "
                                     "scenario's folder, e.g. ./my-node.py")
            return _BAD
        base = Path(self.source).parent if self.source != "<string>" else Path.cwd()
        try:
            return self.system.resolve_path(option, v, base=base)
        except ValueError as exc:
            self.problem(node, path, str(exc))
            return _BAD

    def cluster_size(self, node: Node, path: str) -> int | _Missing:
        v = self.scalar(node, path, "3, 5 or 7")
        if isinstance(v, _Missing):
            return v
        if isinstance(v, bool) or v not in CLUSTER_SIZES:
            self.problem(node, path, f"{_show(v)} is not a supported cluster size, use 3, 5 or 7")
            return _BAD
        assert isinstance(v, int)
        return v

    def bug_list(self, node: Node, path: str) -> tuple[str, ...] | _Missing:
        items = node.value if isinstance(node, SequenceNode) else None
        if items is None:
            self.problem(node, path, f"expected a list of bug names, got {_kind(node)}")
            return _BAD
        out = [self.text(item, f"{path}[{i}]") for i, item in enumerate(items)]
        good = [b for b in out if isinstance(b, str)]
        for i, b in enumerate(out):
            try:  # one name at a time, so each unknown one is reported at its own line
                self.system.parse_bugs([b] if isinstance(b, str) else [])
            except ValueError as exc:  # the replica would refuse to start with it (BUGS)
                self.problem(items[i], f"{path}[{i}]", f"{exc}; fix or remove it")
                good = []
        return self.system.parse_bugs(good) if len(good) == len(out) else _BAD

    def workload(self, node: Node, path: str) -> WorkloadSpec | _Missing:
        keys = self.mapping(node, path, _WORKLOAD_KEYS, required=_WORKLOAD_REQUIRED)
        if keys is None or "duration" not in keys:
            return _BAD
        vals: dict[str, object] = {
            "duration_s": self.duration(keys["duration"], f"{path}.duration", positive=True),
            "concurrency": self.optional(keys, "concurrency", path, 5,
                                         lambda n, p: self.integer(n, p, 1, MAX_CONCURRENCY)),
            "rate_per_s": self.optional(keys, "rate", path, None,
                                        lambda n, p: self.number(n, p, 0, MAX_RATE, lo_open=True)),
            "keys": self.optional(keys, "keys", path, 5, lambda n, p: self.integer(n, p, 1, MAX_KEYS)),
            "distribution": self.optional(keys, "distribution", path, "uniform",
                                          lambda n, p: self.choice(n, p, _DISTRIBUTIONS)),
            "skew": self.optional(keys, "skew", path, 1.0,
                                  lambda n, p: self.number(n, p, 0, MAX_SKEW, lo_open=True)),
            "mix": self.optional(keys, "mix", path, self.system.default_mix, self.mix),
            "timeout_s": self.optional(keys, "timeout", path, 2.0,
                                       lambda n, p: self.duration(n, p, positive=True, hi=MAX_OP_TIMEOUT_S)),
            "attempts": self.optional(keys, "attempts", path, 3,
                                      lambda n, p: self.integer(n, p, 1, MAX_ATTEMPTS)),
            "retry_unknown": self.optional(keys, "retry_unknown", path, False, self.boolean),
        }
        if any(isinstance(x, _Missing) for x in vals.values()):
            return _BAD
        if vals["retry_unknown"] is True and not self.system.dedup:
            self.problem(keys["retry_unknown"], f"{path}.retry_unknown",
                         f"target {self.system.name} does not apply a retried request once, so retrying an "
                         "op of unknown outcome could apply it twice; remove it")
            return _BAD
        if "skew" in keys and vals["distribution"] != "skewed":
            self.problem(keys["skew"], f"{path}.skew", "only applies to `distribution: skewed`; "
                                                       "remove it or set the distribution")
            return _BAD
        return WorkloadSpec(**vals)  # type: ignore[arg-type]  # each value checked above

    def mix(self, node: Node, path: str) -> tuple[tuple[str, float], ...] | _Missing:
        keys = self.mapping(node, path, OPS)
        if keys is None:
            return _BAD
        weights = {op: self.number(n, f"{path}.{op}", 0, MAX_WEIGHT) for op, n in keys.items()}
        unsupported = [op for op, w in weights.items() if op not in self.system.ops and w != 0]
        for op in unsupported:
            self.problem(keys[op], f"{path}.{op}", f"target {self.system.name} has no {op}; its ops are "
                                                   f"{', '.join(self.system.ops)}: remove it or set it to 0")
        if unsupported:
            return _BAD
        good = {op: w for op, w in weights.items() if isinstance(w, float)}
        if len(good) != len(weights):
            return _BAD
        if not any(w > 0 for w in good.values()):
            self.problem(node, path, "needs at least one operation with a weight above 0, "
                                     "e.g. {get: 1, put: 1}")
            return _BAD
        return tuple((op, good[op]) for op in OPS if good.get(op, 0) > 0)

    def checks(self, node: Node, path: str) -> ChecksSpec | _Missing:
        keys = self.mapping(node, path, _CHECKS_KEYS)
        if keys is None:
            return _BAD
        lin = self.optional(keys, "linearizable", path, True, self.boolean)
        timeout = self.optional(keys, "timeout", path, 60.0,
                                lambda n, p: self.duration(n, p, positive=True))
        recovery = self.optional(keys, "recovery", path, 15.0,
                                 lambda n, p: self.duration(n, p, positive=True, hi=3600))
        if isinstance(lin, _Missing) or isinstance(timeout, _Missing) or isinstance(recovery, _Missing):
            return _BAD
        return ChecksSpec(linearizable=lin, timeout_s=timeout, recovery_s=recovery)

    # ---- faults ----

    def faults(self, node: Node, path: str,
               duration: float | None) -> tuple[ScheduleEntry, ...] | _Missing:
        path = path or "faults"
        if isinstance(node, ScalarNode) and self.value(node) is None:
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"expected a list of faults (`- partition: ...`), got {_kind(node)}")
            return _BAD
        entries = [self.entry(item, f"{path}[{i}]", i, duration) for i, item in enumerate(node.value)]
        good = [e for e in entries if isinstance(e, ScheduleEntry)]
        return tuple(good) if len(good) == len(entries) else _BAD

    def entry(self, node: Node, path: str, index: int,
              duration: float | None) -> ScheduleEntry | _Missing:
        before = len(self.problems)
        keys = self.mapping(node, path, _FAULT_KEYS + _TIMING_KEYS)
        if keys is None:
            return _BAD
        kinds = [k for k in keys if k in _FAULT_KEYS]
        if not kinds and len(self.problems) > before:
            return _BAD  # a misspelt fault name was already reported; one message is enough
        if len(kinds) != 1:
            what = "no fault" if not kinds else f"several faults ({', '.join(kinds)})"
            self.problem(node, path, f"has {what}; each item needs exactly one of "
                                     f"{', '.join(_FAULT_KEYS)}")
            return _BAD
        kind = kinds[0]
        if kind == "one-of":
            choices = self.one_of(keys[kind], f"{path}.one-of")
        else:
            single = self.fault(kind, keys[kind], f"{path}.{kind}")
            choices = _BAD if isinstance(single, _Missing) else (single,)
        timing = self.timing(keys, path, duration)
        if isinstance(choices, _Missing) or isinstance(timing, _Missing):
            return _BAD
        at_s, for_s, every_s, jitter_s, until_s = timing
        if not self.timing_fits(keys, path, choices, timing):
            return _BAD
        if "until" in keys and duration is not None and until_s > duration:
            self.problem(keys["until"], f"{path}.until", f"{until_s:g}s is after the workload ends "
                                                         f"({duration:g}s); remove it or make it earlier")
            return _BAD
        return ScheduleEntry(index=index, line=node.start_mark.line + 1, choices=choices, at_s=at_s,
                             for_s=for_s, every_s=every_s, jitter_s=jitter_s, until_s=until_s)

    def one_of(self, node: Node, path: str) -> tuple[FaultSpec, ...] | _Missing:
        if not isinstance(node, SequenceNode) or len(node.value) < 2:
            self.problem(node, path, "expected a list of at least two faults to choose from, "
                                     "e.g. [{kill: {target: random}}, {pause: {target: leader}}]")
            return _BAD
        out: list[FaultSpec | _Missing] = []
        for i, item in enumerate(node.value):
            keys = self.mapping(item, f"{path}[{i}]", _FAULT_KEYS[:-1])
            if keys is None:
                out.append(_BAD)
            elif len(keys) != 1:
                self.problem(item, f"{path}[{i}]", "each choice needs exactly one fault; timing "
                                                   "keys (at, for, every) go on the item itself")
                out.append(_BAD)
            else:
                (kind, fnode), = keys.items()
                out.append(self.fault(kind, fnode, f"{path}[{i}].{kind}"))
        good = [f for f in out if not isinstance(f, _Missing)]
        return tuple(good) if len(good) == len(out) else _BAD

    def timing(self, keys: Mapping[str, Node], path: str, duration: float | None
               ) -> tuple[float, float | None, float | None, float, float] | _Missing:
        at = self.optional(keys, "at", path, 0.0, self.duration)
        for_ = self.optional(keys, "for", path, None, lambda n, p: self.duration(n, p, positive=True))
        every = self.optional(keys, "every", path, None,
                              lambda n, p: self.duration(n, p, positive=True))
        jitter = self.optional(keys, "jitter", path, 0.0, self.duration)
        until = self.optional(keys, "until", path, duration if duration is not None else 0.0,
                              self.duration)
        if any(isinstance(x, _Missing) for x in (at, for_, every, jitter, until)):
            return _BAD
        assert isinstance(at, float) and isinstance(jitter, float) and isinstance(until, float)
        assert for_ is None or isinstance(for_, float)
        assert every is None or isinstance(every, float)
        return at, for_, every, jitter, until

    def timing_fits(self, keys: Mapping[str, Node], path: str, choices: tuple[FaultSpec, ...],
                    timing: tuple[float, float | None, float | None, float, float]) -> bool:
        """Cross-field rules: inside the workload, no overlapping repeats, duration only when healable."""
        at_s, for_s, every_s, jitter_s, until_s = timing
        ok = True
        instant = [c for c in choices if isinstance(c, _INSTANT) or
                   (isinstance(c, ProcessSpec) and c.action == "restart")]
        if instant and len(instant) == len(choices) and "for" in keys:
            self.problem(keys["for"], f"{path}.for", "a restart is instantaneous and has no "
                                                     "duration; remove `for`")
            ok = False
        span = _rolling_span(choices, self.size)
        if until_s > 0 and at_s >= until_s:
            where = "until" if "until" in keys else "the workload ends"
            self.problem(keys["at"] if "at" in keys else keys["until"], f"{path}.at",
                         f"starts at {at_s:g}s, at or after {where} ({until_s:g}s); start it earlier")
            ok = False
        if every_s is None:
            for key in ("jitter", "until"):
                if key in keys:
                    self.problem(keys[key], f"{path}.{key}", "only applies with `every`; add "
                                                             "`every:` or remove it")
                    ok = False
            return ok
        if for_s is None and len(instant) < len(choices):
            self.problem(keys["every"], f"{path}.every", "a repeated fault needs `for:` (how long "
                                                         "each occurrence lasts)")
            return False
        busy = (for_s or 0.0) + jitter_s + span
        if busy > every_s:
            self.problem(keys["every"], f"{path}.every", f"{every_s:g}s is shorter than for + jitter "
                                                         f"({busy:g}s), so occurrences would overlap; "
                                                         "make `every` longer")
            ok = False
        elif until_s > at_s and (until_s - at_s) / every_s > MAX_OCCURRENCES:
            self.problem(keys["every"], f"{path}.every", f"would repeat more than "
                                                         f"{MAX_OCCURRENCES} times; make it longer")
            ok = False
        return ok

    def fault(self, kind: str, node: Node, path: str) -> FaultSpec | _Missing:
        readers: dict[str, Callable[[Node, str], FaultSpec | _Missing]] = {
            "partition": self.partition,
            **{name: self.link_reader(toxic) for name, toxic in TOXIC_FAULTS.items()},
            "kill": lambda n, p: self.process(n, p, "kill"),
            "pause": lambda n, p: self.process(n, p, "pause"),
            "restart": lambda n, p: self.process(n, p, "restart"),
            "power-loss": lambda n, p: self.process(n, p, "power-loss"),
            "corrupt": lambda n, p: self.process(n, p, "corrupt"),
            "rolling-restart": self.rolling_restart,
        }
        why = self.system.unsupported_faults.get(kind)
        if why is not None:
            self.problem(node, path, f"target {self.system.name} cannot take {kind}: {why}")
            return _BAD
        if isinstance(node, ScalarNode) and self.value(node) is None:
            node = MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        return readers[kind](node, path)

    def partition(self, node: Node, path: str) -> FaultSpec | _Missing:
        keys = self.mapping(node, path, _PARTITION_KEYS, required=_PARTITION_REQUIRED)
        if keys is None or "shape" not in keys:
            return _BAD
        shape = self.choice(keys["shape"], f"{path}.shape", SHAPES)
        mode = self.optional(keys, "mode", path, "drop", lambda n, p: self.choice(n, p, MODES))
        one_way = self.optional(keys, "one-way", path, False, self.boolean)
        target = self.optional(keys, "target", path, None, self.target)
        groups = self.optional(keys, "groups", path, _NO_GROUPS, self.groups)
        if any(isinstance(x, _Missing) for x in (shape, mode, one_way, target, groups)):
            return _BAD
        assert isinstance(shape, str) and isinstance(one_way, bool) and isinstance(groups, tuple)
        assert target is None or isinstance(target, TargetSpec)
        if not self.partition_fits(keys, path, shape, one_way, target, groups):
            return _BAD
        if shape == "isolate-leader":
            if not self.no_leader_probe(keys["shape"], f"{path}.shape"):
                return _BAD
            shape, target = "isolate", TargetSpec(kind="leader")
        elif shape == "isolate" and target is None:
            target = TargetSpec(kind="random")
        return PartitionSpec(shape=shape, mode="reject" if mode == "reject" else "drop",
                             one_way=one_way, target=target, groups=groups)

    def partition_fits(self, keys: Mapping[str, Node], path: str, shape: str, one_way: bool,
                       target: TargetSpec | None, groups: tuple[tuple[int, ...], ...]) -> bool:
        ok = True
        if (shape == "groups") != ("groups" in keys):
            where = keys.get("groups", keys["shape"])
            self.problem(where, f"{path}.groups", "`groups` goes with `shape: groups` and only "
                                                  "with it, e.g. groups: [[n1, n2], [n3]]")
            ok = False
        if "target" in keys:
            if shape != "isolate":
                self.problem(keys["target"], f"{path}.target", "only `shape: isolate` takes a "
                                                               "target (the node to isolate)")
                ok = False
            elif target is not None and (target.kind in ("minority", "majority", "all") or
                                         (target.kind == "nodes" and len(target.nodes) != 1)):
                self.problem(keys["target"], f"{path}.target", "isolate takes one node: leader, "
                                                               "random or a name like n2")
                ok = False
        if one_way and shape == "majorities-ring":
            self.problem(keys["one-way"], f"{path}.one-way", "majorities-ring is already "
                                                             "asymmetric; remove one-way")
            ok = False
        return ok

    def groups(self, node: Node, path: str) -> tuple[tuple[int, ...], ...] | _Missing:
        if not isinstance(node, SequenceNode) or len(node.value) < 2:
            self.problem(node, path, "expected at least two groups, e.g. [[n1, n2], [n3]]")
            return _BAD
        groups = [self.node_list(g, f"{path}[{i}]") for i, g in enumerate(node.value)]
        good = [g for g in groups if isinstance(g, tuple)]
        if len(good) != len(groups):
            return _BAD
        seen = [n for g in good for n in g]
        dup = sorted({n for n in seen if seen.count(n) > 1})
        if dup:
            self.problem(node, path, f"n{dup[0]} is in more than one group; each node goes in one")
            return _BAD
        if self.size is not None and len(seen) != self.size:
            missing = sorted(set(range(1, self.size + 1)) - set(seen))
            self.problem(node, path, f"n{missing[0]} is in no group; list every node "
                                     f"n1..n{self.size} in exactly one group")
            return _BAD
        return tuple(good)

    def node_list(self, node: Node, path: str) -> tuple[int, ...] | _Missing:
        if not isinstance(node, SequenceNode) or not node.value:
            self.problem(node, path, "expected a non-empty list of node names, e.g. [n1, n2]")
            return _BAD
        ids = [self.node_name(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        good = [i for i in ids if isinstance(i, int)]
        return tuple(good) if len(good) == len(ids) else _BAD

    def node_name(self, node: Node, path: str) -> int | _Missing:
        v = self.scalar(node, path, "a node name such as n1")
        if isinstance(v, _Missing):
            return v
        size = self.size or 7
        if not _is_node_name(v):
            self.problem(node, path, f"{_show(v)} is not a node name, use n1..n{size}")
            return _BAD
        ident = int(v[1:])
        if not 1 <= ident <= size:
            self.problem(node, path, f"{v} is not in this cluster of {size} replicas, "
                                     f"use n1..n{size}")
            return _BAD
        return ident

    def target(self, node: Node, path: str) -> TargetSpec | _Missing:
        if isinstance(node, SequenceNode):
            ids = self.node_list(node, path)
            return _BAD if isinstance(ids, _Missing) else TargetSpec(kind="nodes", nodes=ids)
        v = self.scalar(node, path, "a target")
        if v == "leader" and not self.no_leader_probe(node, path):
            return _BAD
        if isinstance(v, str) and v in TARGET_WORDS:
            return TargetSpec(kind=v)  # type: ignore[arg-type]  # checked against TARGET_WORDS
        if _is_node_name(v):
            ident = self.node_name(node, path)
            return _BAD if isinstance(ident, _Missing) else TargetSpec(kind="nodes", nodes=(ident,))
        if not isinstance(v, _Missing):
            self.problem(node, path, _unknown(_show(v), TARGET_WORDS + ("n1", "[n1, n2]"), "target"))
        return _BAD

    def no_leader_probe(self, node: Node, path: str) -> bool:
        """False (and a problem) when the target cannot say which node leads (maelstrom's nodes)."""
        if self.system.leader_probe:
            return True
        self.problem(node, path, f"target {self.system.name} has no leader probe, so no step can aim at the "
                                 "leader; use random, minority, majority or a node such as n1")
        return False

    def link_reader(self, toxic: ToxicType) -> Callable[[Node, str], FaultSpec | _Missing]:
        return lambda node, path: self.link(node, path, toxic)

    def link(self, node: Node, path: str, toxic: ToxicType) -> FaultSpec | _Missing:
        fields = TOXIC_ATTRS[toxic]
        own = tuple(f[0] for f in fields)
        required = tuple(f[0] for f in fields if f[3])
        keys = self.mapping(node, path, own + _LINK_KEYS, required=required)
        if keys is None or any(r not in keys for r in required):
            return _BAD
        attrs = self.link_attributes(keys, path, toxic)
        links = self.optional(keys, "links", path, "peers", lambda n, p: self.choice(n, p, LINKS))
        target = self.optional(keys, "target", path, TargetSpec(kind="all"), self.target)
        toxicity = self.optional(keys, "toxicity", path, 1.0, lambda n, p: self.number(n, p, 0, 1))
        if any(isinstance(x, _Missing) for x in (attrs, links, target, toxicity)):
            return _BAD
        assert isinstance(attrs, tuple) and isinstance(target, TargetSpec)
        assert isinstance(toxicity, float)
        return LinkSpec(toxic=toxic, attributes=attrs, target=target, toxicity=toxicity,
                        links="all" if links == "all" else "clients" if links == "clients" else "peers")

    def link_attributes(self, keys: Mapping[str, Node], path: str,
                        toxic: ToxicType) -> tuple[tuple[str, int], ...] | _Missing:
        """The toxic's integer attributes in Toxiproxy's units (ms; us for slicer delay; bytes)."""
        out: dict[str, int] = {}
        for key, attr, unit, _, default, lo, hi in TOXIC_ATTRS[toxic]:
            if key not in keys:
                out[attr] = default
                continue
            kpath = f"{path}.{key}"
            if unit == "int":
                v = self.integer(keys[key], kpath, lo, hi)
            else:
                seconds = self.duration(keys[key], kpath, positive=lo > 0, hi=hi)
                v = seconds if isinstance(seconds, _Missing) else round(seconds * _UNIT_SCALE[unit])
            if isinstance(v, _Missing):
                return _BAD
            out[attr] = v
        if toxic == "latency" and out["jitter"] > out["latency"]:
            # Toxiproxy would clamp negative delays; our noxious server refuses them: say so up front.
            self.problem(keys["jitter"], f"{path}.jitter", f"{out['jitter']:g}ms is more than the latency "
                                                           f"({out['latency']:g}ms); use at most the latency")
            return _BAD
        if toxic == "slicer" and out["size_variation"] >= out["average_size"]:
            where = keys.get("size-variation", keys.get("average-size"))
            assert where is not None  # defaults (64, 0) satisfy the rule, so one key was given
            self.problem(where, f"{path}.size-variation", f"{out['size_variation']} must be less than "
                                                          f"average-size ({out['average_size']})")
            return _BAD
        return tuple(out.items())

    def process(self, node: Node, path: str,
                action: ProcessActionName) -> FaultSpec | _Missing:
        keys = self.mapping(node, path, _PROCESS_KEYS[action])
        if keys is None:
            return _BAD
        target = self.optional(keys, "target", path, TargetSpec(kind="random"), self.target)
        graceful = self.optional(keys, "graceful", path, True, self.boolean)
        where = self.optional(keys, "where", path, "tail",
                              lambda n, p: self.choice(n, p, CORRUPT_WHERE))
        model = self.optional(keys, "model", path, "strict",
                              lambda n, p: self.choice(n, p, POWERFS_MODELS))
        if any(isinstance(x, _Missing) for x in (target, graceful, where, model)):
            return _BAD
        assert isinstance(target, TargetSpec) and isinstance(graceful, bool)
        if action == "power-loss" and model != self.powerfs_model.setdefault("model", str(model)):
            self.problem(keys.get("model", node), f"{path}.model", f"{model} differs from the {self.powerfs_model['model']} "
                                                         "of an earlier power-loss; a cluster runs one powerfs "
                                                         "model, so give every power-loss the same `model`")
            return _BAD
        return ProcessSpec(action=action, target=target, graceful=graceful,
                           where="random" if where == "random" else "tail",
                           model="ext4" if model == "ext4" else "strict")

    def rolling_restart(self, node: Node, path: str) -> FaultSpec | _Missing:
        keys = self.mapping(node, path, _ROLLING_KEYS)
        if keys is None:
            return _BAD
        gap = self.optional(keys, "gap", path, 5.0, lambda n, p: self.duration(n, p, hi=3600))
        graceful = self.optional(keys, "graceful", path, True, self.boolean)
        if isinstance(gap, _Missing) or isinstance(graceful, _Missing):
            return _BAD
        return RollingRestartSpec(gap_s=gap, graceful=graceful)


def _rolling_span(choices: Sequence[FaultSpec], size: int | None) -> float:
    """How long the longest rolling restart among `choices` keeps restarting nodes."""
    spans = [c.gap_s * (size or 3) for c in choices if isinstance(c, RollingRestartSpec)]
    return max(spans, default=0.0)


class _BigInt:
    """An integer scalar too long to convert: Python refuses more than 4,300 digits (with a
    traceback), and no field takes more than 19. Reported as out of range, shown shortened."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"{self.text[:12]}...{self.text[-4:]} ({len(self.text)} characters)"


class _Unreadable:
    """A scalar the YAML constructor cannot build (`2024-13-45`, `!!int x`); str() says why."""

    def __init__(self, node: ScalarNode, reason: str) -> None:
        tag = node.tag.rsplit(":", 1)[-1]
        self.message = f"{_show(node.value)} is not a valid {tag} ({_short(reason, 60)})"

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__


_INT_TAG = "tag:yaml.org,2002:int"
_COLLECTION = _Missing()  # the value of a list or mapping where a scalar is read (a key)


def _construct(node: Node) -> object:
    """The Python value of a scalar node. Never raises: what PyYAML's constructor would raise on (a
    date that does not exist, `!!float x`, a 5,000-digit integer) becomes an `_Unreadable`/`_BigInt`.
    Lists and mappings are not built at all (only keys come here), so no alias is ever expanded."""
    if not isinstance(node, ScalarNode):
        return _COLLECTION
    if node.tag == _INT_TAG and len(node.value) > 40:
        return _BigInt(node.value)
    try:
        return SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
        # PyYAML's scalar constructors raise these on malformed text, not only ConstructorError
        reason = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
        return _Unreadable(node, reason or type(exc).__name__)


def _is_node_name(v: object) -> TypeGuard[str]:
    """`n` and a few ASCII digits (isdigit() alone takes `n²`, which int() refuses, and 5,000 digits)."""
    return isinstance(v, str) and v.startswith("n") and 2 <= len(v) <= 6 and v[1:].isascii() \
        and v[1:].isdigit()


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return _show(_construct(node)) if isinstance(node, ScalarNode) else "?"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _show(v: object) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, str):  # a newline or control character is escaped: one problem, one line
        return f"'{_short(v)}'" if v.isprintable() else _short(repr(v), 62)
    return _short(repr(v), 80)


def _unknown(word: str, allowed: Sequence[str], what: str) -> str:
    word = _short(word, 62)
    close = difflib.get_close_matches(word.strip("'"), list(allowed), n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown {what} {word if word.startswith(chr(39)) else repr(word)}; {hint}" \
           f"use one of: {', '.join(allowed)}"


def under_target(path: Path, own: Scenario, target: str | None,
                 options: Mapping[str, str] | None = None) -> Scenario | str:
    """`own` (the file as written, valid) run under `target` (None: its own) with the CLI's option
    overrides: the scenario, or why it does not apply (its first validation problem under that target,
    without the file:line prefix)."""
    if (target is None or target == own.cluster.target) and not options:
        return own
    try:
        return load_scenario(path, target=target, options=options)
    except ScenarioError as exc:
        return str(exc).splitlines()[0].split(" ", 1)[-1]


def for_target(paths: Sequence[Path], target: str | None,
               options: Mapping[str, str] | None = None) -> tuple[list[Scenario], list[tuple[Path, str]]]:
    """The scenarios of `paths` that apply to `target` (None: each file's own) with the CLI's option
    overrides, and those that do not, each with the reason (`under_target`).

    Raises:
        ScenarioError: a file is invalid on its own (whatever the target): that is the user's to fix.
    """
    if target is not None:
        get_target(target)  # an unknown target: UsageError listing the known ones
    runnable: list[Scenario] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        found = under_target(path, load_scenario(path), target, options)
        if isinstance(found, str):
            skipped.append((path, found))
        else:
            runnable.append(found)
    return runnable, skipped


# -- the `validate` and `list` subcommands (registered by harness.cli) -------------------------------

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
        if isinstance(found, str):
            entries.append(_list_entry(path, s, why=found))
            if not args.json:
                print(f"{s.name:24} does not apply to {args.target}: {found}")
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
