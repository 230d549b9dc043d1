"""Reading composed YAML nodes safely: scalar values that never raise, and the wording of problems.

Shared by the loader and the validator's sections. A value that is absent or invalid is `_BAD` (its
problem is already recorded), so a section can go on and report every problem of a file at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TypeGuard

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

class _Missing:
    """Marks a value that was absent or invalid (its problem is already recorded)."""


_BAD = _Missing()


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
