"""Stage 1, sources: timestamp parsing shared by the formats, cached because it runs once per line.

Every parser returns timezone-aware UTC datetimes. Formats without a year or zone (journalctl
`short`, RFC 3164 files, `dmesg -T`) are completed from ParseContext.year/tz, tracking the
December -> January rollover in ctx.state.
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone, tzinfo

from logsleuth.read.formats.base import ParseContext

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# Abbreviations journalctl prints in short-full/with-unit; anything else falls back to ctx.tz.
_ZONE_ABBR = {"UTC": UTC, "GMT": UTC, "Z": UTC}
_CACHE_MAX = 4096
_iso_cache: dict[str, datetime | None] = {}


def from_epoch_us(us: int) -> datetime | None:
    """UTC datetime for microseconds since the epoch, exact (no float rounding); None past year 9999."""
    try:
        return _EPOCH + timedelta(microseconds=us)
    except OverflowError:  # a damaged or hostile stamp, not a reason to stop reading
        return None


def zone(text: str) -> tzinfo | None:
    """A zone from `Z`, `UTC`, `+0000`, `+00:00`, `-0400`; None when unknown."""
    if text in _ZONE_ABBR:
        return _ZONE_ABBR[text]
    if len(text) in (5, 6) and text[0] in "+-":
        digits = text[1:].replace(":", "")
        if len(digits) == 4 and digits.isdigit():
            minutes = int(digits[:2]) * 60 + int(digits[2:])
            return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
    return None


def iso(text: str, default_tz: tzinfo = UTC) -> datetime | None:
    """Parse `YYYY-mm-ddTHH:MM:SS[.frac][zone]` (RFC 3339, ISO 8601 basic zones); None if malformed.

    The whole-second part is cached; the fraction (nanoseconds are cut to microseconds, as Go's
    RFC3339Nano and journald's precision differ) is added per call.
    """
    if len(text) < 19 or text[4] != "-" or text[10] not in "T ":
        return None
    i = 19
    us = 0
    if len(text) > 19 and text[19] in ".,":
        j = 20
        while j < len(text) and text[j].isdigit():
            j += 1
        frac = text[20:j]
        if frac:
            us = int((frac + "000000")[:6])
        i = j
    key = text[:19] + text[i:]
    base = _iso_cache.get(key)
    if base is None:
        base = _iso_base(text[:19], text[i:], default_tz)
        if base is None:
            return None
        if len(_iso_cache) > _CACHE_MAX:
            _iso_cache.clear()
        _iso_cache[key] = base
    return base.replace(microsecond=us) if us else base


def _iso_base(stamp: str, zone_text: str, default_tz: tzinfo) -> datetime | None:
    tz = zone(zone_text) if zone_text else default_tz
    if tz is None:
        return None
    try:
        naive = datetime(int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]),
                         int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19]))
    except ValueError:
        return None
    return naive.replace(tzinfo=tz).astimezone(UTC)


def local(naive: datetime, tz: tzinfo) -> datetime:
    """A wall-clock time in zone `tz`, converted to UTC."""
    return naive.replace(tzinfo=tz).astimezone(UTC)


def month_day(ctx: ParseContext, month: int, day: int, hms: str, us: int = 0) -> datetime | None:
    """Complete `Mmm dd HH:MM:SS` with a year and ctx.tz; None for an impossible date.

    The first entry's year comes from, in order, --year, journalctl's `-- Logs begin at` header,
    the file's mtime (hint_year) or today; after that a step back of six months or more in the log
    (December -> January) advances the year, since logs are in time order. Only candidate entries
    may be parsed (the raw path), so a rollover is judged between whichever entries are.
    """
    state = ctx.state
    year = state.get("clock.year")
    if year is None:
        year = _first_year(ctx, month, day)
    elif month <= state["clock.month"] - 6:
        year += 1
    state["clock.year"] = year
    state["clock.month"] = month
    key = (year, month, day, hms)
    # ctx.state is untyped (each format keeps its own memory there); this entry is ours.
    cache: dict[tuple[int, int, int, str], datetime] = state.setdefault("clock.cache", {})
    base = cache.get(key)
    if base is None:
        try:
            naive = datetime(year, month, day, int(hms[0:2]), int(hms[3:5]), int(hms[6:8]))
        except ValueError:
            _warn_once(ctx, f"{_MONTH_NAMES[month - 1]} {day} {hms} is no date in {year} (year "
                            f"{state.get('clock.how', 'of today')}): such entries carry no time; set --year")
            return None
        if len(cache) > _CACHE_MAX:
            cache.clear()
        base = cache[key] = local(naive, ctx.tz)
    return base.replace(microsecond=us) if us else base


def _first_year(ctx: ParseContext, month: int, day: int) -> int:
    if ctx.year is not None:
        return ctx.year
    anchor: tuple[str, int, int] | None = ctx.state.get("clock.anchor")
    if anchor is None:
        return _guess_year(month, day, ctx.tz)
    side, year, known = anchor
    # "begin": the journal begins in month `known` of `year`, so an earlier month is next year's;
    # "end": the file ends in that month, so a later month is last year's. Either holds for any
    # entry of a log shorter than a year, the first parsed or not (workers parse ranges).
    if side == "begin":
        return year if month >= known else year + 1
    return year if month <= known else year - 1


def _guess_year(month: int, day: int, tz: tzinfo) -> int:
    now = datetime.now(tz)
    # A date more than a day in the future cannot be this year's: the log is from last year.
    if (month, day) > (now.month, now.day + 1):
        return now.year - 1
    return now.year


def _warn_once(ctx: ParseContext, message: str) -> None:
    warnings: list[str] = ctx.state.setdefault("warnings", [])
    if not ctx.state.get("clock.warned"):
        ctx.state["clock.warned"] = True
        warnings.append(message)


# --- the year of inputs that carry none ----------------------------------------------------------

_MONTH_NAMES = tuple(MONTHS)
YEARLESS = frozenset({"short", "short-precise", "rfc3164"})
_HEADER = re.compile(rb"^-- (?:Logs begin at|Journal begins at) \w{3} (\d{4})-(\d{2})-\d{2} ")
_TAIL = 1 << 16
MIN_YEAR, MAX_AHEAD = 1970, 1


def hint_year(ctx: ParseContext, fmt_name: str, sample: list[bytes], path: str | None) -> None:
    """Where the first entry's year will come from, for a format without years (ctx.state['clock.how'],
    shown by -v): --year, journalctl's header, the file's mtime, else today."""
    if fmt_name not in YEARLESS:
        return
    state = ctx.state
    if ctx.year is not None:
        state["clock.how"] = "from --year"
        if not MIN_YEAR <= ctx.year <= datetime.now(UTC).year + MAX_AHEAD:
            _warn_once(ctx, f"--year {ctx.year} is out of range ({MIN_YEAR}..{datetime.now(UTC).year + MAX_AHEAD})")
        return
    header = next((m for m in map(_HEADER.match, sample[:3]) if m), None)
    if header is not None:
        state["clock.anchor"] = ("begin", int(header.group(1)), int(header.group(2)))
        state["clock.how"] = "from journalctl's `-- Logs begin at` header"
        return
    mtime = _mtime(path, ctx.tz)
    if mtime is not None:
        last = _last_month(path) or mtime.month
        # The file was last written at its mtime: its last entry is of that year, or the one
        # before when its month is later than the mtime's (walking back over the New Year).
        state["clock.anchor"] = ("end", mtime.year if last <= mtime.month else mtime.year - 1, last)
        state["clock.how"] = f"from the file's mtime ({mtime:%Y-%m-%d})"
        return
    state["clock.how"] = "of today (no --year, header or file time)"


def _month_of(line: bytes) -> int | None:
    return MONTHS.get(line[:3].decode("ascii", "replace")) if line[3:4] == b" " else None


def _mtime(path: str | None, tz: tzinfo) -> datetime | None:
    if path is None:
        return None
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, tz)
    except (OSError, ValueError, OverflowError):
        return None


def _last_month(path: str | None) -> int | None:
    """The month of a plain file's last dated line (its tail); None when compressed or unreadable."""
    if path is None or path.endswith((".gz", ".bz2", ".xz", ".zst")) or "!" in path:
        return None
    try:
        with open(path, "rb") as fh:
            fh.seek(max(os.fstat(fh.fileno()).st_size - _TAIL, 0))
            tail = fh.read(_TAIL)
    except OSError:
        return None
    for line in reversed(tail.split(b"\n")):
        month = _month_of(line)
        if month is not None:
            return month
    return None
