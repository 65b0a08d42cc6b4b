"""Fuzzing the expression language and the rule loader: any text compiles or raises a located RuleError.

Seeded (derandomize) and time-boxed (max_examples, deadline), so a run is repeatable and stays
within a few seconds. Expressions are drawn from the grammar itself (nested and/or/not, every
kind of test, hostile regexes and strings) and then mutated; rule files are drawn as YAML text
around such expressions, with anchors, deep nesting and junk mixed in.
"""
from __future__ import annotations

import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logsleuth.errors import RuleError, RuleErrors
from logsleuth.model import Origin, Record
from logsleuth.ruleset import dsl, loader

FUZZ = settings(derandomize=True, max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

FIELDS = st.sampled_from(["message", "host", "unit", "pid", "level", "`x-y`", "NOPE_FIELD", "mesage", "_PID"])
STRINGS = st.text(alphabet="ab\"'\\ \n$(){}", max_size=8).map(lambda s: '"' + s.replace('"', "") + '"')
REGEXES = st.sampled_from(["/a+/", "/(a+)+$/", "/(?P<x>\\S+)/", "/[/", "/(?<=a+)b/", "/a{99999}/", "/\\/x/i",
                           "/(" * 40 + "a" + ")" * 40 + "/", "/(?P<1x>a)/", "/a/q"])
VALUES = st.one_of(STRINGS, st.integers(-5, 10**6).map(str), st.sampled_from(["5m", "1.5s", "3d", "warning", "err"]))


def _test() -> st.SearchStrategy[str]:
    compare = st.tuples(FIELDS, st.sampled_from(["==", "!=", "<", ">=", "contains", "istartswith"]), VALUES)
    return st.one_of(
        compare.map(" ".join),
        st.tuples(FIELDS, REGEXES).map(lambda t: f"{t[0]} ~ {t[1]}"),
        st.tuples(FIELDS, st.lists(VALUES, max_size=4)).map(lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
        FIELDS.map(lambda f: f"exists({f})"),
    )


EXPRESSIONS = st.recursive(
    _test(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
        inner.map(lambda e: f"not ({e})"),
        inner.map(lambda e: f"({e})"),
    ),
    max_leaves=40,
)


def _mutate(text: str, cuts: list[tuple[int, str]]) -> str:
    for pos, junk in cuts:
        pos %= len(text) + 1
        text = text[:pos] + junk + text[pos:]
    return text


def _record() -> Record:
    return Record(message="a aa b", origin=Origin("x.log", 1), format="plain", raw="a aa b", host="ci1", pid=7)


@FUZZ
@given(EXPRESSIONS, st.lists(st.tuples(st.integers(0, 500), st.sampled_from(["(", ")", "not ", " or", "~", "\"", "/", "`"])), max_size=3))
def test_any_expression_compiles_or_is_a_located_rule_error(expr, cuts):
    text = _mutate(expr, cuts)
    try:
        compiled = dsl.compile(text)
    except RuleError as exc:
        assert exc.location is not None and exc.location.line is not None and exc.location.col is not None
        assert exc.location.line >= 1 and exc.location.col >= 1
        return
    compiled(_record(), {})  # a compiled expression runs without raising


@settings(FUZZ, max_examples=25)
@given(st.integers(1, 3000), st.sampled_from(["not (", "(", "not not "]))
def test_deep_nesting_never_recurses_past_the_stack(depth, opener):
    closer = ")" if "(" in opener else ""
    text = opener * depth + 'message contains "abc"' + closer * depth
    try:
        dsl.compile(text)
    except RuleError as exc:
        assert exc.location is not None and exc.location.line == 1


YAML_JUNK = st.sampled_from(["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\t", "\n  ", "!!python/object:os.system ",
                             "? ", "|", ">", "'", '"', "%YAML 1.1\n", "---\n", "\x00", "\ufeff", "*" * 3])


@settings(FUZZ, max_examples=150)
@given(EXPRESSIONS, st.lists(st.tuples(st.integers(0, 2000), YAML_JUNK), max_size=4))
def test_any_rule_file_loads_or_is_a_located_rule_error(tmp_path_factory, expr, cuts):
    body = textwrap.dedent(f"""\
        id: fuzz
        title: t
        severity: major
        category: test
        match: {expr!r}
        tags: [a, b]
        correlate:
          group_by: [host]
          threshold: {{count: 2, within: 5m}}
        examples:
          match: ['a aa b']
          no-match: ['zzz']
        """)
    text = _mutate(body, cuts)
    d = tmp_path_factory.mktemp("rules")
    (d / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        loader.load([str(d)], builtin=False)
    except RuleErrors as exc:
        for err in exc.errors:
            assert err.location is not None and err.location.path.endswith("fuzz.yaml"), str(err)
    except RuleError as exc:
        assert exc.location is not None, str(exc)
