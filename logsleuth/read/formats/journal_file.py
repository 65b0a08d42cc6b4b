"""Stage 1, sources: native .journal files read through python-systemd, entry by entry, into Records.

Unlike the other formats this one is not parsed from lines: libsystemd reads the binary file,
and each entry's fields go through the same normalisation as journalctl's json/export modes.
python-systemd is an optional dependency (`logsleuth[journal]`), imported only when needed.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.model import Origin, Record
from logsleuth.read.formats.base import Format, ParseContext
from logsleuth.read.formats.journal_fields import record_from_fields

REASON = "native journal file (python-systemd)"


def _no_parse(lines: Iterable[bytes], ctx: ParseContext) -> Iterator[Record]:
    return iter(())


# Never detected from a sample and not in the registry: an input is a journal by its magic bytes
# or file name, and its records come from `records`, not from `parse`.
JOURNAL = Format("journal", lambda sample: None, _no_parse, description=REASON)


def open_reader(path: str, name: str, diag: Diagnostics) -> Any | None:
    """A python-systemd Reader over one journal file; None (reported to diag) when it cannot be read."""
    try:
        from systemd import journal
    except ImportError:
        diag.input_error(InputError(
            "reading .journal files needs python-systemd: pip install 'logsleuth[journal]'",
            Location(name)))
        return None
    try:
        return journal.Reader(files=[path], converters=_converters(journal))
    except OSError as exc:
        diag.input_error(InputError(f"not a readable journal file: {exc}", Location(name)))
        return None


def _converters(journal: Any) -> dict[str, Callable[[Any], Any]]:
    # Keep every value as raw bytes so all modes normalise alike; __REALTIME_TIMESTAMP as int µs
    # (the default converter gives a local-time datetime, formats.md §3 pitfalls).
    conv: dict[str, Callable[[Any], Any]] = {k: _identity for k in journal.DEFAULT_CONVERTERS}
    conv["__REALTIME_TIMESTAMP"] = int
    conv["__MONOTONIC_TIMESTAMP"] = lambda m: str(m[0])
    return conv


def _identity(value: Any) -> Any:
    return value


def records(reader: Any, name: str) -> Iterator[Record]:
    """Every entry of an open Reader as a Record (entry n at line n); the reader is closed at the end."""
    with reader:
        for n, entry in enumerate(reader, 1):
            record = record_from_fields(entry, Origin(name, n), "journal", "")
            record.raw = record.message
            yield record
