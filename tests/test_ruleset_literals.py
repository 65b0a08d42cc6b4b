"""Required-literal extraction: literal tables for real runner signatures and a soundness property."""
from __future__ import annotations

import random
import re
import re._constants as C
import re._parser as P

import pytest

from logsleuth.ruleset.literals import combine_and, combine_or, literal_of_string, required_literals


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("x509: certificate signed by unknown authority", {b"x509: certificate signed by unknown authority"}),
        ("(?i)no such host", {b"no such host"}),
        ('Post "?https?://', {b'post "https://', b"post https://", b'post "http://', b"post http://"}),
        ("(getsockopt|connect): connection refused",
         {b"getsockopt: connection refused", b"connect: connection refused"}),
        (r"code=[45]\d\d", {b"code=4", b"code=5"}),
        ("level=(error|fatal|panic)", {b"level=error", b"level=fatal", b"level=panic"}),
        (r"Checking for jobs\.\.\. (forbidden|failed)",
         {b"checking for jobs... forbidden", b"checking for jobs... failed"}),
        (r"\bi/o timeout\b", {b"i/o timeout"}),
        (r"Near line \d+|toml: line \d+", {b"near line ", b"toml: line "}),
        ("exit (code|status) 137", {b"exit code 137", b"exit status 137"}),
        ("[Ee]rror: (?P<what>\\w+)", {b"error: "}),
        ("(?i)ERROR: Job failed: execution took longer than", {b"error: job failed: execution took longer than"}),
        ("No space left on device", {b"no space left on device"}),
        (r"Out of memory: Killed process \d+", {b"out of memory: killed process "}),
        (r"oom-kill(er)?", {b"oom-kill"}),
        ("(foo|)bar", {b"bar"}),
        ("(?:error|warn)ing: (dis|)connected",  # refines {` connected`, ` disconnected`}
         {b"erroring: connected", b"erroring: disconnected", b"warning: connected", b"warning: disconnected"}),
        ("(ab){2,}", {b"abab"}),
        ("HTTP/1\\.[01]\" 50[234]", {b'http/1.0" 502', b'http/1.0" 503', b'http/1.0" 504',
                                     b'http/1.1" 502', b'http/1.1" 503', b'http/1.1" 504'}),
        ("status(=| )?40[13]", {b"status=401", b"status=403", b"status 401", b"status 403",
                                b"status401", b"status403"}),
        ("(?=panic)panic: runtime error", {b"panic: runtime error"}),
        ("(?<!no )bad gateway", {b"bad gateway"}),
        ("(?i)(?:502 )?bad gateway", {b"bad gateway"}),
        ("segfault at [0-9a-f]+ ip", {b"segfault at "}),
        ("été", {"été".encode()}),
        ("(?i)état critique", {b"tat critique"}),
        ("(?i:é)tat", {b"tat"}),
        ("dial tcp\\s+[^:]+:\\d+: (?:i/o timeout|connect: connection refused)", {b": i/o timeout", b": connect: connection refused"}),  # longer beats fewer
    ],
)
def test_required_literals_table(pattern: str, expected: set[bytes]) -> None:
    assert required_literals(pattern, False) == frozenset(expected)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^E\d{4} ",  # klog header: only 1-byte literals
        r"a.b",
        r"\s+",
        r"(\w+) \1",
        r"(foo)?bar?",  # `ba` is all a match must contain
        r"x{0,5}yz",
        r"[A-Za-z]{3}",
        r"(\d+)-(\d+)",
        r"(?i)é{3}",  # non-ASCII under (?i) folds to other bytes
        r"(a)?(?(1)bcd|efg)",
        r"ab\nab",  # a literal never crosses lines
    ],
)
def test_no_usable_literal(pattern: str) -> None:
    assert required_literals(pattern, False) is None


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?:abc|de)f", [{b"abcf", b"def"}]),
        (r"foo\nbar", [{b"foo"}, {b"bar"}]),  # either side of the newline, never across it
        ("x{2,3}yz", [{b"xxyz"}]),
        ("[A-C]lert", [{b"alert", b"blert", b"clert"}]),
    ],
)
def test_edge_cases(pattern: str, expected: list[set[bytes]]) -> None:
    assert required_literals(pattern, False) in [frozenset(e) for e in expected]


