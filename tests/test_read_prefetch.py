"""A compressed file inflated in a thread ahead of the reader (read/prefetch.py): the same pieces,
the same diagnostics in the same order, errors raised where the reader is, and no thread left."""
from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.read import prefetch
from logsleuth.read.inputs import ReadOptions, expand, open_input, records


def _producer(d: Diagnostics) -> Iterator[bytes]:
    yield b"a\n"
    d.warn("first warning")
    yield b"b\n"
    d.input_error(InputError("cut short", Location("x.gz"), partial=True))
    d.truncated_lines += 2
    yield b"c\n"
    d.warn("after the last piece")


def _seen(pieces: Iterator[bytes], diag: Diagnostics) -> list[tuple[bytes, int, int, int]]:
    return [(p, len(diag.warnings), len(diag.input_errors), diag.truncated_lines) for p in pieces]


def test_pieces_and_diagnostics_arrive_as_without_a_thread() -> None:
    direct, threaded = Diagnostics(), Diagnostics()
    expected = _seen(_producer(direct), direct)
    assert _seen(prefetch.ahead(_producer, threaded), threaded) == expected
    assert threaded.warnings == direct.warnings == ["first warning", "after the last piece"]
    assert [e.message for e in threaded.input_errors] == ["cut short"] and threaded.partial


def test_a_producer_error_is_raised_in_the_reader_after_the_pieces_before_it() -> None:
    def failing(d: Diagnostics) -> Iterator[bytes]:
        yield b"kept\n"
        raise OSError("disk gone")

    got: list[bytes] = []
    with pytest.raises(OSError, match="disk gone"):
        for piece in prefetch.ahead(failing, Diagnostics()):
            got.append(piece)
    assert got == [b"kept\n"]


def test_closing_early_stops_the_thread() -> None:
    def endless(d: Diagnostics) -> Iterator[bytes]:
        while True:
            yield b"x" * 1024

    before = threading.active_count()
    pieces = prefetch.ahead(endless, Diagnostics())
    assert next(pieces) == b"x" * 1024
    assert threading.active_count() == before + 1
    pieces.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before


def test_a_gzip_file_reads_the_same_through_the_thread(tmp_path: Path) -> None:
    lines = [f"2024-03-10T12:00:{n % 60:02d}+0000 ci1 app[1]: line {n}" for n in range(200_000)]
    path = tmp_path / "big.log.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 1))
    (inp,) = expand([str(path)], ReadOptions(), Diagnostics())
    one = open_input(inp, ReadOptions(), Diagnostics())
    assert one is not None
    assert "logsleuth-inflate" in {t.name for t in threading.enumerate()}
    assert [r.message for r in records(one)] == [f"line {n}" for n in range(200_000)]
    assert one.lines_read == 200_000
