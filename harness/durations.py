"""Durations as users write them: `10s`, `500ms`, `2m`, `1m30s`, `1.5s`, `0s`.

One parser for every place a human types a duration (scenario files, CLI flags), so the accepted
spellings and the error message are the same everywhere. Pure: no clock is read here.
"""

from __future__ import annotations

import re

__all__ = ["DURATION_HINT", "DURATION_PATTERN", "format_duration", "parse_duration_s"]

DURATION_HINT = "use e.g. 10s, 500ms, 2m or 1m30s"

_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# One or more <number><unit> parts, largest unit first is not enforced (1m30s and 30s1m both mean 90s
# would be surprising, so the order check below rejects the second).
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})(ms|h|m|s)")
_ORDER = ["h", "m", "s", "ms"]
# The same rule as one regular expression, for the scenarios' JSON Schema (harness.scenario_schema): each
# unit at most once, largest first, at least one part, blanks around ignored (the parser strips them). It
# uses only what JavaScript's regular expressions share with Python's, since editors check with those.
DURATION_PATTERN = r"^\s*(?=\d)" + "".join(rf"(?:{_NUMBER}{unit})?" for unit in _ORDER) + r"\s*$"


def parse_duration_s(text: object) -> float:
    """Parse a duration and return it in seconds.

    Args:
        text: a string such as `10s`, `500ms`, `2m`, `1h`, `1m30s`. The integer 0 is accepted as
            "no time" because `0` is unambiguous; any other bare number is rejected because its unit
            would be a guess.

    Returns:
        The duration in seconds (>= 0).

    Raises:
        ValueError: with a message `'<text>' is not a duration, <hint>` (or `... is negative`) that
            callers prefix with the place (file, line, field).
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration, {DURATION_HINT}")
    if isinstance(text, (int, float)):
        if text == 0:
            return 0.0
        if text < 0:
            raise ValueError(f"{text!r} is negative; a duration must be >= 0, {DURATION_HINT}")
        raise ValueError(f"{text!r} has no unit, write {_suggest(text)} ({DURATION_HINT})")
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration, {DURATION_HINT}")
    s = text.strip()
    if s.startswith("-") and _is_duration(s[1:]):
        raise ValueError(f"'{text}' is negative; a duration must be >= 0, {DURATION_HINT}")
    if not _is_duration(s):
        raise ValueError(f"'{text}' is not a duration, {DURATION_HINT}")
    return sum(float(num) * _UNIT_S[unit] for num, unit in _PART.findall(s))


def _is_duration(s: str) -> bool:
    parts = list(_PART.finditer(s))
    if not parts or "".join(p.group(0) for p in parts) != s:
        return False
    ranks = [_ORDER.index(p.group(2)) for p in parts]
    return ranks == sorted(set(ranks)) and len(ranks) == len(set(ranks))


def _suggest(number: float) -> str:
    return f"{number:g}s" if number >= 1 else f"{number * 1000:g}ms"


def format_duration(seconds: float) -> str:
    """Render seconds the way a user would write them (`1.5s`, `250ms`, `2m`); inverse of the parser."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
