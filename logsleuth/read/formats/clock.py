"""Stage 1, sources: timestamp parsing shared by the formats, cached because it runs once per line.

Every parser returns timezone-aware UTC datetimes. Formats without a year or zone (journalctl
`short`, RFC 3164 files, `dmesg -T`) are completed from ParseContext.year/tz, tracking the
December -> January rollover in ctx.state.
"""
from __future__ import annotations

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

    The year comes from ctx.year (--year) or is guessed from today, so a log copied in January
    whose first line says December is placed in the previous year; after that a December ->
    January step in the log advances the year (logs are in time order).
    """
    state = ctx.state
    year = state.get("clock.year")
    if year is None:
        year = ctx.year if ctx.year is not None else _guess_year(month, day, ctx.tz)
    elif month < state["clock.month"] and state["clock.month"] == 12 and month == 1:
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
            return None
        if len(cache) > _CACHE_MAX:
            cache.clear()
        base = cache[key] = local(naive, ctx.tz)
    return base.replace(microsecond=us) if us else base


def _guess_year(month: int, day: int, tz: tzinfo) -> int:
    now = datetime.now(tz)
    # A date more than a day in the future cannot be this year's: the log is from last year.
    if (month, day) > (now.month, now.day + 1):
        return now.year - 1
    return now.year
