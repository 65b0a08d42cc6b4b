"""Read stage, formats: a gitlab-runner config.toml as an input format (the reader is read/config_toml.py).

Detected by content (TOML lines with `[[runners]]` or `concurrent =`), or by the name `config.toml`
(read/inputs.py). The whole file is one document: it is collected (up to a size cap) and parsed
once, then handed on as one record per table and per setting.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from logsleuth.model import Record
from logsleuth.read import config_toml as reader
from logsleuth.read.formats.base import Format, ParseContext


def _sniff(sample: list[bytes]) -> str | None:
    return "gitlab-runner config.toml: TOML with [[runners]] or concurrent =" if reader.looks_like(sample) else None


def _parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    chunks: list[bytes] = []
    size = 0
    for line in lines:
        size += len(line) + 1
        if size > reader.MAX_BYTES:
            ctx.line += len(chunks) + 1 + sum(1 for _ in lines)
            yield reader.problem(ctx.path, f"config file larger than {reader.MAX_BYTES >> 20} MiB: not checked")
            return
        chunks.append(line)
    ctx.line += len(chunks)  # every line is consumed (the document is one unit)
    # Lines come without their newlines; the last one had one too, or TOML reads a string left open to the end.
    yield from reader.records(b"".join(line + b"\n" for line in chunks).decode("utf-8", "replace"), ctx.path)


FORMAT = Format(reader.NAME, _sniff, _parse, description="a gitlab-runner config.toml, checked by the `input: config` rules")
