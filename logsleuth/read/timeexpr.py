"""Read stage: time expressions as journalctl takes them (`--since "2 hours ago"`), to aware UTC datetimes.

The forms are those of systemd.time(7): `now`, `today`, `yesterday`, `tomorrow`; an absolute
`YYYY-MM-DD [HH:MM[:SS[.frac]]]` or `HH:MM[:SS]` (today), optionally followed by `UTC` or a zone
name; ISO 8601 with `T` and a zone (`2024-03-10T14:00:00+01:00`, `Z`); `@EPOCH` seconds; and
relative spans `-2h`, `+10min`, `2 hours ago`, `1h 30min ago`, `in 5min`. A wall-clock time without
a zone is in the zone the caller gives (`--tz`, else local).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from logsleuth.errors import LogsleuthError

UTC = timezone.utc
FORMS = ("2024-03-10 14:00[:05]", "2024-03-10", "14:00", "2024-03-10T14:00:00+01:00", "@1710079200",
         "now", "today", "yesterday", "tomorrow", "-2h", "+10min", "2 hours ago", "1h 30min ago")

# systemd.time(7)'s units, in microseconds; `m` is minutes and `M` months, as there.
_US = {"usec": 1, "us": 1, "µs": 1, "msec": 1_000, "ms": 1_000,
       "seconds": 1_000_000, "second": 1_000_000, "sec": 1_000_000, "secs": 1_000_000, "s": 1_000_000,
       "minutes": 60_000_000, "minute": 60_000_000, "min": 60_000_000, "mins": 60_000_000, "m": 60_000_000,
       "hours": 3_600_000_000, "hour": 3_600_000_000, "hr": 3_600_000_000, "hrs": 3_600_000_000,
       "h": 3_600_000_000, "days": 86_400_000_000, "day": 86_400_000_000, "d": 86_400_000_000,
       "weeks": 604_800_000_000, "week": 604_800_000_000, "w": 604_800_000_000,
       # systemd's month and year are averages: 30.44 and 365.25 days
       "months": 2_629_800_000_000, "month": 2_629_800_000_000, "M": 2_629_800_000_000,
       "years": 31_557_600_000_000, "year": 31_557_600_000_000, "y": 31_557_600_000_000}
_UNIT_CI = {k.lower(): v for k, v in _US.items() if k not in ("M", "m")}
_SPAN_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-zµ]+)")
_ABSOLUTE = re.compile(r"(?:(?P<date>\d{4}-\d{2}-\d{2})(?:[ T]|$))?"
                       r"(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
                       r"\s*(?P<zone>Z|UTC|GMT|[+-]\d{2}:?\d{2}|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+)?")
_WEEKDAY = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+", re.I)
_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def parse_time(text: str, tz: tzinfo, now: datetime | None = None) -> datetime:
    """The moment `text` names, as an aware UTC datetime; raises LogsleuthError naming the accepted forms."""
    now = now or datetime.now(UTC)
    expr = " ".join(text.split())
    moment = _parse(expr, tz, now)
    if moment is None:
        raise LogsleuthError(f"{text!r} is not a time; accepted forms: {', '.join(FORMS)}")
    return moment.astimezone(UTC)


def _parse(expr: str, tz: tzinfo, now: datetime) -> datetime | None:
    low = expr.lower()
    if low == "now":
        return now
    if low in _DAYS:
        day = now.astimezone(tz).date() + timedelta(days=_DAYS[low])
        return _wall(day, time(), tz)
    if expr.startswith("@"):
        try:
            return datetime.fromtimestamp(float(expr[1:]), UTC)
        except (ValueError, OverflowError, OSError):
            return None
    span = _relative(expr)
    if span is not None:
        return now + span
    return _absolute(_WEEKDAY.sub("", expr), tz, now)


def _relative(expr: str) -> timedelta | None:
    sign = 1
    body = expr
    if body.startswith(("-", "+")):
        sign, body = (-1 if body[0] == "-" else 1), body[1:]
    elif body.lower().endswith(" ago"):
        sign, body = -1, body[:-4]
    elif body.lower().startswith("in "):
        body = body[3:]
    elif not body.lower().endswith("left"):
        # A bare span ("2h") is no moment: journalctl needs a sign, "ago" or "left" too.
        return None
    else:
        body = body[:-4]
    us = _span_us(body.strip())
    return None if us is None else timedelta(microseconds=sign * us)


def _span_us(body: str) -> int | None:
    if not body:
        return None
    pos, total = 0, 0.0
    while pos < len(body):
        m = _SPAN_PART.match(body, pos)
        if m is None:
            return None
        unit = m.group(2)
        factor = _US.get(unit) or _UNIT_CI.get(unit.lower())
        if factor is None:
            return None
        total += float(m.group(1)) * factor
        pos = m.end()
    return int(total)


def _absolute(expr: str, tz: tzinfo, now: datetime) -> datetime | None:
    m = _ABSOLUTE.fullmatch(expr)
    if m is None or not (m.group("date") or m.group("time")):
        return None
    zone = _zone(m.group("zone"), tz)
    if zone is None:
        return None
    try:
        day = date.fromisoformat(m.group("date")) if m.group("date") else now.astimezone(zone).date()
        clock = _clock(m.group("time")) if m.group("time") else time()
    except ValueError:
        return None
    return _wall(day, clock, zone)


def _clock(text: str) -> time:
    hms, _, frac = text.replace(",", ".").partition(".")
    parts = [int(p) for p in hms.split(":")]
    us = int((frac + "000000")[:6]) if frac else 0
    return time(parts[0], parts[1], parts[2] if len(parts) > 2 else 0, us)


def _zone(text: str | None, default: tzinfo) -> tzinfo | None:
    if not text:
        return default
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    if text[0] in "+-":
        digits = text[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _wall(day: date, clock: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, clock).replace(tzinfo=tz)


def local_zone() -> tzinfo:
    """The machine's own zone (journalctl's default for times without one)."""
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC
