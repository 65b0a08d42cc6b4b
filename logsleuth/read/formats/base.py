"""Read stage, formats: what every input format is made of (the Format record, its parse and sniff callables).

A format is a small object with a name, a `sniff` that recognises a sample of the input's first
lines (returning the reason, for `-v`), and a `parse` that turns physical lines into records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo, timezone
from typing import Any, Callable, Iterable, Iterator, Optional

from logsleuth.model import Record

Sniff = Callable[[list[bytes]], Optional[str]]


@dataclass(slots=True)
class ParseContext:
    """What a parser needs besides the lines: where they come from and how to complete timestamps.

    `line` is the 1-based number of the next line handed to `parse`; parsers advance it.
    `state` is the format's own memory across calls (year rollover, open CI sections).
    """

    path: str
    year: int | None = None
    tz: tzinfo = timezone.utc
    line: int = 1
    max_line: int = 1 << 20
    state: dict[str, Any] = field(default_factory=dict)


Parse = Callable[[Iterable[bytes], ParseContext], Iterator[Record]]


@dataclass(frozen=True, slots=True)
class Format:
    """One input format.

    `raw_message`: the record's message is a substring of its cleaned raw lines, so the matcher may
    look for literals in raw blocks and parse only the lines that hold one. `continuation` tells a
    line that continues the entry above it (an indented journalctl line); None means every line
    starts an entry. `message_of`, for formats whose every line is one entry but whose raw text
    hides the message (JSON escapes and byte arrays), gives a text that contains the record's
    message, far cheaper than the whole record; the matcher parses only lines whose text holds a
    literal. `wrapped(prev, line)` tells a line that continues the one above it because a terminal
    or a poster wrapped it (a Go error broken after a `:`, lines.go_wrapped; it is only ever true
    when `prev` ends with `:`, trailing CRs, spaces and tabs aside, which the readers check first); such lines are joined
    into one entry, a few at most (lines.MAX_WRAPPED). Only formats whose lines carry no structure
    of their own (plain text, job traces, the runner's own output) set it.
    """

    name: str
    sniff: Sniff
    parse: Parse
    raw_message: bool = False
    continuation: Callable[[bytes], bool] | None = None
    description: str = ""
    message_of: Callable[[bytes], str] | None = None
    wrapped: Callable[[bytes, bytes], bool] | None = None
