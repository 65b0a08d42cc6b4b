"""Entry-aligned chunks (read/entries.py entry_chunks): blocks regrouped so no entry is split, with
no copy of a block whose next one starts a new entry."""
from __future__ import annotations

from logsleuth.read import entries
from logsleuth.read.formats import get as get_format

SHORT_ISO = get_format("short-iso")
HEAD = b"2024-03-10T12:00:%02d+0000 ci1 app[7]: line %d\n"
CONT = b"    continuation of the entry above\n"


def _heads(n: int, first: int = 0) -> bytes:
    return b"".join(HEAD % (i % 60, i) for i in range(first, first + n))


def test_blocks_that_start_new_entries_go_on_as_they_are() -> None:
    blocks = [_heads(3), _heads(3, 3), _heads(2, 6)]
    out = list(entries.entry_chunks(iter(blocks), SHORT_ISO, 1 << 20))
    assert out == blocks
    assert all(a is b for a, b in zip(out, blocks))  # handed on, not copied


def test_an_entry_continued_in_the_next_block_moves_to_it_whole() -> None:
    blocks = [_heads(3), CONT * 2 + _heads(2, 3)]
    out = list(entries.entry_chunks(iter(blocks), SHORT_ISO, 1 << 20))
    assert b"".join(out) == b"".join(blocks)
    assert out[0] == _heads(2)  # the third entry left with its continuation lines
    assert out[1] == HEAD % (2, 2) + CONT * 2 + _heads(2, 3)


def test_one_endless_entry_goes_in_pieces_past_the_carry_limit() -> None:
    blocks = [HEAD % (0, 0) + CONT * 10, CONT * 10, CONT * 10]
    out = list(entries.entry_chunks(iter(blocks), SHORT_ISO, 200))
    assert b"".join(out) == b"".join(blocks)
    assert len(out) == 3 and max(map(len, out)) < 2 * len(blocks[0])  # never the whole entry at once


def test_empty_blocks_and_a_last_block_without_newline_lose_nothing() -> None:
    blocks = [b"", _heads(2), b"", CONT + b"tail without newline"]
    out = list(entries.entry_chunks(iter(blocks), SHORT_ISO, 1 << 20))
    assert b"".join(out) == b"".join(blocks)
    assert b"" not in out