def test_ignorecase_argument_only_matters_for_non_ascii() -> None:
    assert required_literals("Killed Process", True) == required_literals("Killed Process", False) == {b"killed process"}
    assert required_literals("Zürich timeout", False) == {"zürich timeout".encode()}
    assert required_literals("Zürich timeout", True) == {b"rich timeout"}


def test_bad_regex_raises() -> None:
    with pytest.raises(re.error):
        required_literals("(unclosed", False)


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ([frozenset({b"abc"}), None], frozenset({b"abc"})),
        ([None, None], None),
        ([], None),
        ([frozenset({b"level="}), frozenset({b"level=error", b"level=fatal"})],
         frozenset({b"level=error", b"level=fatal"})),
        ([frozenset({b"short"}), frozenset({b"much longer literal"})], frozenset({b"much longer literal"})),
    ],
)
def test_combine_and(sets, expected) -> None:
    assert combine_and(sets) == expected


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ([frozenset({b"abc"}), frozenset({b"xyz"})], frozenset({b"abc", b"xyz"})),
        ([frozenset({b"abc"}), None], None),
        ([], None),
        ([frozenset({b"timeout"}), frozenset({b"i/o timeout"})], frozenset({b"timeout"})),
    ],
)
def test_combine_or(sets, expected) -> None:
    assert combine_or(sets) == expected


@pytest.mark.parametrize(
    ("text", "ignorecase", "expected"),
    [
        ("Permission Denied", False, frozenset({b"permission denied"})),
        ("ab", False, None),
        ("Größe überschritten", True, frozenset({b"berschritten"})),
        ("Größe", False, frozenset({"größe".encode()})),
        ("line one\nline two!", False, frozenset({b"line two!"})),
    ],
)
def test_literal_of_string(text: str, ignorecase: bool, expected) -> None:
    assert literal_of_string(text, ignorecase=ignorecase) == expected


# --- soundness property: every string a pattern matches contains one of its literals -------------

SOUNDNESS_PATTERNS = [
    "x509: certificate signed by unknown authority",
    "(?i)no such host",
    'Post "?https?://',
    "(getsockopt|connect): connection refused",
    r"code=[45]\d\d",
    "level=(error|fatal|panic)",
    r"Checking for jobs\.\.\. (forbidden|failed)",
    r"\bi/o timeout\b",
    r"Near line \d+|toml: line \d+",
    "exit (code|status) 137",
    r"(?i)out of memory: killed process (?P<pid>\d+) \((?P<comm>[^)]+)\)",
    r"(?i)no space left on device",
    r"ERROR: Job failed: execution took longer than (?P<limit>\S+)",
    r"(?i)(?:502 )?bad gateway",
    r"403 Forbidden|status(=| )?40[13]",
    r"HTTP/1\.[01]\" 50[234]",
    r"(?i)tls: (?:handshake timeout|bad certificate|failed to verify)",
    r"dial tcp\s+[^:]+:\d+: (?:i/o timeout|connect: connection refused)",
    r"oom-kill(er)?(?: invoked)?",
    r"segfault at [0-9a-f]+ ip [0-9a-f]+",
    r"(?i)certificate (?:has )?expired",
    r"(?:error|warn)ing: (dis|)connected",
    r"(foo|)bar(baz)?",
    r"(?i)permission denied(?: \(publickey\))?",
    r"(?i)docker: (?:Error response from daemon|toomanyrequests)",
    r"(ab){2,}c?",
    r"x{2,3}yz",
    r"[A-C]lert[!?]*",
    r"(?i)[Ee]rror:\s+(?P<msg>.+)",
    r"(?i)kill(ed|ing)? (?:process|pid) \d+",
    r"(?=panic)panic: runtime error",
    r"(?<!no )bad gateway",
    r"(?i)(error|fatal)\b.*\btimeout",
    r"(?i)runner (?:is )?not (?:healthy|registered)",
    r"(?P<q>['\"])unauthorized(?P=q)",
    r"toml: (line|Near line) \d+(?:, column \d+)?",
    r"(?i)state(?:=| )?(?:failed|dead)",
    r"(?i)(?:connection|conn) reset by peer",
    r"(?i)E: (?:Unable to fetch|Failed to fetch) ",
    r"Job (?:succeeded|failed)(?: duration_s=\d+(?:\.\d+)?)?",
    r"(?i)(a|b|c)(d|e|f)(g|h|i)(j|k|l)",
    "(?i)état critique",
]

