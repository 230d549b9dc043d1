"""A small reader for the EDN that Jepsen and Knossos histories use (pure).

Supported: maps, vectors, lists, sets, strings with escapes, keywords, symbols, integers, floats,
nil, true and false, `;` comments to the end of the line; commas are whitespace. Keywords are
returned as `str` keeping their leading colon (":invoke"), so they stay distinct from strings
("invoke"). Vectors and lists become tuples, sets frozensets, maps dicts. Tagged literals
(`#inst "..."`) keep only the tagged value.

`loads(text)` reads exactly one value. `skip(text, pos)` and `read_at(text, pos)` read a text of many
values one at a time, with the offset of each (what a history reader needs for line numbers).

Bounded, since histories come from anywhere: collections nest at most `MAX_DEPTH` deep (deeper would
overflow Python's stack) and integers have at most `MAX_DIGITS` digits (Python refuses to convert more
than 4,300); beyond either, an EdnError like any other malformed text.
"""

from __future__ import annotations

import re
from typing import Final

# whitespace, commas and comments; possessive, so a run of ';' cannot make the match backtrack
_SKIP: Final = r"(?:[\s,]+|;[^\n]*)*+"
_SKIP_RE: Final = re.compile(_SKIP)
_TOKEN: Final = re.compile(
    _SKIP + r"""(?:
      (?P<open>\#\{|[\[({])
    | (?P<close>[\])}])
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<tag>\#[A-Za-z][^\s,\[\](){}";]*)
    | (?P<atom>[^\s,\[\](){}";]+)
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
    """The text is not the EDN we read; the message says at which column and what was expected.

    `pos` is the offset in the text the error is about (for a line number), or None.
    """

    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.pos = pos


def loads(text: str) -> EdnValue:
    """Parse exactly one EDN value from `text`. Raises EdnError."""
    value, pos = read_at(text, 0)
    end = skip(text, pos)
    if end < len(text):
        raise EdnError(f"unexpected text after the value at column {_col(text, end)}: {text[end:end + 20]!r}", end)
    return value


def skip(text: str, pos: int) -> int:
    """The offset of the first character at or after `pos` that is not whitespace, a comma or a comment."""
    m = _SKIP_RE.match(text, pos)
    return m.end() if m is not None else pos


def read_at(text: str, pos: int, depth: int = 0) -> tuple[EdnValue, int]:
    """Read one EDN value starting at `pos` (after any whitespace or comments): (value, end offset).

    `depth` counts the collections the value is already inside (for the `MAX_DEPTH` bound).
    Raises EdnError.
    """
    return _read(text, pos, depth)


def _col(text: str, pos: int) -> int:
    """The 1-based column of offset `pos` in its line."""
    return pos - (text.rfind("\n", 0, pos) + 1) + 1


def _read(text: str, pos: int, depth: int = 0) -> tuple[EdnValue, int]:
    m = _TOKEN.match(text, pos)
    if m is None or m.lastgroup is None:
        at = skip(text, pos)
        if at >= len(text):
            raise EdnError(f"expected a value at column {_col(text, at)}, got the end of the text", at)
        raise EdnError(f"expected a value at column {_col(text, at)}, got {text[at:at + 20]!r}", at)
    kind = m.lastgroup
    tok = m.group(kind)
    start = m.start(kind)
    if kind == "open":
        if depth >= MAX_DEPTH:
            raise EdnError(f"collections nested more than {MAX_DEPTH} deep at column {_col(text, start)}; "
                           "a history event nests a few levels", start)
        return _read_coll(text, m.end(), tok, start, depth + 1)
    if kind == "close":
        raise EdnError(f"unexpected {tok!r} at column {_col(text, start)}", start)
    if kind == "str":
        return _unescape(tok[1:-1], text, start), m.end()
    if kind == "tag":
        return _read(text, m.end(), depth)
    return _atom(tok, text, start), m.end()


def _read_coll(text: str, pos: int, opener: str, start: int, depth: int) -> tuple[EdnValue, int]:
    closer = _CLOSER[opener]
    items: list[EdnValue] = []
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise EdnError(f"expected {closer!r} to close {opener!r} (column {_col(text, start)}), "
                           "got the end of the text", start)
        if m.lastgroup == "close":
            if m.group("close") != closer:
                at = m.start("close")
                raise EdnError(f"expected {closer!r} at column {_col(text, at)}, got {m.group('close')!r}", at)
            pos = m.end()
            break
        value, pos = _read(text, pos, depth)
        items.append(value)
    if opener == "{":
        if len(items) % 2:
            raise EdnError("a map needs an even number of forms (key value pairs)", start)
        try:
            return dict(zip(items[::2], items[1::2])), pos
        except TypeError:
            raise EdnError("a map key must be a keyword, string, number or nil", start) from None
    if opener == "#{":
        try:
            return frozenset(items), pos
        except TypeError:
            raise EdnError("a set element must be a keyword, string, number or nil", start) from None
    return tuple(items), pos


def _atom(tok: str, text: str, pos: int) -> EdnValue:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if _INT.fullmatch(tok):
        if len(tok) > MAX_DIGITS:
            raise EdnError(f"the integer at column {_col(text, pos)} has {len(tok)} digits, more than {MAX_DIGITS}",
                           pos)
        return int(tok.rstrip("N"))
    if _FLOAT.fullmatch(tok):
        return float(tok.rstrip("M"))
    return tok  # keywords keep their colon; symbols are returned as text


def _unescape(body: str, text: str, pos: int) -> str:
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
                    raise EdnError(f"bad escape \\u{digits} in a string; expected \\u and four hex digits", pos)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
