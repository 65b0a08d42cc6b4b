"""Bad input never crashes a parser: every format eats mutated and random lines (seeded, repeatable)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import BACKENDS, needs_hyperscan

from logsleuth.read import formats
from logsleuth.read.formats import ParseContext

ROOT = Path(__file__).resolve().parent.parent
SEED_LINES = [
    line
    for path in sorted((ROOT / "fixtures").rglob("*"))
    if path.is_file() and path.suffix in (".log", ".json", ".txt", ".export", ".trace")
    for line in path.read_bytes().split(b"\n")[:40]
]
ALPHABET = b" \t:[]{}\"'=<>|#0123456789abcdefXYZ-.\x1b\x00\xff\xfe\r\\/,"


def mutate(rnd: random.Random, line: bytes) -> bytes:
    ops = rnd.randint(1, 4)
    buf = bytearray(line)
    for _ in range(ops):
        choice = rnd.random()
        pos = rnd.randint(0, len(buf))
        if choice < 0.3 and buf:
            del buf[pos:pos + rnd.randint(1, 20)]  # truncation, the pager `>` cut, lost bytes
        elif choice < 0.7:
            buf[pos:pos] = bytes(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 8)))
        else:
            buf[pos:pos] = rnd.randbytes(rnd.randint(1, 16))
    return bytes(buf).replace(b"\n", b" ")


@pytest.mark.parametrize("name", sorted(formats.FORMATS))
def test_parsers_survive_garbage(name):
    fmt = formats.get(name)
    rnd = random.Random(name)
    for round_ in range(30):
        lines = [mutate(rnd, rnd.choice(SEED_LINES)) for _ in range(rnd.randint(1, 12))]
        if round_ % 5 == 0:
            lines.append(rnd.randbytes(rnd.randint(0, 200)).replace(b"\n", b""))
        ctx = ParseContext(f"fuzz-{round_}")
        records = list(fmt.parse(lines, ctx))
        for rec in records:
            assert isinstance(rec.message, str) and "\x00" not in rec.message
            assert rec.origin.line >= 1 and rec.format
            assert rec.ts is None or rec.ts.tzinfo is not None
        assert ctx.line >= len(lines) + 1 or name in ("export",), "every line is consumed and counted"


def test_detection_survives_garbage():
    rnd = random.Random(7)
    for _ in range(200):
        sample = [mutate(rnd, rnd.choice(SEED_LINES)) for _ in range(rnd.randint(1, 10))]
        fmt, reason = formats.detect(sample)
        assert fmt.name in formats.FORMATS and reason


@needs_hyperscan
def test_hyperscan_is_among_the_backends_fuzzed():
    assert BACKENDS[1:] == ("python", "hyperscan")


def test_the_whole_scan_survives_garbage(tmp_path):
    from logsleuth import ruleset
    from logsleuth.errors import Diagnostics
    from logsleuth.pipeline import ScanOptions, analyze

    rnd = random.Random(11)
    bundled = ruleset.load()
    for i in range(4):
        path = tmp_path / f"garbage-{i}.log"
        path.write_bytes(b"\n".join(mutate(rnd, rnd.choice(SEED_LINES)) for _ in range(3000)) + b"\n")
        for backend in BACKENDS[1:]:  # python and, with the `fast` extra, hyperscan
            diag = Diagnostics()
            report = analyze([str(path)], bundled, ScanOptions(backend=backend), diag)
            assert not diag.input_errors
            assert all(f.count >= 1 and f.evidence for f in report.findings)
