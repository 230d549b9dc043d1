"""A small reader for the EDN that Jepsen histories use (one value per call, pure).

Supported: maps, vectors, lists, sets, strings with escapes, keywords, symbols, integers, floats,
nil, true and false. Keywords are returned as `str` keeping their leading colon (":invoke"), so they
stay distinct from strings ("invoke"). Vectors and lists become tuples, sets frozensets, maps dicts.
Tagged literals (`#inst "..."`) keep only the tagged value.

Bounded, since histories come from anywhere: collections nest at most `MAX_DEPTH` deep (deeper would
overflow Python's stack) and integers have at most `MAX_DIGITS` digits (Python refuses to convert more
than 4,300); beyond either, an EdnError like any other malformed text.
"""

from __future__ import annotations

import re
from typing import Final

_TOKEN: Final = re.compile(
    r"""[\s,]*(?:
      (?P<open>\#\{|[\[({])
    | (?P<close>[\])}])
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<tag>\#[A-Za-z][^\s,\[\](){}"]*)
    | (?P<atom>[^\s,\[\](){}"]+)
    )""",
    re.VERBOSE | re.DOTALL,
)
_INT: Final = re.compile(r"[+-]?\d+N?")
_FLOAT: Final = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CLOSER: Final = {"{": "}", "[": "]", "(": ")", "#{": "}"}
MAX_DEPTH: Final = 100
MAX_DIGITS: Final = 1000

EdnValue = object


class EdnError(ValueError):
    """The text is not the EDN we read; the message says at which column and what was expected."""


def loads(text: str) -> EdnValue:
    """Parse exactly one EDN value from `text`. Raises EdnError."""
    value, pos = _read(text, 0)
    if text[pos:].strip(" \t\r\n,"):
        raise EdnError(f"unexpected text after the value at column {pos + 1}: {text[pos:pos + 20]!r}")
    return value


def _read(text: str, pos: int, depth: int = 0) -> tuple[EdnValue, int]:
    m = _TOKEN.match(text, pos)
    if m is None or m.end() == pos and not m.group(0):
        raise EdnError(f"expected a value at column {pos + 1}, got {text[pos:pos + 20]!r}")
    kind = m.lastgroup
    tok = m.group(kind) if kind else ""
    if kind == "open":
        if depth >= MAX_DEPTH:
            raise EdnError(f"collections nested more than {MAX_DEPTH} deep at column {m.start(kind) + 1}; "
                           "a history event nests a few levels")
        return _read_coll(text, m.end(), tok, depth + 1)
    if kind == "close":
        raise EdnError(f"unexpected {tok!r} at column {m.start(kind) + 1}")
    if kind == "str":
        return _unescape(tok[1:-1]), m.end()
    if kind == "tag":
        return _read(text, m.end(), depth)
    if kind == "atom":
        return _atom(tok, m.start(kind)), m.end()
    raise EdnError(f"expected a value at column {pos + 1}, got the end of the line")


def _read_coll(text: str, pos: int, opener: str, depth: int) -> tuple[EdnValue, int]:
    closer = _CLOSER[opener]
    items: list[EdnValue] = []
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise EdnError(f"expected {closer!r} to close {opener!r}, got the end of the line")
        if m.lastgroup == "close":
            if m.group("close") != closer:
                raise EdnError(f"expected {closer!r} at column {m.start('close') + 1}, got {m.group('close')!r}")
            pos = m.end()
            break
        value, pos = _read(text, pos, depth)
        items.append(value)
    if opener == "{":
        if len(items) % 2:
            raise EdnError("a map needs an even number of forms (key value pairs)")
        try:
            return dict(zip(items[::2], items[1::2])), pos
        except TypeError:
            raise EdnError("a map key must be a keyword, string, number or nil") from None
    if opener == "#{":
        try:
            return frozenset(items), pos
        except TypeError:
            raise EdnError("a set element must be a keyword, string, number or nil") from None
    return tuple(items), pos


def _atom(tok: str, col: int) -> EdnValue:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if _INT.fullmatch(tok):
        if len(tok) > MAX_DIGITS:
            raise EdnError(f"the integer at column {col + 1} has {len(tok)} digits, more than {MAX_DIGITS}")
        return int(tok.rstrip("N"))
    if _FLOAT.fullmatch(tok):
        return float(tok.rstrip("M"))
    return tok  # keywords keep their colon; symbols are returned as text


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u":
                digits = body[i + 2:i + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise EdnError(f"bad escape \\u{digits} in a string; expected \\u and four hex digits")
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
