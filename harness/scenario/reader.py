"""The validator's primitives: a `Reader` walks composed YAML nodes and collects problems as
(line, `file:line field.path: what, how to fix`).

The sections (`workload_section`, `fault_section`, `validation`) build on these; nothing here knows
what a scenario contains.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode

from harness.durations import DURATION_HINT, parse_duration_s
from harness.scenario.model import MAX_DURATION_S
from harness.scenario.nodes import _BAD, _BigInt, _construct, _kind, _Missing, _short, _show, _unknown, _Unreadable
from targets.contract import Target
from targets.registry import DEFAULT_TARGET, get_target

__all__ = ["Reader"]

T = TypeVar("T")


class Reader:
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
