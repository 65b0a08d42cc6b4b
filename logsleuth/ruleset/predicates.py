"""Match expressions made runnable: closures over records, their prefilter literals, and `explain`.

Stage: rules (compile time) builds the closures once; the match stage calls them per candidate.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from logsleuth.ruleset import literals as lit
from logsleuth.ruleset.expr import (LEVEL_RANK, RECORD_FIELDS, And, Captures, Expression, Node, Not, Or, Predicate,
                            Test)
from logsleuth.model import Record
from logsleuth.read.escapes import message_texts, message_variant


def build(text: str, tree: Node) -> Expression:
    """The compiled form of a checked expression tree."""
    return Expression(text, tree, _compile(tree), _literals(tree), tuple(_capture_names(tree)))


def predicate(tree: Node) -> Predicate:
    """The closure `build` makes for `tree`: what a cached rule's expression gets back (compiled.py)."""
    return _compile(tree)


def _getter(name: str) -> Callable[[Record], Any]:
    if name == "path":
        return lambda r: r.origin.path
    if name == "line":
        return lambda r: r.origin.line
    if name == "message":
        # The message, then its decoded variant (JSON escapes, a JSON object; read/escapes.py).
        return message_texts
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
            def message_test(r: Record, c: Captures) -> bool:
                if search(r.message) is not None:
                    return True
                variant = message_variant(r)
                return variant is not None and search(variant) is not None
            return message_test
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
            rank = LEVEL_RANK.get((r.level or "").lower())
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
