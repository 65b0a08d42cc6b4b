"""Secret masking (render stage): the one redaction pass every path out of logsleuth goes through.

Reports, `--live` alerts, `parse` output, the merge-request note, error messages and the rule
commands' output all use a `Redactor`: it masks every shape in `logsleuth.report.shapes` (also when ANSI
escapes split it or percent-encoding hides it), PEM private-key blocks across lines, and every
secret value it has already seen, so a bare capture (`{token}`) of a value named elsewhere goes
too. Redaction runs on the whole Report before any template sees it, so a custom template cannot
leak a secret either.

What stays, for diagnosis: the part that says *what* leaked (a token's family prefix such as
`glrt-`, the header, variable or flag name, the URL user) and the runner's short token
(`runner=abcd1234`: 8-9 characters, or `GR1348941` and 8 more), which the runner itself logs as
the identifier that tells tokens apart. Nothing of a secret's own characters stays (no `glrt-…abcd`):
the short token already tells runners apart, and any suffix kept only shortens what is left to guess.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from logsleuth.model import ErrorTemplate, Evidence, Finding, Report
from logsleuth.report.shapes import ANSI, PEM_BEGIN, PEM_END, PERCENT, SHAPES, Shape, hints_in

MASK = "[REDACTED]"
# Secrets found anywhere are masked everywhere, but shorter values are too likely to be ordinary
# words ("docker", "admin") to be replaced blindly outside the line they were found in.
_MIN_CROSS_MASK = 8
# A PEM block that never ends (a truncated log) stops masking after this many lines; an 8192-bit
# RSA key is about 100.
_PEM_MAX_LINES = 200
_CACHED_LEN, _CACHE_SIZE = 256, 4096
_CACHED_LINE, _LINES_CACHED = 4096, 65536
# Captured variables whose name says what they hold.
_SECRET_NAME = re.compile(r"(?i)pass(?:word|wd)?|secret|credential|auth|jwt|private[_-]?key")
_TOKEN_NAME = re.compile(r"(?i)token|api[_-]?key")
_LAST_WORD = re.compile(r"(.*\s)?(\S+)\s*$", re.DOTALL)


@lru_cache(maxsize=256)
def _shapes_for(present: frozenset[str]) -> tuple[Shape, ...]:
    """The shapes a line holding these hints may hold, in SHAPES order (most lines hold no hint:
    then only the shapes without hints are left to look at)."""
    return tuple(shape for shape in SHAPES if not shape.hints or not shape.hints.isdisjoint(present))


def _mask_shapes(text: str, found: set[str]) -> str:
    lower = text.lower()
    for shape in _shapes_for(hints_in(lower)):
        if shape.hints:
            if shape.also and shape.also not in lower:
                continue
        elif shape.gate is not None and not shape.gate(text):
            continue

        def mask(m: re.Match[str], accept: Callable[[str], bool] | None = shape.accept) -> str:
            start, end = m.span("secret")
            whole, secret = m.group(0), m.group("secret")
            if accept is not None and not accept(secret):
                return whole
            if secret != MASK:
                found.add(secret)
            return whole[: start - m.start()] + MASK + whole[end - m.start():]

        text = shape.pattern.sub(mask, text)
    return text


def _encoded(secret: str) -> re.Pattern[str]:
    """The secret with any of its ASCII characters percent-encoded (`glpat-x` as `glpat%2Dx`)."""
    return re.compile("".join(f"(?:{re.escape(c)}|%{ord(c):02X})" if ord(c) < 128 else re.escape(c)
                              for c in secret), re.IGNORECASE)


def _mask_line(text: str, found: set[str]) -> str:
    """One line with every shape masked, also when ANSI escapes split a secret or %-encoding hides it."""
    out = _mask_shapes(text, found)
    if "\x1b" in text:
        masked = _mask_shapes(ANSI.sub("", text), found)
        if masked != ANSI.sub("", out):
            out = masked  # escapes split a secret: they go with it
    if "%" in out and PERCENT.search(out):
        decoded = out
        for _ in range(3):  # double encoding (`%252D`) is common in URLs inside URLs
            decoded = unquote(decoded)
        hidden: set[str] = set()
        _mask_shapes(decoded, hidden)
        for secret in sorted(hidden, key=len, reverse=True):
            out = _encoded(secret).sub(MASK, out)
        found |= hidden
    return out


class Redactor:
    """Masks every known shape and every secret value seen before; carries PEM state across lines."""

    def __init__(self, stream: bool = False) -> None:
        # stream: the evidence handed in is one log read in order (`--live` alerts), so a PEM
        # block begun in one alert's line goes on in the next ones.
        self._stream = stream
        self._known: set[str] = set()
        self._ordered: list[str] = []
        self._pem_lines = -1  # -1: outside a PEM block; else lines masked inside it so far
        # Standalone strings repeat (a record's host, unit, a report's path): their masked form,
        # until a new secret is learnt.
        self._cache: dict[str, str] = {}
        self._lines: dict[str, tuple[str, frozenset[str]]] = {}

    def fork(self) -> Redactor:
        """A redactor for another text that knows every secret this one has seen (not its PEM state)."""
        other = Redactor()
        other._learn(self._known)
        return other

    def _learn(self, found: set[str]) -> None:
        new = {s for s in found if len(s) >= _MIN_CROSS_MASK and MASK not in s} - self._known
        if new:
            self._known |= new
            # Longest first, so a secret that contains another is masked whole.
            self._ordered = sorted(self._known, key=len, reverse=True)
            self._cache.clear()

    def _physical(self, line: str, found: set[str]) -> str:
        if self._pem_lines >= 0:
            end = PEM_END.search(line)
            body = line[: end.start()] if end else line
            # The block's line is the last word, after any log prefix (`host app[1]: MIIE...`).
            last = _LAST_WORD.match(body)
            if last and last.group(2) != MASK:
                found.add(last.group(2))
                body = (last.group(1) or "") + MASK
            self._pem_lines = -1 if end or self._pem_lines >= _PEM_MAX_LINES else self._pem_lines + 1
            if not end:
                return body
            line = body + line[end.start():]
        begin = None
        for begin in PEM_BEGIN.finditer(line):
            pass
        if begin is not None and not PEM_END.search(line, begin.end()):
            self._pem_lines = 0
        return self._shapes(line, found)

    def _shapes(self, line: str, found: set[str]) -> str:
        # Evidence lines repeat (a finding, its incident, the same line in every format): the
        # shapes' verdict on a line never changes, so it is computed once per line.
        hit = self._lines.get(line)
        if hit is None:
            secrets: set[str] = set()
            hit = (_mask_line(line, secrets), frozenset(secrets))
            if len(line) <= _CACHED_LINE and len(self._lines) < _LINES_CACHED:
                self._lines[line] = hit
        found |= hit[1]
        return hit[0]

    def line(self, text: str) -> str:
        """One line of a sequence (a log, an evidence line and its context): a PEM block carries over."""
        found: set[str] = set()
        out = "\n".join(self._physical(part, found) for part in text.split("\n"))
        self._learn(found)
        for secret in self._ordered:
            if secret in out:
                out = out.replace(secret, MASK)
        return out

    def text(self, text: str) -> str:
        """A string that stands alone (a message, a path, a warning)."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        saved, self._pem_lines = self._pem_lines, -1
        try:
            out = self.line(text)
        finally:
            self._pem_lines = saved
        if len(text) <= _CACHED_LEN and len(self._cache) < _CACHE_SIZE:
            self._cache[text] = out
        return out

    def lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        """A sequence of lines read in order, a PEM block masked whole across them."""
        if self._stream:
            return tuple(self.line(t) for t in lines)
        saved, self._pem_lines = self._pem_lines, -1
        try:
            return tuple(self.line(t) for t in lines)
        finally:
            self._pem_lines = saved

    def variable(self, name: str, value: str) -> str:
        # The name is the only context a bare captured value has; short token-named values
        # stay, like the runner's short token.
        masked = self.text(value)
        if masked == value and value and (_SECRET_NAME.search(name) or (_TOKEN_NAME.search(name) and len(value) >= 12)):
            self._learn({value})
            return MASK
        return masked

    def evidence(self, ev: Evidence) -> Evidence:
        text, *context = self.lines((ev.text, *ev.context))
        return dataclasses.replace(ev, path=self.text(ev.path), text=text, context=tuple(context))

    def finding(self, f: Finding) -> Finding:
        evidence = tuple(self.evidence(e) for e in f.evidence)  # first: it gives bare values their context
        variables = {k: self.variable(k, v) for k, v in f.variables.items()}
        return dataclasses.replace(f, evidence=evidence, variables=variables, message=self.text(f.message))

    def template(self, t: ErrorTemplate) -> ErrorTemplate:
        # Examples first: they give a secret its context; the masked template rarely keeps one.
        examples = tuple(self.evidence(e) for e in t.examples)
        return dataclasses.replace(t, examples=examples, template=self.text(t.template),
                                   hosts=tuple(self.text(h) for h in t.hosts))

    def report(self, report: Report) -> Report:
        """A copy of the report with secrets masked in messages, variables, evidence, inputs and warnings."""
        return dataclasses.replace(
            report,
            findings=tuple(self.finding(f) for f in report.findings),
            incidents=tuple(dataclasses.replace(i, facts=tuple(self.finding(f) for f in i.facts))
                            for i in report.incidents),
            unexplained=dataclasses.replace(report.unexplained,
                                            samples=tuple(self.evidence(e) for e in report.unexplained.samples),
                                            templates=tuple(self.template(t) for t in report.unexplained.templates)),
            inputs=tuple(dataclasses.replace(i, path=self.text(i.path)) for i in report.inputs),
            warnings=tuple(self.text(w) for w in report.warnings),
            errors=tuple(self.text(e) for e in report.errors),
        )


