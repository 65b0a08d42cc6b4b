"""Typed reading of YAML nodes that keeps their positions, so every rule-file error names its line and column.

Stage: rules (load time). `yaml.compose` keeps each node's mark; values are built from nodes only
when a check needs them, and every problem is recorded on the file instead of raised.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Iterable

import yaml

from logsleuth.errors import Location, RuleError

Mapping = dict[str, tuple[yaml.Node, yaml.Node]]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)\Z")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class File:
    """One YAML file's text and the helpers that turn node marks into located errors."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.errors: list[RuleError] = []

    def at(self, node: yaml.Node | None, line_offset: int = 0, col: int | None = None) -> Location:
        if node is None:
            return Location(self.path)
        line = node.start_mark.line + 1 + line_offset
        return Location(self.path, line, (node.start_mark.column + 1) if col is None else col)

    def error(self, message: str, node: yaml.Node | None, line_offset: int = 0, col: int | None = None) -> None:
        loc = self.at(node, line_offset, col)
        self.errors.append(RuleError(message, loc, self.snippet(loc)))

    def snippet(self, loc: Location) -> str:
        if loc.line is None or not 0 < loc.line <= len(self.lines):
            return ""
        caret = " " * ((loc.col or 1) - 1) + "^"
        return f"    {self.lines[loc.line - 1]}\n    {caret}"


_constructor = yaml.constructor.SafeConstructor()
# libyaml's composer keeps the same marks and is ~40x faster than the pure-Python one (measured).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def node_value(node: yaml.Node) -> Any:
    return _constructor.construct_object(node, deep=True)


def mapping(f: File, node: yaml.Node, what: str) -> Mapping | None:
    if not isinstance(node, yaml.MappingNode):
        f.error(f"{what} must be a mapping", node)
        return None
    out: Mapping = {}
    for k, v in node.value:
        key = str(node_value(k))
        if key in out:
            f.error(f"duplicate key {key!r}", k)
        out[key] = (k, v)
    return out



# A rule file is a few KB of keys and strings (the largest bundled one: 7 KB, 10 levels deep).
MAX_DEPTH = 64
MAX_NODES = 100_000


def compose(path: str, text: str) -> yaml.Node | None:
    """The node tree of a YAML document; raises yaml.MarkedYAMLError, or RuleError for an alias or a tree
    nesting deeper than MAX_DEPTH or holding more than MAX_NODES nodes.

    An alias makes the composer hand back the anchored node again, so `&a [*b, *b, ...]` chains
    describe exponentially large values in a few lines (the "billion laughs"); nothing a rule
    needs is worth that, so aliases are refused before any value is built.
    """
    root = yaml.compose(text, Loader=_Loader)
    if root is not None:
        _check_tree(path, text, root)
    return root


def _check_tree(path: str, text: str, root: yaml.Node) -> None:
    # Iterative, and before construct_object (which recurses once per level and expands aliases).
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            raise RuleError("anchors and aliases (&name, *name) are not allowed in rule files; write the value out",
                            _alias_location(path, text, node))
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            raise RuleError(f"more than {MAX_NODES:,} YAML nodes in one rule file", _mark(path, node))
        if depth > MAX_DEPTH:
            raise RuleError(f"YAML nests more than {MAX_DEPTH} levels deep", _mark(path, node))
        if node.tag not in _PLAIN_TAGS:
            # `!!python/object:...` and the like: a rule holds strings, numbers, lists and mappings.
            raise RuleError(f"YAML tag {node.tag!r} is not allowed in rule files; write the plain value",
                            _mark(path, node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend((n, depth + 1) for pair in reversed(node.value) for n in reversed(pair))


_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map",
                                                            "timestamp"))


def _mark(path: str, node: yaml.Node) -> Location:
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _alias_location(path: str, text: str, node: yaml.Node) -> Location:
    # The composed tree keeps no trace of where an alias was written: find the first in the tokens.
    for tok in yaml.scan(text, Loader=_Loader):
        if isinstance(tok, yaml.AliasToken):
            return Location(path, tok.start_mark.line + 1, tok.start_mark.column + 1)
    return _mark(path, node)


def check_keys(f: File, m: Mapping, allowed: Iterable[str], what: str) -> None:
    allowed = sorted(allowed)
    for key, (knode, _) in m.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
            f.error(f"unknown key {key!r} in {what}{hint}", knode)


def text(f: File, m: Mapping, key: str, default: str = "") -> str:
    if key not in m:
        return default
    node = m[key][1]
    value = node_value(node)
    if not isinstance(value, str) or isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        f.error(f"{key!r} must be a string", node)
        return default
    return value


def strings(f: File, m: Mapping, key: str) -> tuple[str, ...]:
    if key not in m:
        return ()
    node = m[key][1]
    value = node_value(node)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        f.error(f"{key!r} must be a list of strings", node)
        return ()
    return tuple(value)


def boolean(f: File, m: Mapping, key: str) -> bool:
    if key not in m:
        return False
    value = node_value(m[key][1])
    if not isinstance(value, bool):
        f.error(f"{key!r} must be true or false", m[key][1])
        return False
    return value


def scalar_position(f: File, node: yaml.ScalarNode, line: int, col: int) -> tuple[int, int]:
    """(line offset from the node's mark, 1-based column in the file) of an expression position."""
    mark = node.start_mark
    if node.style == "|":
        # The mark points at the `|`; the expression's line N sits N lines below it, after the indent.
        target = mark.line + line
        text = f.lines[target] if target < len(f.lines) else ""
        indent = len(text) - len(text.lstrip(" "))
        return line, indent + col
    quote = 1 if node.style in ("'", '"') else 0
    return line - 1, (mark.column + quote + col) if line == 1 else col


def duration(f: File, node: yaml.Node) -> float:
    value = node_value(node)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        f.error(f"{value!r} is not a duration such as 30s, 5m, 2h", node)
        return 0.0
    return float(m.group(1)) * _UNITS[m.group(2)]


def positive_int(f: File, node: yaml.Node, what: str) -> int:
    value = node_value(node)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        f.error(f"{what} must be a positive whole number", node)
        return 1
    return value


