"""Read stage, formats: the explicit registry of input formats and per-input format detection.

A format is a small object with a name, a `sniff` that recognises a sample of the input's first
lines (returning the reason, for `-v`), and a `parse` that turns physical lines into records.
"""
from __future__ import annotations

from logsleuth.read.formats.base import Format, Parse, ParseContext, Sniff

__all__ = ["FORMATS", "Format", "Parse", "ParseContext", "Sniff", "detect", "get"]


def _load_registry() -> dict[str, Format]:
    # Order matters: detection tries formats in this order and takes the first that recognises the
    # sample; the most specific shapes come first and plain text last. `cat` is never detected.
    from logsleuth.read.formats import (compose, config_toml, dmesg, job_trace, journal_cat, journal_export,
                                   journal_json, journal_short, journal_verbose, plain, runner, syslog)

    formats: list[Format] = [
        config_toml.FORMAT,  # a runner's config.toml (checked by `input: config` rules): TOML is no log's shape
        journal_export.FORMAT,
        journal_json.JSON_SEQ,
        journal_json.JSON_SSE,
        journal_json.JSON_PRETTY,
        journal_json.JSON,
        runner.RUNNER_JSON,
        journal_verbose.FORMAT,
        job_trace.FORMAT,
        journal_short.SHORT_ISO_PRECISE,
        journal_short.SHORT_ISO,
        syslog.RFC3339,
        syslog.RFC5424,
        journal_short.WITH_UNIT,
        journal_short.SHORT_FULL,
        journal_short.SHORT_UNIX,
        journal_short.SHORT_DELTA,
        journal_short.SHORT_MONOTONIC,
        journal_short.SHORT_PRECISE,
        dmesg.FORMAT,
        journal_short.SHORT,
        syslog.RFC3164,
        runner.RUNNER_TEXT,
        compose.FORMAT,
        runner.RUNNER,
        journal_cat.FORMAT,
        plain.FORMAT,
    ]
    return {f.name: f for f in formats}


FORMATS: dict[str, Format] = _load_registry()


def get(name: str) -> Format:
    """The format called `name`; raises KeyError."""
    return FORMATS[name]


def detect(sample: list[bytes]) -> tuple[Format, str]:
    """The first registered format that recognises `sample` (the input's first lines), and why."""
    for fmt in FORMATS.values():
        reason = fmt.sniff(sample)
        if reason:
            return fmt, reason
    return FORMATS["plain"], "no known format recognised; every line is an event"
