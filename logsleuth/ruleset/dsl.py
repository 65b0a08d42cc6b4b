"""Match-expression language: parse with lark, check names, types and regexes, hand on to predicates.py.

Stage: rules (compile time). Nothing here runs per log line.
"""
from __future__ import annotations

import difflib
import functools
import re
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from logsleuth.ruleset import predicates
from logsleuth.errors import Location, RuleError
from logsleuth.ruleset.expr import LEVEL_RANK, NUMERIC_FIELDS, RECORD_FIELDS, And, Expression, Node, Not, Or, Span, Test
from logsleuth.model import LEVELS

# Fields every record has, and structured fields that sources are known to produce. A lower-case
# name outside these is most likely a typo; quote a name in backticks to use it anyway.
KNOWN_FIELDS = frozenset(RECORD_FIELDS) | {
    # gitlab-runner log fields (formats.md §4.5)
    "runner", "runner_name", "job", "project", "pipeline_id", "project_full_path", "namespace_id",
    "root_namespace_id", "organization_id", "gitlab_user_id", "correlation_id", "status", "repo_url",
    "code", "job-status", "update-interval", "bytesize", "checksum", "sent-log", "job-log", "duration_s",
    "error", "exit_code", "failure_reason", "builds", "executor", "msg", "time", "unhealthy_requests",
    "unhealthy_requests_limit", "arch", "os", "revision", "version", "url", "network", "stage",
}
_JOURNAL_FIELD = re.compile(r"_{0,2}[A-Z][A-Z0-9_]*\Z")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}

# Size limits, checked before anything recursive runs (the AST walks, lark's transformer and
# re's parser all recurse once per level): a rule file can then never drive them past Python's
# stack. The bundled rules stay far below them (longest expression 781 characters, depth 3,
# 7 tests, longest regex 406 characters, regex groups 3 deep).
MAX_EXPRESSION_CHARS = 10_000
MAX_DEPTH = 24  # nested and/or/not levels
MAX_TERMS = 256  # tests (comparisons, regexes, exists, ...) in one expression
MAX_REGEX_CHARS = 2_000
MAX_REGEX_DEPTH = 32  # nested groups in one regex
_LOGIC = frozenset({"or_", "and_", "not_"})


# --- parsing ------------------------------------------------------------------------------------

@functools.cache
def _parser() -> Lark:
    # cache=True: building the LALR tables (with lark's interegular collision check when that is
    # installed) costs ~0.4 s at every start, measured; the cached parser loads in milliseconds.
    return Lark.open_from_package("logsleuth.ruleset", "dsl.lark", parser="lalr", propagate_positions=True,
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
    if value.lower() not in LEVEL_RANK:
        raise _SemanticError(f"unknown level {value!r}; levels are {', '.join(LEVELS)}", span)


def _ordered_value(name: str, kind: str, value: Any, span: Span) -> Any:
    if name == "level":
        if kind != "string":
            raise _SemanticError("compare level with a level name such as \"warning\"", span)
        _check_level(value, span)
        return LEVEL_RANK[value.lower()]
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
    if len(body) > MAX_REGEX_CHARS:
        raise _SemanticError(f"regex of {len(body):,} characters; at most {MAX_REGEX_CHARS:,} are allowed", _tok_span(tok))
    if group_depth(body) > MAX_REGEX_DEPTH:
        raise _SemanticError(f"regex groups nest more than {MAX_REGEX_DEPTH} deep", _tok_span(tok))
    try:
        return re.compile(body, flags)
    except re.error as exc:
        span = _tok_span(tok)
        pos = (exc.pos or 0) + 1
        raise _SemanticError(f"invalid regex: {exc.msg}", Span(span.line, span.col + pos, span.start, span.end)) from exc


def group_depth(pattern: str) -> int:
    """How deep the groups of a regex nest, read from its source without re's recursive parser."""
    depth = deepest = 0
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":  # a leading ] is literal
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


def _check_size(tree: Tree[Token]) -> None:
    """Raise _SemanticError when the parse tree nests deeper or holds more tests than allowed.

    Iterative on purpose: this runs before the recursive transformer, on any tree lark accepts.
    """
    terms = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in _LOGIC:
            depth += 1
            if depth > MAX_DEPTH:
                raise _SemanticError(f"expression nests more than {MAX_DEPTH} levels of and/or/not deep; "
                                     "flatten it or split the rule", _span(node.meta))
            stack.extend((c, depth) for c in node.children if isinstance(c, Tree))
        else:
            terms += 1
            if terms > MAX_TERMS:
                raise _SemanticError(f"expression holds more than {MAX_TERMS} tests; split the rule or use "
                                     "one regex or `in [...]`", _span(node.meta))


def parse(text: str) -> Node:
    """Parse and check an expression; raises RuleError located in the expression text (line/col 1-based)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise RuleError(f"expression of {len(text):,} characters; at most {MAX_EXPRESSION_CHARS:,} are allowed",
                        Location("<expression>", 1, 1))
    try:
        tree = _parser().parse(text)
        if isinstance(tree, Tree):
            _check_size(tree)
        return _Build().transform(tree)
    except _SemanticError as too_big:
        raise RuleError(too_big.message, Location("<expression>", too_big.span.line, too_big.span.col),
                        _caret(text, too_big.span.line, too_big.span.col)) from None
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
    return predicates.build(text, parse(text))
