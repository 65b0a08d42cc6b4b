"""The match-expression AST and the compiled Expression: what dsl.py builds and predicates.py runs."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from logsleuth.ruleset import literals as lit
from logsleuth.model import LEVELS, Record

Captures = dict[str, str]
Predicate = Callable[[Record, Captures], bool]

# Fields every record has (`path` and `line` come from its origin).
RECORD_FIELDS = ("message", "raw", "host", "ident", "unit", "pid", "level", "format", "section", "path", "line")
NUMERIC_FIELDS = frozenset({"pid", "line"})
# Levels compare by severity, not alphabetically; syslog's short names are accepted too.
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}
LEVEL_RANK.update({"warn": LEVEL_RANK["warning"], "err": LEVEL_RANK["error"], "crit": LEVEL_RANK["critical"],
                   "emerg": LEVEL_RANK["emergency"]})


@dataclass(frozen=True)
class Span:
    """Where a node sits in the expression text: 1-based line and column, and character offsets."""

    line: int
    col: int
    start: int
    end: int


@dataclass(frozen=True)
class Test:
    """One comparison: `field op value`."""

    op: str
    field: str
    value: Any
    span: Span
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Not:
    item: Node
    span: Span


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    span: Span


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    span: Span


Node = Union[Test, Not, And, Or]


@dataclass(frozen=True)
class Expression:
    """A compiled match expression: the closure, its source and AST, and the prefilter literals."""

    text: str
    tree: Node
    predicate: Predicate
    literals: lit.Literals
    captures: tuple[str, ...]

    def __call__(self, record: Record, captures: Captures) -> bool:
        return self.predicate(record, captures)
