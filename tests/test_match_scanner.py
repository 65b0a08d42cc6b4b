"""Block scanners: every backend agrees with a naive per-line reference, on fixed and random blocks."""
from __future__ import annotations

import importlib.util
import random

import pytest

from logsleuth.match import scanner
from logsleuth.match.scanner import BACKENDS, make_scanner

LITERALS = [b"x509: certificate", b"no such host", b"code=5", b"ABAB", b"bab", b"aba", b"\xc3\xa9t\xc3\xa9", b"tcp",
            b"checking for jobs... failed", b"checking for jobs...failed", b"checking for jobs... forbidden"]

# The pure-Python classes are tested directly so both run whichever one make_scanner would pick.
# `find-k4` groups literals under 4-byte keys, so the shared-key path is exercised on short literals.
IMPLS = ["find", "find-k4"] + (["aho"] if importlib.util.find_spec("ahocorasick") else []) + ["hyperscan"]


def _build(impl: str, literals: list[bytes]) -> scanner.Scanner:
    if impl == "hyperscan":
        pytest.importorskip("hyperscan", reason="the `fast` extra (hyperscan) is not installed")
        return make_scanner(literals, "hyperscan")
    lowered = [lit.lower() for lit in literals]
    if impl.startswith("find"):
        return scanner.FindScanner(lowered, key_len=4 if impl == "find-k4" else 12)
    return scanner.AhoCorasickScanner(lowered)


def naive(literals: list[bytes], block: bytes) -> list[tuple[int, int, frozenset[int]]]:
    out = []
    pos = 0
    for line in block.split(b"\n"):
        ids = frozenset(i for i, lit in enumerate(literals) if lit.lower() in line.lower())
        if ids:
            out.append((pos, pos + len(line), ids))
        pos += len(line) + 1
    return out


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (b"", []),
        (b"\n\n\n", []),
        (b"tcp", [(0, 3, {7})]),
        (b"TCP\n", [(0, 3, {7})]),
        (b"\nlookup x: No Such Host\n\nok", [(1, 23, {1})]),
        (b"ok\r\nline with tcp\r\nend TcP", [(4, 18, {7}), (19, 26, {7})]),
        (b"ababab\n", [(0, 6, {3, 4, 5})]),
        (b"X509: Certificate expired; code=503 tcp", [(0, 39, {0, 2, 7})]),
        (b"tcp " * 1000 + b"\nnothing\n" + b"tcp", [(0, 4000, {7}), (4009, 4012, {7})]),
        (b"\xc3\xa9t\xc3\xa9\n\xc3\x89T\xc3\x89\n", [(0, 5, {6})]),  # no case folding beyond ASCII
        (b"co\nde=5 tc\np", []),  # literals never span lines
    ],
)
def test_fixed_blocks(impl: str, block: bytes, expected: list) -> None:
    got = _build(impl, LITERALS).candidates(block)
    assert got == [(s, e, frozenset(ids)) for s, e, ids in expected]
    assert got == naive(LITERALS, block)


VOCAB = [b"Checking for jobs... failed", b"checking for jobs...FAILED", b"Checking for jobs... received",
         b"checking for jobs... forbidden", b"for jobs", b"x509: certificate", b"X509: CERTIFICATE", b"no such host", b"No Such HOST", b"code=5", b"code=4",
         b"abab", b"BaBa", b"ab", b"\xc3\xa9t\xc3\xa9", b"\xc3\x89t\xc3\xa9", b"tc", b"p", b"tcp", b" ", b"\t",
         b"level=info", b"\r", b"\x00", b"\xff", b"gitlab-runner[812]:", b"Checking for jobs... received"]


def _random_block(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 40)):
        words = [rng.choice(VOCAB) for _ in range(rng.randint(0, 8))]
        lines.append((b"" if rng.random() < 0.5 else b" ").join(words))
    block = b"\n".join(lines)
    return block + b"\n" if rng.random() < 0.5 else block


@pytest.mark.parametrize("impl", IMPLS)
def test_random_blocks_match_naive_reference(impl: str) -> None:
    rng = random.Random(20261128)
    scan = _build(impl, LITERALS)
    for _ in range(400):
        block = _random_block(rng)
        assert scan.candidates(block) == naive(LITERALS, block), block


def test_literals_sharing_a_key_are_grouped() -> None:
    plan = scanner.FindScanner(LITERALS[-3:] + [b"tcp"]).plan
    assert [len(members) for _, members in plan] == [3, 1]
    assert plan[0][0] == b"checking for jobs..."  # a 12-byte key, widened as far as all three allow


@pytest.mark.parametrize("impl", IMPLS)
def test_duplicate_and_uppercase_literals_keep_their_ids(impl: str) -> None:
    lits = [b"Refused", b"refused", b"connection refused"]
    got = _build(impl, lits).candidates(b"dial: connection REFUSED\nrefus\n")
    assert got == [(0, 24, frozenset({0, 1, 2}))]


@pytest.mark.parametrize("backend", [*BACKENDS, "auto"])
def test_zero_literals_find_nothing(backend: str) -> None:
    if backend == "hyperscan":
        pytest.importorskip("hyperscan", reason="the `fast` extra (hyperscan) is not installed")
    assert make_scanner([], backend).candidates(b"anything\nat all\n") == []


def test_auto_prefers_hyperscan_when_importable() -> None:
    expected = "hyperscan" if importlib.util.find_spec("hyperscan") else "python"
    assert make_scanner([b"abc"]).name == expected
    assert make_scanner([b"abc"], "python").name == "python"


@pytest.mark.parametrize(
    ("literals", "backend"),
    [([b""], "python"), ([b"two\nlines"], "python"), ([b"abc"], "grep"), ([b"abc"], "")],
)
def test_bad_arguments(literals: list[bytes], backend: str) -> None:
    with pytest.raises(ValueError):
        make_scanner(literals, backend)


@pytest.mark.parametrize("impl", IMPLS)
def test_next_line_is_the_first_accepted_line_from_start(impl: str) -> None:
    """`next_line` (the recovery search) agrees with the reference: the first line at or after
    `start` holding an accepted literal, with every literal on that line; windows grow past misses."""
    rng = random.Random(7)
    scan = _build(impl, LITERALS)
    filler = [b"healthy line %d" % i for i in range(3000)]  # past the first 16 KiB window
    for trial in range(40):
        lines = list(filler)
        for _ in range(rng.randint(0, 6)):
            lines[rng.randrange(len(lines))] = b"see " + rng.choice(LITERALS) + b" and tcp"
        block = b"\n".join(lines) + b"\n"
        accept = frozenset(rng.sample(range(len(LITERALS)), rng.randint(1, 4)))
        start = rng.choice([0, len(block) // 3, len(block) // 2])
        start = block.rfind(b"\n", 0, start) + 1
        want = next((c for c in naive(LITERALS, block) if c[0] >= start and not accept.isdisjoint(c[2])), None)
        assert scan.next_line(block, start, accept) == want, trial
