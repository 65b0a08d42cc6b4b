"""Report stage: the cross-file summary, i.e. rule matches by category, by host and over time.

`Tally` counts each match once as the scan goes (the pipeline feeds it after de-duplication) and
freezes into the report's `Spread`; tallies of separate workers merge by addition, in any order,
into the same result. `summarize` turns a Spread into what templates show: per-category and
per-host tables, a per-day timeline with text bars, and per-hour buckets for the HTML chart.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from logsleuth.findings.correlate import Match
from logsleuth.model import InputProblem, Report, Spread

NO_HOST = "(no host)"  # matches of entries that name no host (a job trace, a plain file without one)
BAR_WIDTH = 40  # the longest text histogram bar, in characters
MAX_DAYS = 400  # a timeline longer than this is folded into weeks, so a decade stays readable
_UTC = timezone.utc


class Tally:
    """Counts of matches by (host, category) and (hour, category); merge() adds another Tally."""

    def __init__(self) -> None:
        self.by_host: Counter[tuple[str, str]] = Counter()
        self.by_hour: Counter[tuple[str, str]] = Counter()
        self.untimed = 0

    def add(self, match: Match) -> None:
        record = match.hit.record
        category = match.rule.info.category
        self.by_host[(record.host or NO_HOST, category)] += 1
        if record.ts is None:
            self.untimed += 1
        else:
            self.by_hour[(record.ts.astimezone(_UTC).strftime("%Y-%m-%dT%H"), category)] += 1

    def merge(self, other: Tally) -> None:
        self.by_host.update(other.by_host)
        self.by_hour.update(other.by_hour)
        self.untimed += other.untimed

    def spread(self) -> Spread:
        """The counts, sorted, so the same matches give the same Spread whatever the order of adding."""
        return Spread(by_host=tuple((h, c, n) for (h, c), n in sorted(self.by_host.items())),
                      by_hour=tuple((t, c, n) for (t, c), n in sorted(self.by_hour.items())),
                      untimed=self.untimed)


@dataclass(frozen=True)
class Row:
    """One line of a summary table: a label (category, host, day or hour), its total and counts per category."""

    label: str
    total: int
    by_category: dict[str, int]
    bar: str = ""  # the text histogram bar, scaled to the biggest row of its table


@dataclass(frozen=True)
class Bar:
    """One category's part of one bucket of the chart, in SVG user units; `title` is its tooltip."""

    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Chart:
    """The timeline as stacked bars per hour (a short scan) or per day/week, with its legend."""

    width: int
    height: int
    step: str
    bars: tuple[Bar, ...]
    legend: tuple[tuple[str, str], ...]  # (category, colour)
    top: int  # the biggest bucket: the y axis' end
    first: str
    last: str


@dataclass(frozen=True)
class Summary:
    """What every report format shows across files."""

    categories: tuple[str, ...]
    by_category: tuple[Row, ...]
    by_host: tuple[Row, ...]
    by_day: tuple[Row, ...]  # every day from the first to the last, empty ones included
    by_hour: tuple[Row, ...]  # only the hours with matches
    untimed: int
    total: int
    step: str  # "day", or "week" when the timeline is folded (longer than MAX_DAYS)
    problems: tuple[InputProblem, ...]
    chart: Chart | None = None  # the HTML report's timeline, None without timed matches


def _bars(rows: list[Row]) -> tuple[Row, ...]:
    top = max((r.total for r in rows), default=0)
    out = []
    for r in rows:
        width = 0 if not r.total else max(1, round(r.total * BAR_WIDTH / top))
        out.append(Row(r.label, r.total, r.by_category, "#" * width))
    return tuple(out)


def _grouped(items: tuple[tuple[str, str, int], ...]) -> dict[str, dict[str, int]]:
    groups: dict[str, dict[str, int]] = {}
    for label, category, n in items:
        cats = groups.setdefault(label, {})
        cats[category] = cats.get(category, 0) + n
    return groups


def _rows(groups: dict[str, dict[str, int]]) -> list[Row]:
    return [Row(label, sum(cats.values()), dict(sorted(cats.items()))) for label, cats in groups.items()]


