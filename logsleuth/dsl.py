"""Match-expression language: parse with lark, check names and types, compile to a closure once.

Stage: rules (compile time). Nothing here runs per log line except the closures it returns.
"""
from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from logsleuth import literals as lit
from logsleuth.errors import Location, RuleError
from logsleuth.model import LEVELS, Record

Captures = dict[str, str]
Predicate = Callable[[Record, Captures], bool]

# Fields every record has, and structured fields that sources are known to produce. A lower-case
# name outside these is most likely a typo; quote a name in backticks to use it anyway.
RECORD_FIELDS = ("message", "raw", "host", "ident", "unit", "pid", "level", "format", "section", "path", "line")
KNOWN_FIELDS = frozenset(RECORD_FIELDS) | {
    # gitlab-runner log fields (formats.md §4.5)
    "runner", "runner_name", "job", "project", "pipeline_id", "project_full_path", "namespace_id",
    "root_namespace_id", "organization_id", "gitlab_user_id", "correlation_id", "status", "repo_url",
    "code", "job-status", "update-interval", "bytesize", "checksum", "sent-log", "job-log", "duration_s",
    "error", "exit_code", "failure_reason", "builds", "executor", "msg", "time", "unhealthy_requests",
    "unhealthy_requests_limit", "arch", "os", "revision", "version", "url", "network", "stage",
}
_JOURNAL_FIELD = re.compile(r"_{0,2}[A-Z][A-Z0-9_]*\Z")
NUMERIC_FIELDS = frozenset({"pid", "line"})
_LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}
_LEVEL_RANK.update({"warn": _LEVEL_RANK["warning"], "err": _LEVEL_RANK["error"], "crit": _LEVEL_RANK["critical"],
                    "emerg": _LEVEL_RANK["emergency"]})
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


# --- the AST ------------------------------------------------------------------------------------

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


# --- parsing ------------------------------------------------------------------------------------

@functools.cache
def _parser() -> Lark:
    # cache=True: building the LALR tables (with lark's interegular collision check when that is
    # installed) costs ~0.4 s at every start, measured; the cached parser loads in milliseconds.
    return Lark.open_from_package("logsleuth", "dsl.lark", parser="lalr", propagate_positions=True,
                                  maybe_placeholders=False, cache=True)


def _span(meta: Any) -> Span:
    return Span(meta.line, meta.column, meta.start_pos, meta.end_pos)


def _tok_span(tok: Token) -> Span:
    return Span(tok.line or 1, tok.column or 1, tok.start_pos or 0, tok.end_pos or 0)


