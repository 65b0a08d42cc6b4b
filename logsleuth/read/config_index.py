"""Read stage, config.toml: where each key of a TOML document sits (line and column), for findings on a key's line.

tomllib gives values, not positions. tomlkit keeps the document's layout but not line numbers
either (they would have to be recounted from its re-rendered text), costs a dependency, and parses
a 50-runner config (1,085 lines) in 125 ms where tomllib takes 11 ms and this index 10 ms (measured
on the project's 2-core machine). So this is a small scanner of our own: it runs only on documents
tomllib has already accepted, so it can be lenient; it follows table headers (`[a.b]`, `[[a]]` with their array indices), dotted and quoted
keys, and skips the insides of multi-line strings, arrays and inline tables.
"""
from __future__ import annotations

import re
from typing import Union

Key = tuple[Union[str, int], ...]
Position = tuple[int, int]  # 1-based line, column

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_BASIC = re.compile(r'"((?:[^"\\]|\\.)*)"')
_LITERAL = re.compile(r"'([^']*)'")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\"}


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) or m.group(2):  # \uXXXX, \UXXXXXXXX
            return chr(int(m.group(1) or m.group(2), 16))
        return _ESCAPES.get(m.group(3), m.group(3))
    return re.sub(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", one, text)


def _keys(text: str, pos: int) -> tuple[list[str], int]:
    """The dotted key starting at `pos` (parts unquoted) and the offset after it."""
    parts: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        for rx, unquote in ((_BASIC, True), (_LITERAL, False), (_BARE, False)):
            m = rx.match(text, pos)
            if m:
                parts.append(_unescape(m.group(1)) if unquote else m.group(m.lastindex or 0))
                pos = m.end()
                break
        else:
            return parts, pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


class _Scanner:
    """State across lines: multi-line strings and open brackets of a value."""

    def __init__(self) -> None:
        self.string: str | None = None  # the closing delimiter of an open multi-line string
        self.depth = 0  # open [ and { of a value that continues on the next lines

    def skip_value(self, line: str, pos: int) -> None:
        """Advance through the rest of a value, noting what stays open at the end of the line."""
        while pos < len(line):
            if self.string is not None:
                end = line.find(self.string, pos)
                while end > 0 and self.string == '"""' and _escaped(line, end):
                    end = line.find(self.string, end + 1)
                if end < 0:
                    return
                pos = end + 3
                self.string = None
                continue
            ch = line[pos]
            if ch == "#":
                return
            if line.startswith(('"""', "'''"), pos):
                self.string = line[pos:pos + 3]
                pos += 3
            elif ch == '"':
                m = _BASIC.match(line, pos)
                pos = m.end() if m else len(line)
            elif ch == "'":
                m = _LITERAL.match(line, pos)
                pos = m.end() if m else len(line)
            else:
                if ch in "[{":
                    self.depth += 1
                elif ch in "]}":
                    self.depth = max(self.depth - 1, 0)
                pos += 1


def _escaped(line: str, end: int) -> bool:
    backslashes = 0
    while end - backslashes - 1 >= 0 and line[end - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def index(text: str) -> dict[Key, Position]:
    """Positions of every table header and key, by absolute key path (array-of-tables indices included)."""
    out: dict[Key, Position] = {}
    counts: dict[Key, int] = {}  # array-of-tables path -> entries so far
    table: Key = ()
    scan = _Scanner()
    for number, line in enumerate(text.split("\n"), 1):
        if scan.string is not None or scan.depth:
            scan.skip_value(line, 0)
            continue
        stripped = line.lstrip(" \t")
        col = len(line) - len(stripped) + 1
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            array = stripped.startswith("[[")
            parts, _ = _keys(stripped, 2 if array else 1)
            table = _resolve(parts, counts, array)
            out.setdefault(table, (number, col))
            continue
        parts, pos = _keys(stripped, 0)
        if not parts:
            continue
        key = table + tuple(parts)
        out.setdefault(key, (number, col))
        rest = stripped[pos:].lstrip(" \t")
        if rest.startswith("="):
            scan.skip_value(stripped, pos + 1 + (len(stripped[pos:]) - len(rest)))
    return out


def _resolve(parts: list[str], counts: dict[Key, int], array: bool) -> Key:
    """The absolute path of a header: each prefix that is an array of tables takes its latest index."""
    path: Key = ()
    for i, part in enumerate(parts):
        path = path + (part,)
        last = i == len(parts) - 1
        if last and array:
            n = counts.get(path, 0)
            counts[path] = n + 1
            path = path + (n,)
        elif path in counts:
            path = path + (counts[path] - 1,)
    return path


def position(positions: dict[Key, Position], key: Key) -> Position:
    """The position of `key`, else of its nearest ancestor that has one (keys of inline tables), else 1:1."""
    while key:
        found = positions.get(key)
        if found is not None:
            return found
        key = key[:-1]
    return (1, 1)