def _days(spread: Spread) -> tuple[list[Row], str]:
    days = _grouped(tuple((hour[:10], cat, n) for hour, cat, n in spread.by_hour))
    if not days:
        return [], "day"
    first = datetime.strptime(min(days), "%Y-%m-%d")
    last = datetime.strptime(max(days), "%Y-%m-%d")
    step, width = ("day", 1) if (last - first).days < MAX_DAYS else ("week", 7)
    rows = []
    day = first
    while day <= last:  # empty days too: a gap in the timeline is information
        cats: dict[str, int] = {}
        for k in range(width):
            for cat, n in days.get((day + timedelta(days=k)).strftime("%Y-%m-%d"), {}).items():
                cats[cat] = cats.get(cat, 0) + n
        rows.append(Row(day.strftime("%Y-%m-%d"), sum(cats.values()), dict(sorted(cats.items()))))
        day += timedelta(days=width)
    return rows, step


def summarize(report: Report) -> Summary:
    """The cross-file summary of `report`: categories by matches, hosts by matches, the timeline."""
    spread = report.spread
    by_category = _rows(_grouped(tuple((cat, cat, n) for _, cat, n in spread.by_host)))
    by_category.sort(key=lambda r: (-r.total, r.label))
    by_host = _rows(_grouped(spread.by_host))
    by_host.sort(key=lambda r: (-r.total, r.label))
    days, step = _days(spread)
    hours = _rows(_grouped(spread.by_hour))
    return Summary(
        categories=tuple(sorted(r.label for r in by_category)), by_category=_bars(by_category),
        by_host=_bars(by_host), by_day=_bars(days), by_hour=tuple(hours), untimed=spread.untimed,
        total=sum(r.total for r in by_category), step=step, problems=report.problems,
        chart=chart(spread, days, step),
    )


# --- the HTML chart ------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 960, 220
_PLOT_TOP, _PLOT_BOTTOM, _PLOT_LEFT = 10, 30, 40
MAX_HOURS = 96  # up to four days the chart shows hours; longer, the day/week timeline
# Colour-blind-safe (Okabe-Ito), then repeating: categories beyond eight share colours, the tooltip tells.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def _hour_rows(spread: Spread) -> list[Row]:
    hours = _grouped(spread.by_hour)
    first = datetime.strptime(min(hours), "%Y-%m-%dT%H")
    last = datetime.strptime(max(hours), "%Y-%m-%dT%H")
    rows, hour = [], first
    while hour <= last:
        cats = hours.get(hour.strftime("%Y-%m-%dT%H"), {})
        rows.append(Row(hour.strftime("%Y-%m-%dT%H:00"), sum(cats.values()), dict(sorted(cats.items()))))
        hour += timedelta(hours=1)
    return rows


def chart(spread: Spread, days: list[Row], step: str) -> Chart | None:
    """Stacked bars per bucket, categories in a fixed order and colour, scaled to the biggest bucket."""
    if not spread.by_hour:
        return None
    hourly = step == "day" and len(days) * 24 <= MAX_HOURS
    rows = _hour_rows(spread) if hourly else days
    step = "hour" if hourly else step
    categories = sorted({c for _, c, _ in spread.by_hour})
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}
    top = max(r.total for r in rows)
    plot_w, plot_h = CHART_WIDTH - _PLOT_LEFT, CHART_HEIGHT - _PLOT_TOP - _PLOT_BOTTOM
    width = plot_w / len(rows)
    bars = []
    for i, row in enumerate(rows):
        y = float(_PLOT_TOP + plot_h)
        for cat in categories:
            n = row.by_category.get(cat, 0)
            if not n:
                continue
            h = n * plot_h / top
            y -= h
            bars.append(Bar(round(_PLOT_LEFT + i * width, 2), round(y, 2), round(max(width - 1, 0.5), 2), round(h, 2),
                            colors[cat], f"{row.label} {cat}: {n}"))
    return Chart(CHART_WIDTH, CHART_HEIGHT, step, tuple(bars), tuple(colors.items()), top,
                 rows[0].label, rows[-1].label)
