"""Secret masking for reports (render stage): tokens, auth headers and URL passwords never leave logsleuth.

Redaction runs on the whole Report before any template sees it, so a custom template cannot
leak a secret either. Every pattern keeps the part that says *what* was there (the token
prefix, the header name, the URL user) and replaces only the secret with `[REDACTED]`.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from logsleuth.model import Evidence, Finding, Report

MASK = "[REDACTED]"

# GitLab token prefixes (doc/security/tokens: "Token prefixes"): runner authentication (glrt-),
# personal/project/group access (glpat-), CI job token (glcbt-), deploy (gldt-), trigger (glptt-),
# feed (glft-), incoming mail (glimt-), agent (glagent-), SCIM/OAuth (glsoat-, gloas-),
# feature flags client (glffct-), workspace (glwt-). Newer "routable" tokens add dots and
# underscores to the body (e.g. `glrt-t1_…`, `glpat-….01.…`), hence the character class.
_PREFIXED = re.compile(
    r"\b(gl(?:rt|pat|cbt|dt|ptt|ft|imt|agent|soat|oas|ffct|wt)-)(?P<secret>[0-9A-Za-z_.\-]{8,})"
)
# Runner registration tokens since GitLab 13.x start with GR1348941 (the "runners token prefix").
_REGISTRATION = re.compile(r"\b(GR1348941)(?P<secret>[0-9A-Za-z_\-]{8,})")
# HTTP auth headers as logged by curl -v, the runner's debug output, or a JSON dump of headers.
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token|negotiate|digest)\s+)?"
    r"(?!(?:bearer|basic|token|negotiate|digest)\b)(?P<secret>[^\s\"',;]+)"
)
_TOKEN_HEADER = re.compile(r"(?i)\b((?:private|job|deploy)-token[\"']?\s*[:=]\s*[\"']?)(?P<secret>[^\s\"',;]+)")
# `user:password@` inside any URL, and git's `gitlab-ci-token:<job token>@host` without a scheme.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@\"']*:)(?P<secret>[^@\s/\"']+)@")
_CI_TOKEN_USER = re.compile(r"\b(gitlab-ci-token:)(?P<secret>[^@\s/\"']+)@")
# A legacy (pre-glrt, 20-character) runner or registration token is only recognisable by the
# name in front of it: `--token X`, `--registration-token=X`, `token = "X"` in config.toml,
# `registration_token: X`, `?private_token=X`. Values shorter than 12 characters are kept on
# purpose: the runner logs its 8-9 character *short token* as an identifier (`runner=abcd1234`,
# `token=abcd1234`), which is what operators grep for and which grants nothing.
# Only a `--flag` may take its value after a space: in prose, "access token authentication"
# is not a secret.
_NAMED_TOKEN = re.compile(
    r"(?i)(?<![0-9A-Za-z_-])("
    r"--(?:[a-z]+-)*token(?:=|[ \t]+)[\"']?"
    r"|(?:[a-z]+[_-])*token[\"']?[ \t]*[:=][ \t]*[\"']?"
    r")(?P<secret>[0-9A-Za-z_\-]{12,})"
)

# Order matters only for overlaps: a URL password that is itself a glcbt- token is masked once.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    _URL_PASSWORD, _CI_TOKEN_USER, _AUTH_HEADER, _TOKEN_HEADER, _PREFIXED, _REGISTRATION, _NAMED_TOKEN,
)
# A capture such as `(?P<token>\S+)` holds the bare secret without the context that gives it
# away; secrets found anywhere in the report are therefore masked everywhere. Shorter values
# are too likely to be ordinary words ("docker", "admin") to be replaced blindly.
_MIN_CROSS_MASK = 8
# Captured variables whose name says what they hold.
_SECRET_NAME = re.compile(r"(?i)pass(?:word|wd)?|secret|credential|auth")
_TOKEN_NAME = re.compile(r"(?i)token|api[_-]?key")
# Cheap literal gate: most evidence lines hold none of these, and then no regex runs at all.
_HINTS = ("://", "gitlab-ci-token", "uthorization", "UTHORIZATION", "oken", "OKEN", "gl", "GR1348941")


def _mask(match: re.Match[str]) -> str:
    start, end = match.span("secret")
    whole = match.group(0)
    return whole[: start - match.start()] + MASK + whole[end - match.start():]


def redact_text(text: str) -> str:
    """The text with every known secret shape replaced by `[REDACTED]`."""
    if not any(h in text for h in _HINTS):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def find_secrets(text: str) -> set[str]:
    """The secret values (without their prefix or name) that redact_text would mask in text."""
    if not any(h in text for h in _HINTS):
        return set()
    found: set[str] = set()
    for pattern in _PATTERNS:
        found.update(m.group("secret") for m in pattern.finditer(text))
    found.discard(MASK)
    return found


class _Redactor:
    """Masks the known shapes, then every secret value seen anywhere in the same report."""

    def __init__(self, secrets: set[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted((s for s in secrets if len(s) >= _MIN_CROSS_MASK), key=len, reverse=True)

    def text(self, text: str) -> str:
        text = redact_text(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def variable(self, name: str, value: str) -> str:
        # The name is the only context a bare captured value has; short token-named values
        # stay, like the runner's short token in redact_text.
        masked = self.text(value)
        if masked == value and value and (_SECRET_NAME.search(name) or (_TOKEN_NAME.search(name) and len(value) >= 12)):
            return MASK
        return masked

    def evidence(self, ev: Evidence) -> Evidence:
        return dataclasses.replace(
            ev, path=self.text(ev.path), text=self.text(ev.text), context=tuple(self.text(c) for c in ev.context)
        )

    def finding(self, f: Finding) -> Finding:
        return dataclasses.replace(
            f,
            message=self.text(f.message),
            variables={k: self.variable(k, v) for k, v in f.variables.items()},
            evidence=tuple(self.evidence(e) for e in f.evidence),
        )


def _report_strings(report: Report) -> Iterator[str]:
    yield from report.warnings
    yield from report.errors
    yield from (i.path for i in report.inputs)
    for e in report.unexplained.samples:
        yield e.path
        yield e.text
    for f in (*report.findings, *(fact for inc in report.incidents for fact in inc.facts)):
        yield f.message
        yield from f.variables.values()
        for e in f.evidence:
            yield e.path
            yield e.text
            yield from e.context


def redact_report(report: Report) -> Report:
    """A copy of the report with secrets masked in messages, captured variables, evidence and warnings."""
    secrets: set[str] = set()
    for text in _report_strings(report):
        secrets |= find_secrets(text)
    r = _Redactor(secrets)
    return dataclasses.replace(
        report,
        findings=tuple(r.finding(f) for f in report.findings),
        incidents=tuple(dataclasses.replace(i, facts=tuple(r.finding(f) for f in i.facts)) for i in report.incidents),
        unexplained=dataclasses.replace(report.unexplained,
                                        samples=tuple(r.evidence(e) for e in report.unexplained.samples)),
        inputs=tuple(dataclasses.replace(i, path=r.text(i.path)) for i in report.inputs),
        warnings=tuple(r.text(w) for w in report.warnings),
        errors=tuple(r.text(e) for e in report.errors),
    )
