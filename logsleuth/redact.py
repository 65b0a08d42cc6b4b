"""Secret masking for reports (render stage): tokens, auth headers and URL passwords never leave logsleuth.

Redaction runs on the whole Report before any template sees it, so a custom template cannot
leak a secret either. Every pattern keeps the part that says *what* was there (the token
prefix, the header name, the URL user) and replaces only the secret with `[REDACTED]`.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from logsleuth.model import Evidence, Finding, Report

MASK = "[REDACTED]"

# GitLab token prefixes (doc/security/tokens: "Token prefixes"): runner authentication (glrt-),
# personal/project/group access (glpat-), CI job token (glcbt-), deploy (gldt-), trigger (glptt-),
# feed (glft-), incoming mail (glimt-), agent (glagent-), SCIM/OAuth (glsoat-, gloas-),
# feature flags client (glffct-), workspace (glwt-). Newer "routable" tokens add dots and
# underscores to the body (e.g. `glrt-t1_…`, `glpat-….01.…`), hence the character class.
_PREFIXED = re.compile(
    r"\b(gl(?:rt|pat|cbt|dt|ptt|ft|imt|agent|soat|oas|ffct|wt)-)[0-9A-Za-z_.\-]{8,}"
)
# Runner registration tokens since GitLab 13.x start with GR1348941 (the "runners token prefix").
_REGISTRATION = re.compile(r"\b(GR1348941)[0-9A-Za-z_\-]{8,}")
# HTTP auth headers as logged by curl -v, the runner's debug output, or a JSON dump of headers.
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic|token|negotiate|digest)\s+)?([^\s\"',;]+)"
)
_TOKEN_HEADER = re.compile(r"(?i)\b((?:private|job|deploy)-token[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]+)")
# `user:password@` inside any URL, and git's `gitlab-ci-token:<job token>@host` without a scheme.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@\"']*:)([^@\s/\"']+)(@)")
_CI_TOKEN_USER = re.compile(r"\b(gitlab-ci-token:)([^@\s/\"']+)(@)")
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
    r")([0-9A-Za-z_\-]{12,})"
)

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
_RULES: tuple[_Rule, ...] = (
    (_URL_PASSWORD, lambda m: f"{m[1]}{MASK}{m[3]}"),
    (_CI_TOKEN_USER, lambda m: f"{m[1]}{MASK}{m[3]}"),
    (_AUTH_HEADER, lambda m: f"{m[1]}{m[2] + ' ' if m[2] else ''}{MASK}"),
    (_TOKEN_HEADER, lambda m: f"{m[1]}{MASK}"),
    (_PREFIXED, lambda m: f"{m[1]}{MASK}"),
    (_REGISTRATION, lambda m: f"{m[1]}{MASK}"),
    (_NAMED_TOKEN, lambda m: f"{m[1]}{MASK}"),
)
# Cheap literal gate: most evidence lines hold none of these, and then no regex runs at all.
_HINTS = ("://", "gitlab-ci-token", "uthorization", "UTHORIZATION", "oken", "OKEN", "gl", "GR1348941")


def redact_text(text: str) -> str:
    """The text with every known secret shape replaced by `[REDACTED]`."""
    if not any(h in text for h in _HINTS):
        return text
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text


def _redact_evidence(ev: Evidence) -> Evidence:
    return dataclasses.replace(
        ev,
        path=redact_text(ev.path),
        text=redact_text(ev.text),
        context=tuple(redact_text(c) for c in ev.context),
    )


def _redact_finding(f: Finding) -> Finding:
    return dataclasses.replace(
        f,
        message=redact_text(f.message),
        variables={k: redact_text(v) for k, v in f.variables.items()},
        evidence=tuple(_redact_evidence(e) for e in f.evidence),
    )


def redact_report(report: Report) -> Report:
    """A copy of the report with secrets masked in messages, captured variables, evidence and warnings."""
    return dataclasses.replace(
        report,
        findings=tuple(_redact_finding(f) for f in report.findings),
        inputs=tuple(dataclasses.replace(i, path=redact_text(i.path)) for i in report.inputs),
        warnings=tuple(redact_text(w) for w in report.warnings),
        errors=tuple(redact_text(e) for e in report.errors),
    )
