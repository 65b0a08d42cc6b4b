"""Report rendering (last stage): one typed Report in, text for a terminal, an MR note or a CI tool out.

Every format is a Jinja template (`templates/<format>.<ext>.j2`). This module builds the Jinja
environments, loads templates and turns template faults into located LogsleuthErrors; the values
templates show come from logsleuth.views and the escaping filters from logsleuth.filters.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import signal
import threading
import types
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.exceptions
import jinja2.sandbox

from logsleuth import __version__
from logsleuth.errors import Location, LogsleuthError
from logsleuth.read.files import read_regular
from logsleuth.ruleset import cache
from logsleuth.report import filters
from logsleuth.report.filters import FILTERS, style
from logsleuth.model import Report
from logsleuth.report.options import RenderOptions
from logsleuth.report.redact import redact_report
from logsleuth.report.views import IncidentView, capped, check_codequality, context, incident_views

FORMATS: tuple[str, ...] = ("text", "markdown", "codequality", "json", "ndjson", "junit", "sarif", "html")
TEMPLATE_NAMES: dict[str, str] = {
    "text": "text.txt.j2",
    "markdown": "markdown.md.j2",
    "codequality": "codequality.json.j2",
    "json": "json.json.j2",
    "ndjson": "ndjson.ndjson.j2",
    "junit": "junit.xml.j2",
    "sarif": "sarif.json.j2",
    "html": "html.html.j2",
    "alert": "alert.txt.j2",  # one finding as `scan --live` prints it when first seen
}


def render(report: Report, fmt: str, *, options: RenderOptions) -> str:
    """The report in format `fmt`. Raises LogsleuthError for an unknown format or a broken template.

    With options.template set, `fmt` may be any name: the template file defines the format.
    """
    if fmt not in TEMPLATE_NAMES and options.template is None:
        raise LogsleuthError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    if options.redact:
        report = redact_report(report)
    template = _load_template(fmt, options)
    incidents = incident_views(report, options)
    if fmt == "markdown":
        return capped(partial(_run_views, template, report, options), incidents, options.max_chars)
    text = _run_views(template, report, options, incidents)
    if fmt == "codequality":
        check_codequality(text, template.filename or template.name or fmt)
    return text


def _run_views(
    template: jinja2.Template, report: Report, options: RenderOptions, incidents: tuple[IncidentView, ...],
    omitted: int = 0,
) -> str:
    return _run(template, context(report, incidents, options, omitted))


# --- templates -----------------------------------------------------------------------------


def _settings() -> dict[str, Any]:
    # Autoescape stays off (but for HTML): Markdown must not be HTML-escaped wholesale; each format escapes
    # exactly what it needs through the filters (|tojson and logsleuth.filters: |xml_text, |md_cell, ...).
    return {
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        # HTML is the exception: there log text is hostile markup, so *.html.j2 escapes everything.
        "autoescape": jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False,
                                               default=False),
    }


# Limits for user templates (--template, --template-dir): they are code from outside, and the
# sandbox stops them reaching Python, not from eating memory or time. The built-in reports stay
# far below these: a 5,000-finding JSON report is about 10 MB.
MAX_OUTPUT_CHARS = 64 << 20
MAX_RENDER_SECONDS = 30.0
MAX_TEMPLATE_BYTES = 4 << 20  # the largest bundled template is a few KB
MAX_VALUE_CHARS = 16 << 20  # one string or list a template builds with *, ** or +
_MAX_POWER_BITS = 1 << 16


class LimitedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """The sandbox, plus a size check on the operators that build big values from small ones:
    `'x' * 10**10` is refused before Python tries to allocate 10 GB."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_VALUE_CHARS:
                    raise jinja2.exceptions.SecurityError(f"a value of {len(seq) * times:,} items is over the limit "
                                                       f"of {MAX_VALUE_CHARS:,}")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and \
                    abs(left).bit_length() * right > _MAX_POWER_BITS:
                raise jinja2.exceptions.SecurityError(f"{left} ** {right} is over the limit of {_MAX_POWER_BITS:,} bits")
        elif isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) and \
                len(left) + len(right) > MAX_VALUE_CHARS:
            raise jinja2.exceptions.SecurityError(f"a value of {len(left) + len(right):,} items is over the limit "
                                               f"of {MAX_VALUE_CHARS:,}")
        return super().call_binop(context, operator, left, right)


