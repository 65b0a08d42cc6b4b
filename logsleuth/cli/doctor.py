"""`logsleuth doctor`: which optional parts this install runs with, in one screen.

The fast path (Vectorscan, Aho-Corasick, orjson, ISA-L) and the native journal reader are optional
imports with fallbacks; when a scan is slower than the README says or reads the journal through
`journalctl`, this is the first thing to run.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import sys

import click

from logsleuth import __version__
from logsleuth.cli.app import cli


def _dist_version(dist: str) -> str | None:
    import importlib.metadata  # here, not at the top: `logsleuth --help` imports this module

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _line(what: str, status: str, detail: str = "") -> str:
    return f"{what:<16} {status}{'  (' + detail + ')' if detail else ''}"


def report_lines() -> list[str]:
    """What `doctor` prints: one line per optional part, saying which is in use and why."""
    from logsleuth.match.scanner import auto_backend
    from logsleuth.ruleset.cache import cache_dir

    lines = [_line("logsleuth", __version__, f"Python {platform.python_version()} on {sys.platform}/{platform.machine()}")]
    scanner = auto_backend()
    detail = {"hyperscan": f"Vectorscan, PyPI hyperscan {_dist_version('hyperscan')}",
              "python": "pyahocorasick" if _importable("ahocorasick") else "bytes.find",
              }.get(scanner, "")
    if scanner != "hyperscan":
        detail += "; hyperscan not importable: about 10x slower, see README 'Speed'"
    lines.append(_line("scanner", scanner, detail))
    lines.append(_line("json", "orjson" if _importable("orjson") else "stdlib json",
                       "" if _importable("orjson") else "orjson not installed: JSON input parses ~3x slower"))
    from logsleuth.read.decompress import gzip_inflater

    isal = gzip_inflater().__name__ != "zlib"
    lines.append(_line("gzip", "ISA-L" if isal else "zlib",
                       f"PyPI isal {_dist_version('isal')}" if isal else "isal not importable: .gz inflates ~2x slower"))
    if _importable("systemd.journal"):
        journal = ("python-systemd", f"systemd-python {_dist_version('systemd-python')}")
    elif shutil.which("journalctl"):
        journal = ("journalctl -o export", "python-systemd not importable: reads through the journalctl command")
    else:
        journal = ("unavailable", "neither python-systemd nor journalctl: journal files cannot be read")
    lines.append(_line("journal reader", *journal))
    where = cache_dir()
    if where is None:
        lines.append(_line("compile cache", "off", "LOGSLEUTH_NO_CACHE is set"))
    else:
        files = sorted(where.glob("compile-*.json")) if where.is_dir() else []
        state = f"{len(files)} file(s)" if files else "empty (filled by the next scan)"
        writable = os.access(where if where.exists() else where.parent if where.parent.exists() else "/", os.W_OK)
        lines.append(_line("compile cache", str(where), state + ("" if writable else "; not writable: runs compile afresh")))
    return lines


@cli.command()
def doctor() -> None:
    """Show which optional parts this install uses: scanner backend, JSON parser, gzip, journal reader, cache."""
    for line in report_lines():
        click.echo(line)
