"""The data that flows between stages: records, rules' matches, findings and the report."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Union

# A structured field value: journal fields may repeat (list) and JSON keeps numbers.
FieldValue = Union[str, int, float, bool, None, list[Any]]

_UTC = timezone.utc
SEVERITIES = ("info", "minor", "major", "critical", "blocker")
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency", "fatal", "panic")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from: `path` (or `<stdin>`, or `archive.tgz!member`), 1-based first line, line count."""

    path: str
    line: int
    span: int = 1


# Record is created once per parsed log entry on the hot path: it is slotted but not
# frozen, because a frozen dataclass's __init__ costs an object.__setattr__ per field.
@dataclass(slots=True)
class Record:
    """One normalized log entry."""

    message: str
    origin: Origin
    format: str
    raw: str = ""
    ts: datetime | None = None
    host: str | None = None
    ident: str | None = None
    unit: str | None = None
    pid: int | None = None
    level: str | None = None
    section: str | None = None
    fields: dict[str, FieldValue] = field(default_factory=dict)
    # The message's decoded variant for matching (read/escapes.py): None until first asked for,
    # "" when the message has none. Not part of the record's identity.
    decoded: str | None = field(default=None, compare=False, repr=False)

    def get(self, name: str) -> FieldValue:
        """A field by name: the normalized attributes first, then structured fields."""
        if name in _ATTRS:
            return getattr(self, name)  # type: ignore[no-any-return]
        return self.fields.get(name)


_ATTRS = frozenset({"message", "host", "ident", "unit", "pid", "level", "section", "format", "raw", "ts"})
# Names a rule may use without them being structured fields.
RECORD_FIELDS = frozenset(_ATTRS | {"path", "line"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """One matched log entry, as shown in a report: where it is and what it said."""

    path: str
    line: int
    text: str
    ts: datetime | None = None
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a report needs to know about a rule (the compiled matcher stays in the engine)."""

    id: str
    title: str
    severity: str
    category: str
    tags: tuple[str, ...] = ()
    diagnosis: str = ""
    fix: str = ""
    why: str = ""
    references: tuple[str, ...] = ()
    retryable: bool = False
    generic: bool = False
    # A generic rule that reports an outcome (the job or the service failed) rather than a cause:
    # it gives way only to a specific rule of its own category, so "Job failed: <pull denied>"
    # reports both that the job failed and the registry's refusal.
    outcome: bool = False
    source: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict over the matched events that share a fingerprint."""

    rule: RuleInfo
    message: str
    fingerprint: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    variables: dict[str, str]
    evidence: tuple[Evidence, ...]

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def category(self) -> str:
        return self.rule.category

    @property
    def title(self) -> str:
        return self.rule.title


STATUSES = ("ongoing", "unknown", "recovered")


@dataclass(frozen=True, slots=True)
class Incident:
    """One failure as an operator sees it: a root finding and the facts that belong to it.

    `facts` holds the root first, then the supporting findings by first occurrence; each fact
    counts only this incident's matches. `status` is `ongoing` (a rule says what recovery looks
    like and none was seen after the failure), `recovered` (it was, at `recovered_at`), or
    `unknown` (no rule of the incident says).
    """

    facts: tuple[Finding, ...]
    fingerprint: str
    status: str = "unknown"
    recovered_at: datetime | None = None

    @property
    def root(self) -> Finding:
        return self.facts[0]

    @property
    def severity(self) -> str:
        return max((f.severity for f in self.facts), key=SEVERITIES.index)

    @property
    def first_seen(self) -> datetime | None:
        times = [f.first_seen for f in self.facts if f.first_seen is not None]
        return min(times) if times else None

    @property
    def last_seen(self) -> datetime | None:
        times = [f.last_seen for f in self.facts if f.last_seen is not None]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class ErrorTemplate:
    """Error lines no rule recognised that share one shape (findings/templates.py): `<*>` and `<NUM>`-style holes.

    """

    id: str
    template: str
    count: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    hosts: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    examples: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Unexplained:
    """Error lines no rule recognised: how many, the first few (path, line, text), and their templates.

    `dropped` counts the lines whose template was evicted when the miner's cap was reached.
    """

    count: int = 0
    samples: tuple[Evidence, ...] = ()
    templates: tuple[ErrorTemplate, ...] = ()
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class InputSummary:
    """One input that was read: its name, the detected format and why, and how much of it."""

    path: str
    format: str
    reason: str
    lines: int = 0
    bytes: int = 0
    events: int = -1  # entries read, when known; -1: not counted (the prefilter skipped parsing)
    markers_only: bool = False  # nothing but journalctl's `-- No entries --`-style lines


@dataclass(frozen=True, slots=True)
class Spread:
    """Rule matches counted over the whole scan for the cross-file summary (report/summary.py).

    `by_host` holds `(host, category, count)`, `by_hour` `(YYYY-MM-DDTHH in UTC, category, count)`;
    `untimed` counts the matches whose entry had no time, which no timeline can place.
    """

    by_host: tuple[tuple[str, str, int], ...] = ()
    by_hour: tuple[tuple[str, str, int], ...] = ()
    untimed: int = 0


@dataclass(frozen=True, slots=True)
class InputProblem:
    """One input that could not be read in full: where, what went wrong, and whether what came before was kept."""

    path: str
    message: str
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a renderer needs: findings sorted most severe first, the rules that ran, inputs, problems."""

    findings: tuple[Finding, ...]
    rules: tuple[RuleInfo, ...]
    inputs: tuple[InputSummary, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    truncated_lines: int = 0
    version: str = ""
    generated_at: datetime | None = None
    incidents: tuple[Incident, ...] = ()
    unexplained: Unexplained = Unexplained()
    # With `scan --baseline`: the fingerprints and template ids the baseline knows (findings/baseline.py).
    known: frozenset[str] | None = None
    spread: Spread = Spread()  # matches by host and by hour across every input (report/summary.py)
    problems: tuple[InputProblem, ...] = ()  # the inputs with problems, also in errors/warnings

    @property
    def empty(self) -> bool:
        """Nothing was there to check: no input read, or every input empty or journal markers only."""
        return not self.findings and all(i.lines == 0 or i.markers_only for i in self.inputs)

    def counts_by_severity(self) -> dict[str, int]:
        counts = {s: 0 for s in reversed(SEVERITIES)}
        for f in self.findings:
            counts[f.severity] += 1
        return counts

    def counts_by_category(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.category] = counts.get(f.category, 0) + 1
        return dict(sorted(counts.items()))


def record_dict(record: Record) -> dict[str, Any]:
    """The stable NDJSON shape of a record printed by `logsleuth parse`."""
    ts = record.ts
    return {
        "ts": ts.astimezone(_UTC).isoformat().replace("+00:00", "Z") if ts else None,
        "host": record.host,
        "ident": record.ident,
        "unit": record.unit,
        "pid": record.pid,
        "level": record.level,
        "message": record.message,
        "format": record.format,
        "section": record.section,
        "fields": record.fields,
        "origin": {"path": record.origin.path, "line": record.origin.line},
    }