def redact_text(text: str) -> str:
    """The text with every known secret shape replaced by `[REDACTED]` (one call, no state kept)."""
    return Redactor().text(text)


def find_secrets(text: str) -> set[str]:
    """The secret values (without their prefix or name) that redact_text would mask in text."""
    found: set[str] = set()
    for part in text.split("\n"):
        _mask_line(part, found)
    return found


def redact_record(record: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """A `logsleuth parse` record (model.record_dict) with its strings masked; the message is a line of its log."""
    out = dict(record)
    out["message"] = redactor.line(record["message"])
    for key in ("host", "ident", "unit", "section"):
        if isinstance(record.get(key), str):
            out[key] = redactor.text(record[key])
    out["fields"] = {k: _field(redactor, k, v) for k, v in record["fields"].items()}
    out["origin"] = {**record["origin"], "path": redactor.text(record["origin"]["path"])}
    return out


def _field(redactor: Redactor, name: str, value: Any) -> Any:
    if isinstance(value, str):
        return redactor.variable(name, value)
    if isinstance(value, list):
        return [_field(redactor, name, v) for v in value]
    return value


def redact_report(report: Report, redactor: Redactor | None = None) -> Report:
    """A copy of the report with every secret masked; a secret seen anywhere in it is masked everywhere.

    Pass the same `redactor` to reports rendered one after another (`--live` alerts) so a value
    masked in one stays masked in the next.
    """
    if redactor is None and _LAST and _LAST[0][0] is report:
        return _LAST[0][1]  # the same (immutable) report rendered in several formats
    r = redactor or Redactor()
    known = len(r._known)
    out = r.report(report)
    if not r._stream and len(r._known) > known:
        # A secret learnt late in the report is masked in what came before it too: a second pass.
        # Most reports hold none, and a pass that learnt nothing is already the final one.
        out = r.report(report)
    if redactor is None:
        _LAST[:] = [(report, out)]
    return out


_LAST: list[tuple[Report, Report]] = []

