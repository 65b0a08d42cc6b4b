"""Time expressions as journalctl takes them: every form, the zone rules, and the usage errors."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from logsleuth.errors import LogsleuthError
from logsleuth.read.timeexpr import parse_time

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 3, 10, 14, 30, 15, 250000, tzinfo=UTC)  # 15:30:15 in Berlin (CET, +01:00)


def at(*args: int, tz: object = UTC) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)  # type: ignore[arg-type, misc]


@pytest.mark.parametrize("text, tz, want", [
    ("now", UTC, NOW),
    ("today", UTC, at(2024, 3, 10)),
    ("today", BERLIN, at(2024, 3, 10, tz=BERLIN)),
    ("yesterday", BERLIN, at(2024, 3, 9, tz=BERLIN)),
    ("tomorrow", UTC, at(2024, 3, 11)),
    ("2024-03-10 14:00", UTC, at(2024, 3, 10, 14)),
    ("2024-03-10 14:00", BERLIN, at(2024, 3, 10, 13)),
    ("2024-03-10 14:00:05", UTC, at(2024, 3, 10, 14, 0, 5)),
    ("2024-03-10 14:00:05.5", UTC, at(2024, 3, 10, 14, 0, 5, 500000)),
    ("2024-03-10", BERLIN, at(2024, 3, 9, 23)),
    ("2024-03-10 14:00 UTC", BERLIN, at(2024, 3, 10, 14)),
    ("2024-03-10 14:00 Europe/Berlin", UTC, at(2024, 3, 10, 13)),
    ("Sun 2024-03-10 14:00:00", UTC, at(2024, 3, 10, 14)),
    ("2024-03-10T14:00:00+01:00", UTC, at(2024, 3, 10, 13)),
    ("2024-03-10T14:00:00Z", BERLIN, at(2024, 3, 10, 14)),
    ("2024-03-10T14:00:00.123456-0400", UTC, at(2024, 3, 10, 18, 0, 0, 123456)),
    ("12:00", UTC, at(2024, 3, 10, 12)),
    ("08:15:30", BERLIN, at(2024, 3, 10, 7, 15, 30)),
    ("@1710079200", BERLIN, at(2024, 3, 10, 14)),
    ("-2h", UTC, NOW - timedelta(hours=2)),
    ("+10min", UTC, NOW + timedelta(minutes=10)),
    ("2 hours ago", UTC, NOW - timedelta(hours=2)),
    ("1h 30min ago", UTC, NOW - timedelta(hours=1, minutes=30)),
    ("3 days ago", BERLIN, NOW - timedelta(days=3)),
    ("-1w", UTC, NOW - timedelta(weeks=1)),
    ("-90s", UTC, NOW - timedelta(seconds=90)),
    ("-500ms", UTC, NOW - timedelta(milliseconds=500)),
    ("in 5min", UTC, NOW + timedelta(minutes=5)),
    ("-1M", UTC, NOW - timedelta(seconds=2_629_800)),  # systemd: USEC_PER_MONTH
    ("  2  hours   ago ", UTC, NOW - timedelta(hours=2)),
])
def test_every_form(text: str, tz: object, want: datetime) -> None:
    got = parse_time(text, tz, now=NOW)  # type: ignore[arg-type]
    assert got == want
    assert got.tzinfo == UTC


@pytest.mark.parametrize("text", ["", "2 hours", "soon", "2024-13-01", "2024-02-30", "25:00", "-2 fortnights",
                                  "2024-03-10 14:00 Mars/Olympus", "@x", "yesterday 12:00 ago"])
def test_unparseable_names_the_forms(text: str) -> None:
    with pytest.raises(LogsleuthError) as err:
        parse_time(text, UTC, now=NOW)
    assert "accepted forms" in str(err.value) and "2 hours ago" in str(err.value)
    assert repr(text) in str(err.value)
