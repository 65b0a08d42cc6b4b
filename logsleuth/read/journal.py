"""Read stage: the systemd journal read natively (python-systemd) with journalctl's filters pushed down.

A `JournalQuery` holds journalctl's options (-u, -t, -p, -k, -b, -S, -U, -D, --file, -m, -f, -n and
a cursor to start after). `open_native` turns it into libsystemd matches (`add_match`,
`add_disjunction`, `add_conjunction`, `seek_realtime`), so only the selected entries are ever read.
Without python-systemd, read/journalctl.py runs `journalctl -o export` with the same options.
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from logsleuth.errors import Diagnostics, InputError, Location, LogsleuthError
from logsleuth.model import Origin, Record
from logsleuth.read.cursor import Progress
from logsleuth.read.formats.journal_fields import record_from_fields
from logsleuth.read.text import decode

# With no -u/-t/-k: what a runner host's trouble shows in (said in `logsleuth journal --help`).
DEFAULT_UNITS = ("gitlab-runner.service", "docker.service", "containerd.service")
PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_UNIT_SUFFIXES = (".service", ".socket", ".target", ".device", ".mount", ".automount", ".swap", ".timer",
                  ".path", ".slice", ".scope")
# journalctl's add_matches_for_unit: coredumps of the unit carry this MESSAGE_ID and COREDUMP_UNIT.
_COREDUMP_ID = "fc2e22bc6ee647b6b90729ab34a250b1"
_BOOT_ID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F-]{36}")
PERMISSION_HINT = ("reading the system journal needs root or membership in the group systemd-journal "
                   "(or adm): sudo usermod -aG systemd-journal $USER, then log in again")


@dataclass(frozen=True)
class JournalQuery:
    """journalctl's selection: AND between kinds of filter, OR within one kind (as journalctl)."""

    units: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    dmesg: bool = False
    boot: str | None = None  # None: every boot; "0" the last, "-1" the one before, "1" the first, or an id
    since: datetime | None = None
    until: datetime | None = None
    directory: str | None = None
    files: tuple[str, ...] = ()
    merge: bool = False
    follow: bool = False
    lines: int | None = None  # the last N entries (then follow)
    after_cursor: str | None = None

    @property
    def selects(self) -> bool:
        return bool(self.units or self.identifiers or self.dmesg)


def unit_name(name: str) -> str:
    """`gitlab-runner` means `gitlab-runner.service`, as for journalctl and systemctl."""
    if name.endswith(_UNIT_SUFFIXES) or any(c in name for c in "*?["):
        return name
    return f"{name}.service"


def priority_values(text: str) -> tuple[int, ...]:
    """-p's PRIORITY values: `err` or `3` means 0..3, `warning..emerg` a range; raises LogsleuthError."""
    low, sep, high = text.partition("..")
    ends = [_priority(low or "emerg"), _priority(high or "debug")] if sep else [0, _priority(text)]
    return tuple(range(min(ends), max(ends) + 1))


def _priority(word: str) -> int:
    word = word.strip().lower()
    if word.isdigit() and int(word) < 8:
        return int(word)
    if word in PRIORITIES:
        return PRIORITIES.index(word)
    raise LogsleuthError(f"{word!r} is not a priority: use a number 0-7 or one of {', '.join(PRIORITIES)}, "
                         "or a range such as warning..emerg")


def expand_files(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """--file values with their globs expanded (journalctl does the same); a pattern with no match stays."""
    out: list[str] = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        out.extend(found or [pattern])
    return tuple(out)


# --- the native reader -----------------------------------------------------------------------------

def available() -> bool:
    """Whether python-systemd's journal module can be imported."""
    try:
        from systemd import journal  # noqa: F401
    except ImportError:
        return False
    return True


def open_native(query: JournalQuery, diag: Diagnostics) -> Any:
    """A Reader positioned at the query's first entry, its matches added; raises InputError."""
    from systemd import journal

    conv: dict[str, Callable[[Any], Any]] = {k: _raw for k in journal.DEFAULT_CONVERTERS}
    conv["__REALTIME_TIMESTAMP"] = int  # exact µs since the epoch (the default is a local datetime)
    conv["__MONOTONIC_TIMESTAMP"] = lambda m: str(m[0])
    conv["__CURSOR"] = _raw
    flags = 0 if query.merge or query.files or query.directory else journal.LOCAL_ONLY
    try:
        if query.files:
            reader = journal.Reader(files=list(query.files), converters=conv)
        else:
            reader = journal.Reader(flags=flags, path=query.directory, converters=conv)
    except OSError as exc:
        raise _open_error(exc, query) from None
    _add_matches(reader, query, diag)
    return reader


def _raw(value: Any) -> Any:
    return value


def _open_error(exc: OSError, query: JournalQuery) -> InputError:
    where = Location(", ".join(query.files) or query.directory or "the system journal")
    if isinstance(exc, PermissionError):
        return InputError(f"cannot read the journal: {exc.strerror}; {PERMISSION_HINT}", where)
    if isinstance(exc, FileNotFoundError):
        return InputError("no such journal file or directory", where)
    return InputError(f"not a readable journal: {exc.strerror or exc}", where)


def _add_matches(reader: Any, query: JournalQuery, diag: Diagnostics) -> None:
    # journalctl's order; each kind of filter is one level of an AND (add_conjunction).
    if query.boot is not None:
        reader.add_match(_BOOT_ID=_boot_id(reader, query))
        reader.add_conjunction()
    if query.dmesg:
        reader.add_match(_TRANSPORT="kernel")
        reader.add_conjunction()
    units = [unit_name(u) for u in query.units] if query.selects else list(DEFAULT_UNITS)
    for unit in _expand_unit_globs(reader, units):
        _match_unit(reader, unit)
    if not query.selects:
        reader.add_match(_TRANSPORT="kernel")
        reader.add_disjunction()
    if units or not query.selects:
        reader.add_conjunction()
    for ident in query.identifiers:
        reader.add_match(SYSLOG_IDENTIFIER=ident)
    if query.identifiers:
        reader.add_conjunction()
    for p in query.priorities:
        reader.add_match(PRIORITY=str(p))
    if query.priorities:
        reader.add_conjunction()


def _match_unit(reader: Any, unit: str) -> None:
    # As journalctl -u: the unit's own messages, coredumps of it, PID 1's messages about it,
    # and messages about it from privileged processes.
    reader.add_match(_SYSTEMD_UNIT=unit)
    reader.add_disjunction()
    reader.add_match(MESSAGE_ID=_COREDUMP_ID, COREDUMP_UNIT=unit)
    reader.add_disjunction()
    reader.add_match(_PID="1", UNIT=unit)
    reader.add_disjunction()
    reader.add_match(_UID="0", OBJECT_SYSTEMD_UNIT=unit)
    reader.add_disjunction()


def _expand_unit_globs(reader: Any, units: list[str]) -> list[str]:
    import fnmatch

    plain = [u for u in units if not any(c in u for c in "*?[")]
    patterns = [u for u in units if u not in plain]
    if patterns:
        known = sorted(_text(v) for v in reader.query_unique("_SYSTEMD_UNIT"))
        plain += [u for u in known if any(fnmatch.fnmatchcase(u, p) for p in patterns)]
    return plain


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _boot_id(reader: Any, query: JournalQuery) -> str:
    """The boot -b names: an id, or an offset in the boots ordered by their first entry."""
    spec = query.boot or "0"
    if _BOOT_ID.fullmatch(spec):
        return spec.replace("-", "").lower()
    try:
        offset = int(spec)
    except ValueError:
        raise LogsleuthError(f"-b {spec}: expected a boot id (32 hex digits) or an offset such as 0, -1 or 1") from None
    if offset == 0 and not (query.files or query.directory):
        return _this_boot()
    boots = _boots(reader)
    index = len(boots) - 1 + offset if offset <= 0 else offset - 1
    if not 0 <= index < len(boots):
        raise LogsleuthError(f"-b {spec}: no such boot in the journal ({len(boots)} boot(s))")
    return boots[index]


def _this_boot() -> str:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
        return fh.read().strip().replace("-", "")


def _boots(reader: Any) -> list[str]:
    """Every boot id in the journal, oldest first (by each boot's first entry)."""
    firsts: list[tuple[int, str]] = []
    for value in reader.query_unique("_BOOT_ID"):
        boot = _text(value)
        reader.flush_matches()
        reader.add_match(_BOOT_ID=boot)
        reader.seek_head()
        entry = reader.get_next()
        if entry:
            firsts.append((entry["__REALTIME_TIMESTAMP"], boot))
    reader.flush_matches()
    return [boot for _, boot in sorted(firsts)]


def native_records(reader: Any, query: JournalQuery, name: str, progress: Progress,
                   diag: Diagnostics, poll: float = 1.0) -> Iterator[Record]:
    """The query's entries as Records, in journal order; with `follow`, new entries as they are written.

    `progress` learns each entry's cursor and when the ones before it are processed (cursor.py).
    """
    with reader:
        _seek(reader, query, progress, diag)
        n = 0
        until_us = _us(query.until) if query.until else None
        while True:
            # The C reader's own calls: Reader.get_next() converts every field in Python, which
            # cost more than all the rest of reading (12.8 of 37 s for 200,000 entries).
            if not reader._next():
                if not query.follow:
                    return
                progress.idle()
                reader.wait(poll)  # seconds: a signal is handled between waits
                continue
            realtime = reader._get_realtime()
            if until_us is not None and realtime > until_us:
                if not query.follow:
                    return
                continue
            n += 1
            fields: dict[str, Any] = {k: decode(v) if type(v) is bytes else v for k, v in reader._get_all().items()}
            fields["__REALTIME_TIMESTAMP"] = str(realtime)
            fields["__MONOTONIC_TIMESTAMP"] = str(reader._get_monotonic()[0])
            record = record_from_fields(fields, Origin(name, n), "journal", "")
            record.raw = record.message
            progress.resume()
            yield record
            progress.yielded(reader._get_cursor())


def _us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _seek(reader: Any, query: JournalQuery, progress: Progress, diag: Diagnostics) -> None:
    if query.after_cursor:
        if _seek_after(reader, query.after_cursor):
            return
        diag.warn(f"cursor {query.after_cursor[:60]!r} is not in the journal (rotated away?): "
                  "starting from the oldest entry", Location(progress.path or "cursor"))
        reader.seek_head()
    elif query.since is not None:
        reader.seek_realtime(_us(query.since))  # int µs: the datetime form goes through a float
    elif query.lines is not None or query.follow:
        _seek_last(reader, 10 if query.lines is None else query.lines)
    else:
        reader.seek_head()


def _seek_after(reader: Any, cursor: str) -> bool:
    try:
        reader.seek_cursor(cursor)
    except (OSError, ValueError):
        return False
    entry = reader.get_next()
    try:
        return bool(entry) and bool(reader.test_cursor(cursor))
    except (OSError, ValueError):
        return False


def _seek_last(reader: Any, lines: int) -> None:
    # Leave the reader just before the last `lines` entries: get_next() reads the first of them.
    reader.seek_tail()
    moved = 0
    while moved < lines and reader.get_previous():
        moved += 1
    if moved < lines or not reader.get_previous():
        if moved == lines == 0:
            return  # an empty journal: wait for the first entry
        reader.seek_head()