_ALPHABET = "abcXYZ019 :/.-_=\"'()[]éÉ\t"


def _gen(items: P.SubPattern | list, rng: random.Random, groups: dict[int, str]) -> str:
    return "".join(_gen_node(op, av, rng, groups) for op, av in items)


def _maybe_swapcase(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return text
    return "".join(ch.swapcase() if rng.random() < 0.3 else ch for ch in text)


def _gen_node(op, av, rng: random.Random, groups: dict[int, str]) -> str:  # noqa: C901
    if op is C.LITERAL:
        return chr(av)
    if op is C.IN:
        return _gen_class(av, rng)
    if op is C.ANY or op is C.NOT_LITERAL:
        return rng.choice(_ALPHABET)
    if op is C.BRANCH:
        return _gen(rng.choice(av[1]), rng, groups)
    if op is C.SUBPATTERN:
        text = _gen(av[3], rng, groups)
        if av[0] is not None:
            groups[av[0]] = text
        return text
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        lo, hi, sub = av
        count = rng.randint(lo, min(hi, lo + 3))
        return "".join(_gen(sub, rng, groups) for _ in range(count))
    if op is C.GROUPREF:
        return groups.get(av, "")
    return ""  # AT, ASSERT, ASSERT_NOT: zero width; unsatisfied ones are filtered by re.search


def _gen_class(items, rng: random.Random) -> str:
    if items and items[0][0] is C.NEGATE:
        return rng.choice(_ALPHABET)
    op, av = rng.choice(items)
    if op is C.LITERAL:
        return chr(av)
    if op is C.RANGE:
        return chr(rng.randint(av[0], av[1]))
    return {C.CATEGORY_DIGIT: rng.choice("0123456789"), C.CATEGORY_SPACE: rng.choice(" \t"),
            C.CATEGORY_NOT_SPACE: rng.choice("ab:X9"), C.CATEGORY_WORD: rng.choice("aZ_9")}.get(av, "q")


def _samples(pattern: str, rng: random.Random, want: int = 12) -> list[str]:
    parsed = P.parse(pattern)
    regex = re.compile(pattern, re.ASCII)
    found: list[str] = []
    for _ in range(4000):
        core = _maybe_swapcase(_gen(list(parsed), rng, {}), rng)  # case-sensitive misses are filtered
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 6))) + core
        text += "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 6)))
        m = regex.search(text)
        if m:
            found.append(m.group(0))
            if len(found) >= want:
                break
    return found


@pytest.mark.parametrize("pattern", SOUNDNESS_PATTERNS)
def test_every_match_contains_a_literal(pattern: str) -> None:
    rng = random.Random(pattern)
    lits = required_literals(pattern, False)
    assert lits is not None, "each pattern in this list has a usable literal"
    samples = _samples(pattern, rng)
    assert len(samples) >= 5
    for text in samples:
        low = text.encode("utf-8").lower()
        assert any(lit in low for lit in lits), (text, lits)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ('Post "?https?://', 'Post https://gitlab.example.com/api/v4/jobs/request'),
        ("(?i)no such host", "dial tcp: lookup gitlab.example.com on 127.0.0.53:53: No Such Host"),
        (r"code=[45]\d\d", "status=done code=503 duration=1s"),
        ("level=(error|fatal|panic)", 'time="x" level=fatal msg="boom"'),
        (r"Near line \d+|toml: line \d+", "toml: line 12 (last key \"runners\"): expected"),
        ("exit (code|status) 137", "command terminated with exit code 137"),
        ("(?i)état critique", "état CRITIQUE"),
    ],
)
def test_hand_written_matches_contain_a_literal(pattern: str, text: str) -> None:
    assert re.search(pattern, text, re.ASCII)
    lits = required_literals(pattern, False)
    assert lits and any(lit in text.encode().lower() for lit in lits)