class _TemplateCache(jinja2.BytecodeCache):
    """Compiled templates kept between runs in logsleuth's cache directory, as its verified
    entries (ruleset/cache.py: header, key, SHA-256, owner): compiling the text report's template
    is ~40 ms of every scan, loading its code ~1 ms. Jinja still compares each template's source
    checksum, so an edited template is compiled again."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return hashlib.sha256(f"{self.tag}|{name}|{filename}".encode()).hexdigest()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = cache.read_blob(f"template-{bucket.key[:20]}.jinja", bucket.key)
        if data is not None:
            try:
                bucket.bytecode_from_string(data)
            except (EOFError, ValueError, TypeError, pickle.UnpicklingError):
                bucket.reset()  # not the code this Jinja writes: compiled afresh

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        # keep: every built-in template (and a few of a --template-dir) stays warm.
        cache.write_blob(f"template-{bucket.key[:20]}.jinja", bucket.key, bucket.bytecode_to_string(), keep=48)


def _template_cache(cls: type[jinja2.Environment]) -> _TemplateCache | None:
    if cache.cache_dir() is None:  # --no-cache
        return None
    # What shapes the compiled code besides the template's source: the environment class (the
    # sandbox compiles operators differently), its settings (this file), the filters (Jinja
    # compiles into a call whether a filter takes the context) and the versions.
    here = hashlib.sha256(b"".join(Path(f).read_bytes() for f in (__file__, filters.__file__))).hexdigest()
    return _TemplateCache(f"{cls.__qualname__}|{__version__}|{jinja2.__version__}|{here}")


@lru_cache(maxsize=8)
def _environment(search_dir: str | None, sandboxed: bool) -> jinja2.Environment:
    # PackageLoader("logsleuth", "templates") fails for editable installs, where templates/
    # is mapped to the package logsleuth.templates (setup.cfg package_dir).
    package = jinja2.PackageLoader("logsleuth.templates", "")
    loader: jinja2.BaseLoader = package
    if search_dir is not None:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(search_dir), package])
    cls = LimitedSandbox if sandboxed else jinja2.Environment
    env = cls(loader=loader, bytecode_cache=_template_cache(cls), **_settings())
    env.filters.update(FILTERS)
    env.globals["style"] = style
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one built-in template by name (the rule catalogue uses this)."""
    return _run(_environment(None, False).get_template(name), context)


def _load_template(fmt: str, options: RenderOptions) -> jinja2.Template:
    if options.template is not None:
        # Jinja's loader calls a FIFO or a device "not found" and reads a huge file whole: checked
        # here first, one open of a regular file under a size cap, each refusal located.
        if os.path.lexists(options.template):  # an absent one is "template not found" below
            read_regular(options.template, MAX_TEMPLATE_BYTES, "template")
        directory, name = os.path.split(os.path.abspath(options.template))
        env = _environment(directory, True)
    else:
        name = TEMPLATE_NAMES[fmt]
        custom = options.template_dir
        env = _environment(os.path.abspath(custom) if custom else None, custom is not None)
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(exc, exc.filename or exc.name or name, exc.lineno) from None
    except jinja2.TemplateNotFound:
        raise LogsleuthError(f"template not found: {options.template or name}") from None
    except OSError as exc:
        raise LogsleuthError(f"cannot read template: {exc}", Location(options.template or name)) from None


class _OverBudget(BaseException):  # not Exception: no handler inside Jinja may swallow it
    """A user template ran past MAX_RENDER_SECONDS (raised from the SIGALRM handler)."""


def _run(template: jinja2.Template, context: dict[str, Any]) -> str:
    # Custom templates are user code: a type error or a bad index in one is the user's
    # mistake to fix, reported at its template line, not a logsleuth traceback.
    filename = template.filename or template.name or "<template>"
    try:
        if not isinstance(template.environment, LimitedSandbox):
            return template.render(context)
        return _run_limited(template, context, filename)
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise _template_error(exc, filename, _template_line(exc, filename)) from None
    except RecursionError as exc:
        # A macro calling itself, or templates that include each other: Python's stack is the cap.
        raise _template_error(exc, filename, _template_line(exc, filename), "template recursion too deep") from None
    except _OverBudget as exc:
        # Jinja rewrites tracebacks to template lines for Exception only: map the compiled line here.
        raw = _template_line(exc, filename)
        line = template.get_corresponding_lineno(raw) if raw is not None else None
        raise _template_error(exc, filename, line,
                              f"template still rendering after {MAX_RENDER_SECONDS:g} s; stopped") from None


def _run_limited(template: jinja2.Template, context: dict[str, Any], filename: str) -> str:
    """Render a user template chunk by chunk, stopping at MAX_OUTPUT_CHARS and MAX_RENDER_SECONDS.

    The time budget uses SIGALRM (Jinja's compiled code is Python, so the handler runs inside a
    loop that produces nothing); off the main thread only the output cap applies.
    """
    timed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous: Any = None
    if timed:
        def expire(signum: int, frame: Any) -> None:
            raise _OverBudget()
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, MAX_RENDER_SECONDS)
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise LogsleuthError(f"template output over the limit of {MAX_OUTPUT_CHARS >> 20} MiB; stopped",
                                     Location(filename))
            parts.append(chunk)
        return "".join(parts)
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _template_line(exc: BaseException, filename: str) -> int | None:
    # Jinja rewrites tracebacks so that frames of compiled templates carry the template's
    # file name and source line; the innermost such frame is where the error happened.
    line = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _template_error(exc: BaseException, filename: str, line: int | None, message: str = "") -> LogsleuthError:
    message = message or getattr(exc, "message", None) or str(exc)
    kind = "template syntax error" if isinstance(exc, jinja2.TemplateSyntaxError) else "template error"
    return LogsleuthError(f"{kind}: {message}", Location(filename, line))
