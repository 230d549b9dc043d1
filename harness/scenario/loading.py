"""Loading scenario files: bounded YAML composition, file:line errors, the `--seed` rule, and which
scenarios apply to a target.

Loading turns YAML into frozen dataclasses and nothing else: it starts no container and reads no
clock. All problems of a file are collected before one `ScenarioError` is raised.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from yaml.events import AliasEvent
from yaml.nodes import Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from harness.scenario.model import MAX_FILE_BYTES, MAX_PROBLEMS, MAX_SEED, MAX_YAML_DEPTH, MAX_YAML_VALUES, SEED_RULE, Scenario
from harness.scenario.nodes import _short, _unknown
from harness.scenario.validation import Validator
from harness.scenario.worlds import docker_refusal
from targets.errors import ScenarioError
from targets.registry import TARGETS, get_target

__all__ = ["for_target", "load_scenario", "parse_scenario", "scenario_files", "seed_argument", "under_target"]


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
    v = Validator(source, target=target, options=options)
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



def scenario_files(directory: str | Path) -> list[Path]:
    """The scenario files of a directory (`*.yaml` and `*.yml`), sorted by name."""
    d = Path(directory)
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


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
    overrides, and those that do not, each with the reason (`under_target`; or, for a file with a
    simulator-only fault, `worlds.docker_refusal`: every target runs in Docker).

    Raises:
        ScenarioError: a file is invalid on its own (whatever the target): that is the user's to fix.
    """
    if target is not None:
        get_target(target)  # an unknown target: UsageError listing the known ones
    runnable: list[Scenario] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        found = under_target(path, load_scenario(path), target, options)
        if isinstance(found, Scenario):
            found = docker_refusal(found) or found
        if isinstance(found, str):
            skipped.append((path, found))
        else:
            runnable.append(found)
    return runnable, skipped