def _unquote(tok: str) -> str:
    body = tok[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _SemanticError(Exception):
    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


@v_args(meta=True)
class _Build(Transformer[Token, Node]):
    """Turn lark's tree into the AST, checking names, types and regexes on the way."""

    def or_(self, meta: Any, items: list[Node]) -> Node:
        flat: list[Node] = []
        for it in items:
            flat.extend(it.items if isinstance(it, Or) else (it,))
        return Or(tuple(flat), _span(meta))

    def and_(self, meta: Any, items: list[Node]) -> Node:
        flat: list[Node] = []
        for it in items:
            flat.extend(it.items if isinstance(it, And) else (it,))
        return And(tuple(flat), _span(meta))

    def not_(self, meta: Any, items: list[Node]) -> Node:
        return Not(items[0], _span(meta))

    def field(self, meta: Any, items: list[Token]) -> tuple[str, Span]:
        tok = items[0]
        if tok.type == "QUOTED_NAME":
            return tok[1:-1], _tok_span(tok)
        name = str(tok)
        if name not in KNOWN_FIELDS and not _JOURNAL_FIELD.match(name):
            close = difflib.get_close_matches(name, sorted(KNOWN_FIELDS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; quote other names in backticks: `name`"
            raise _SemanticError(f"unknown field {name!r}{hint}", _tok_span(tok))
        return name, _tok_span(tok)

    def string(self, meta: Any, items: list[Token]) -> tuple[str, str, Span]:
        return ("string", _unquote(items[0]), _tok_span(items[0]))

    def number(self, meta: Any, items: list[Token]) -> tuple[str, float, Span]:
        return ("number", float(items[0]), _tok_span(items[0]))

    def duration(self, meta: Any, items: list[Token]) -> tuple[str, float, Span]:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", str(items[0]))
        assert m, "the grammar only admits valid durations"
        return ("number", float(m.group(1)) * _DURATION_UNITS[m.group(2)], _tok_span(items[0]))

    def compare(self, meta: Any, items: list[Any]) -> Node:
        (name, _), op, (kind, value, vspan) = items
        if op in ("<", "<=", ">", ">="):
            value = _ordered_value(name, kind, value, vspan)
        elif name == "level" and kind == "string":
            _check_level(value, vspan)
        elif kind == "number" and name not in NUMERIC_FIELDS and name in RECORD_FIELDS:
            raise _SemanticError(f"field {name!r} holds text; compare it with a string", vspan)
        return Test(str(op), name, value, _span(meta))

    def in_(self, meta: Any, items: list[Any]) -> Node:
        (name, _), *values = items
        return Test("in", name, frozenset(_in_key(v) for _, v, _s in values), _span(meta))

    def not_in(self, meta: Any, items: list[Any]) -> Node:
        return Not(self.in_(meta, items), _span(meta))

    def string_test(self, meta: Any, items: list[Any]) -> Node:
        (name, _), op, (kind, value, vspan) = items
        if kind != "string":
            raise _SemanticError(f"{op} needs a string", vspan)
        return Test(str(op), name, value.lower() if op.startswith("i") else value, _span(meta))

    def regex(self, meta: Any, items: list[Any]) -> Node:
        (name, _), tok = items
        return Test("~", name, str(tok), _span(meta), _compile_regex(tok))

    def not_regex(self, meta: Any, items: list[Any]) -> Node:
        (name, _), tok = items
        return Not(Test("~", name, str(tok), _span(meta), _compile_regex(tok)), _span(meta))

    def exists(self, meta: Any, items: list[Any]) -> Node:
        (name, _), = items
        return Test("exists", name, None, _span(meta))


def _in_key(value: Any) -> Any:
    return value if isinstance(value, str) else float(value)


def _check_level(value: str, span: Span) -> None:
    if value.lower() not in _LEVEL_RANK:
        raise _SemanticError(f"unknown level {value!r}; levels are {', '.join(LEVELS)}", span)


def _ordered_value(name: str, kind: str, value: Any, span: Span) -> Any:
    if name == "level":
        if kind != "string":
            raise _SemanticError("compare level with a level name such as \"warning\"", span)
        _check_level(value, span)
        return _LEVEL_RANK[value.lower()]
    if kind != "number":
        raise _SemanticError(f"<, <=, >, >= need a number or duration, not {value!r}", span)
    if name in RECORD_FIELDS and name not in NUMERIC_FIELDS:
        raise _SemanticError(f"field {name!r} holds text and cannot be ordered", span)
    return value


def _compile_regex(tok: Token) -> re.Pattern[str]:
    text = str(tok)
    end = text.rindex("/")
    body, flag_chars = text[1:end], text[end + 1:]
    flags = re.ASCII
    for ch in flag_chars:
        flags |= _REGEX_FLAGS[ch]
    body = body.replace("\\/", "/")
    try:
        return re.compile(body, flags)
    except re.error as exc:
        span = _tok_span(tok)
        pos = (exc.pos or 0) + 1
        raise _SemanticError(f"invalid regex: {exc.msg}", Span(span.line, span.col + pos, span.start, span.end)) from exc


def parse(text: str) -> Node:
    """Parse and check an expression; raises RuleError located in the expression text (line/col 1-based)."""
    try:
        tree = _parser().parse(text)
        return _Build().transform(tree)
    except VisitError as exc:
        orig = exc.orig_exc
        if isinstance(orig, _SemanticError):
            raise RuleError(orig.message, Location("<expression>", orig.span.line, orig.span.col),
                            _caret(text, orig.span.line, orig.span.col)) from None
        raise
    except UnexpectedInput as exc:
        line, col = exc.line, exc.column
        if isinstance(exc, UnexpectedEOF) or getattr(getattr(exc, "token", None), "type", "") == "$END":
            # lark places an end-of-input error on the last token; point past the end instead.
            body = text.rstrip()
            line = body.count("\n") + 1
            col = len(body) - (body.rfind("\n") + 1) + 1
        raise RuleError(_syntax_message(exc), Location("<expression>", line, col),
                        _caret(text, line, col)) from None


def _syntax_message(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedEOF):
        return "expression ends too early"
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return "expression ends too early"
        expected = sorted(_pretty(t) for t in exc.expected)[:6]
        return f"unexpected {str(tok)!r}; expected {' or '.join(expected)}"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    return str(exc)


_PRETTY = {"NAME": "a field name", "STRING": "a string", "REGEX": "a /regex/", "NUMBER": "a number",
           "COMPARE": "a comparison (== != < > ...)", "STRING_TEST": "contains/startswith/endswith",
           "RPAR": "')'", "LPAR": "'('", "RSQB": "']'", "LSQB": "'['", "AND": "'and'", "OR": "'or'",
           "NOT": "'not'", "IN": "'in'", "TILDE": "'~'", "COMMA": "','", "DURATION": "a duration",
           "QUOTED_NAME": "a `field`", "EXISTS": "'exists'", "__ANON_0": "'!~'"}


def _pretty(terminal: str) -> str:
    return _PRETTY.get(terminal, terminal.lower())


def _caret(text: str, line: int, col: int) -> str:
    lines = text.splitlines() or [""]
    src = lines[min(line, len(lines)) - 1]
    return f"    {src}\n    {' ' * (col - 1)}^"


# --- compiling ----------------------------------------------------------------------------------

def compile(text: str) -> Expression:  # noqa: A001 - the natural name for this module's job
    """Parse, check and compile an expression to a closure; raises RuleError located in `text`."""
    tree = parse(text)
    return Expression(text, tree, _compile(tree), _literals(tree), tuple(_capture_names(tree)))


def _getter(name: str) -> Callable[[Record], Any]:
    if name == "path":
        return lambda r: r.origin.path
    if name == "line":
        return lambda r: r.origin.line
    if name in RECORD_FIELDS:
        attr = name
        return lambda r: getattr(r, attr)
    return lambda r: r.fields.get(name)


def _compile(node: Node) -> Predicate:
    if isinstance(node, And):
        parts = tuple(_compile(n) for n in node.items)
        return lambda r, c: all(p(r, c) for p in parts)
    if isinstance(node, Or):
        parts = tuple(_compile(n) for n in node.items)
        return lambda r, c: any(p(r, c) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.item)
        return lambda r, c: not inner(r, {})
    return _compile_test(node)


def _texts(value: Any) -> list[str]:
    """A field's value as the strings to test: repeated journal fields test each element."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _compile_test(t: Test) -> Predicate:
    get = _getter(t.field)
    if t.op == "~":
        return _regex_test(get, t)
    if t.op == "exists":
        return lambda r, c: any(s != "" for s in _texts(get(r)))
    if t.op in ("<", "<=", ">", ">="):
        return _order_test(get, t)
    if t.op in ("==", "!="):
        want = t.value if isinstance(t.value, str) else _num_text(t.value)
        if t.field == "level":
            want = want.lower()
        if t.op == "==":
            return lambda r, c: any(s == want for s in _texts(get(r)))
        return lambda r, c: not any(s == want for s in _texts(get(r)))
    if t.op == "in":
        wanted = frozenset(v if isinstance(v, str) else _num_text(v) for v in t.value)
        return lambda r, c: any(s in wanted for s in _texts(get(r)))
    return _string_test(get, t.op, t.value)


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _regex_test(get: Callable[[Record], Any], t: Test) -> Predicate:
    rx = t.regex
    assert rx is not None
    if not rx.groupindex:
        search = rx.search
        if t.field == "message":
            return lambda r, c: search(r.message) is not None
        return lambda r, c: any(search(s) is not None for s in _texts(get(r)))

    def test(r: Record, c: Captures) -> bool:
        for s in _texts(get(r)):
            m = rx.search(s)
            if m:
                c.update({k: v for k, v in m.groupdict().items() if v is not None})
                return True
        return False
    return test


def _order_test(get: Callable[[Record], Any], t: Test) -> Predicate:
    op = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[t.op]
    bound = float(t.value)
    if t.field == "level":
        def level_test(r: Record, c: Captures) -> bool:
            rank = _LEVEL_RANK.get((r.level or "").lower())
            return rank is not None and op(float(rank), bound)
        return level_test

    def test(r: Record, c: Captures) -> bool:
        for s in _texts(get(r)):
            try:
                if op(float(s), bound):
                    return True
            except ValueError:
                continue
        return False
    return test


def _string_test(get: Callable[[Record], Any], op: str, value: str) -> Predicate:
    fold = op.startswith("i")
    method = {"contains": str.__contains__, "startswith": str.startswith, "endswith": str.endswith}[op.lstrip("i")]
    if fold:
        return lambda r, c: any(method(s.lower(), value) for s in _texts(get(r)))
    return lambda r, c: any(method(s, value) for s in _texts(get(r)))


# --- literals for the prefilter -----------------------------------------------------------------

def _literals(node: Node) -> lit.Literals:
    """Strings one of which every matching record's message contains; None when there is none."""
    if isinstance(node, And):
        return lit.combine_and([_literals(n) for n in node.items])
    if isinstance(node, Or):
        return lit.combine_or([_literals(n) for n in node.items])
    if isinstance(node, Not) or node.field != "message":
        return None
    if node.op == "~" and node.regex is not None:
        return lit.required_literals(node.regex.pattern, bool(node.regex.flags & re.IGNORECASE))
    if node.op in ("==", "contains", "startswith", "endswith", "icontains", "istartswith", "iendswith"):
        return lit.literal_of_string(str(node.value), node.op.startswith("i"))
    if node.op == "in":
        return lit.combine_or([lit.literal_of_string(str(v)) for v in node.value])
    return None


def _capture_names(node: Node) -> list[str]:
    if isinstance(node, (And, Or)):
        return [n for item in node.items for n in _capture_names(item)]
    if isinstance(node, Not):
        return []
    return list(node.regex.groupindex) if node.regex is not None else []


# --- explaining ---------------------------------------------------------------------------------

def explain(expr: Expression, record: Record) -> list[tuple[int, str, bool]]:
    """Evaluate every sub-expression of `expr` on `record`: (depth, source text, result), outermost first."""
    out: list[tuple[int, str, bool]] = []

    def walk(node: Node, depth: int) -> bool:
        slot = len(out)
        out.append((depth, expr.text[node.span.start:node.span.end], False))
        if isinstance(node, (And, Or)):
            results = [walk(n, depth + 1) for n in node.items]
            value = all(results) if isinstance(node, And) else any(results)
        elif isinstance(node, Not):
            value = not walk(node.item, depth + 1)
        else:
            value = _compile_test(node)(record, {})
        out[slot] = (depth, out[slot][1], value)
        return value

    walk(expr.tree, 0)
    return out
