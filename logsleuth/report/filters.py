"""Report rendering (last stage): the Jinja filters and globals that escape values for each output format.

Autoescape is off in every environment, so each template escapes exactly what its format needs
through these: |tojson (Jinja's, made faster here), |xml_text, |xml_attr, |term, |md_text, |md_cell, |html.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Callable, cast

import jinja2
import markupsafe

_UTC = timezone.utc
_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35",
         "cyan": "36"}
_SEVERITY_STYLE = {"blocker": "red bold", "critical": "red bold", "major": "red", "minor": "yellow", "info": "cyan"}
# XML 1.0 forbids most C0 controls even as character references; logs do contain them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TERM_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x9b]")
# CommonMark's markup characters, plus those GitLab's reference filters act on in plain text:
# `$` (inline math), `@` (mentions, `@all` notifies a project), `:` (emoji), `%` (milestones),
# `#`/`!`/`~`/`&` (issues, MRs, labels, epics). GitLab wraps a backslash-escaped character in
# <span data-escaped-char>, which its reference filters skip (Banzai::Filter::EscapedCharFilter).
# `@`, `:` and `%` only where a filter could take them (`@name`, `:name:`, `%name`/`%"a b"`),
# so that `host:443` stays readable in the note's source.
_MD_SPECIAL = re.compile(r"""[\\`*_\[\]<>|~&#!$]|@(?=[\w.-])|:(?=[\w+-]+:)|%(?=[\w"])""")


def iso_utc(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`; naive timestamps are taken as UTC so output never depends on the host's zone."""
    if ts is None:
        return None
    aware = ts.replace(tzinfo=_UTC) if ts.tzinfo is None else ts.astimezone(_UTC)
    return aware.isoformat().replace("+00:00", "Z")


@jinja2.pass_context
def style(ctx: jinja2.runtime.Context, text: object, names: str) -> str:
    """`style(text, "red bold")` wraps text in ANSI codes when colour is on; `names` may be a severity."""
    value = str(text)
    if not ctx.get("color"):
        return value
    codes = ";".join(_ANSI[n] for n in _SEVERITY_STYLE.get(names, names).split() if n in _ANSI)
    return f"\x1b[{codes}m{value}\x1b[0m" if codes else value


def _xml_text(value: object) -> str:
    return _XML_INVALID.sub("\ufffd", str(markupsafe.escape(str(value))))


def _xml_attr(value: object) -> str:
    # Newlines and tabs in attributes are normalized to spaces by XML parsers unless encoded.
    text = _xml_text(value)
    return text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _term(value: object) -> str:
    # A log line must not be able to move the cursor or retitle the terminal it is printed on.
    return _TERM_UNSAFE.sub("?", str(value))


def md_escape(value: str) -> str:
    """Every character GFM or a GitLab reference filter could read as markup, backslash-escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _md_text(value: object) -> str:
    """Inline Markdown text (log-derived): escaped with md_escape, one line."""
    return md_escape(str(value)).replace("\r", "").replace("\n", "<br>")


def _md_cell(value: object) -> str:
    """A table cell of rule-authored Markdown (title, id, category): only what breaks the table is escaped.

    GFM splits cells on `|` even inside code spans, and `\\|` is the escape it honours there.
    """
    return str(value).replace("|", "\\|").replace("\r", "").replace("\n", " ")


def _html(value: object) -> str:
    # Inside <details>/<summary> GitLab treats the line as an HTML block: no Markdown escapes.
    return str(markupsafe.escape(str(value))).replace("\n", " ")


_JSON_UNSAFE = ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")
_encode_str: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring_ascii", None) or json.encoder.encode_basestring_ascii


def _tojson(value: object, indent: int | None = None) -> markupsafe.Markup:
    """Jinja's |tojson, byte for byte (json.dumps with sorted keys, `<>&'` as \\u escapes so the
    result is safe in HTML too), without its per-call cost for the plain strings and numbers a
    report's templates pass it thousands of times (a fifth of rendering a 160-incident JSON report)."""
    kind = type(value)  # exact types: a str or int subclass may dump otherwise, and bool is an int
    if kind is str and indent is None:
        text = _encode_str(cast(str, value))
    elif value is None or kind is bool:
        text = "null" if value is None else "true" if value else "false"
    elif kind is int:
        text = int.__repr__(cast(int, value))
    else:
        text = json.dumps(value, sort_keys=True, indent=indent)
    for unsafe, escape in _JSON_UNSAFE:
        if unsafe in text:
            text = text.replace(unsafe, escape)
    return markupsafe.Markup(text)


def _indent_lines(value: object, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in str(value).splitlines())


# Filters take whatever a template passes them (jinja2 is untyped there), hence `...`.
FILTERS: dict[str, Callable[..., object]] = {
    "tojson": _tojson,
    "xml_text": _xml_text,
    "xml_attr": _xml_attr,
    "term": _term,
    "md_text": _md_text,
    "md_cell": _md_cell,
    "html": _html,
    "indent_lines": _indent_lines,
    "iso": iso_utc,
}
