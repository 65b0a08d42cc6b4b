"""Authoring: a rule drafted from an unrecognised-error template (`logsleuth rules suggest TEMPLATE_ID`).

The draft's expression is the template itself: its fixed tokens as literals (which the prefilter
uses), its masked parts as named captures. Its examples are the template's own lines (`match`)
and one line of the most similar other template (`no-match`), so it passes `rules test` as
written; its title, message, diagnosis, fix and why are `todo` placeholders that `rules lint`
reports until someone who knows the failure fills them in.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from logsleuth.errors import Location, LogsleuthError
from logsleuth.findings.templates import WILD
from logsleuth.model import ErrorTemplate, Evidence
from logsleuth.ruleset import dsl
from logsleuth.ruleset.loader import Rule

# What each placeholder of templates.py stands for, as a regex for its capture. Addresses take
# any token: people mask hosts (`<host>`, `x.x.x.x`) before they paste a log (rules lint checks).
_HOLES = {
    "<URL>": ("url", r"\S+"),
    "<STR>": ("text", r"(?:\"[^\"]*\"|'[^']*')"),
    "<UUID>": ("uuid", r"[0-9a-fA-F-]+"),
    "<IP>": ("addr", r"\S+"),
    "<HOSTPORT>": ("hostport", r"\S+"),
    "<PATH>": ("path", r"\S+"),
    "<DUR>": ("duration", r"[\w.µ]+"),
    "<HEX>": ("hex", r"0x[0-9a-fA-F]+"),
    "<ID>": ("id", r"[\w-]+"),
    WILD: ("value", r"\S+"),
}
_HOLE = re.compile("|".join(re.escape(h) for h in _HOLES))
_WORD = re.compile(r"[a-z][a-z0-9]+")
_FIELD = re.compile(r"\b([A-Za-z][\w-]{0,30})=$")
_ELLIPSIS = " …"  # evidence.py marks a cut line so: such a line is no longer the whole entry


@dataclass(frozen=True)
class Draft:
    """A drafted rule: its id (the file's stem) and the YAML text."""

    rule_id: str
    text: str


def pattern(template: str) -> str:
    """The regex of `template`: literals escaped, holes as named captures, whitespace runs as `\\s+`."""
    names: dict[str, int] = {}
    parts: list[str] = []
    for token in template.split():
        out, last = [], 0
        for m in _HOLE.finditer(token):
            name, rx = _HOLES[m.group(0)]
            field = _FIELD.search(token, 0, m.start())  # `job=<ID>`: the capture is `job`
            if field:
                name, rx = field.group(1).replace("-", "_").lower(), r"\S+"
            n = names[name] = names.get(name, 0) + 1
            out += [re.escape(token[last:m.start()]), f"(?P<{name}{n if n > 1 else ''}>{rx})"]
            last = m.end()
        out.append(re.escape(token[last:]))
        parts.append("".join(out))
    return r"\s+".join(parts)


def expression(template: str) -> str:
    """The DSL `match` expression for `template` (a message regex; `/` escaped for the DSL's delimiters)."""
    return "message ~ /" + pattern(template).replace("/", r"\/") + "/"


def rule_id_for(template: ErrorTemplate) -> str:
    """A kebab-case id: the template's first words and its id (so two drafts never collide)."""
    words = [w for w in _WORD.findall(_HOLE.sub(" ", template.template).lower()) if w not in ("error", "warning")]
    return "-".join([*words[:5], template.id]) if words else f"unrecognised-{template.id}"


def _tokens(t: ErrorTemplate) -> set[str]:
    return {w for w in t.template.split() if not _HOLE.fullmatch(w)}


def _usable(e: Evidence) -> bool:
    return not e.text.endswith(_ELLIPSIS) and "\n" not in e.text


def _no_match(template: ErrorTemplate, others: Sequence[ErrorTemplate], rx: re.Pattern[str]) -> Evidence | None:
    mine = _tokens(template)
    ranked = sorted((o for o in others if o.id != template.id),
                    key=lambda o: (-len(mine & _tokens(o)) / (len(mine | _tokens(o)) or 1), o.id))
    for other in ranked:
        for e in other.examples:
            # The message is what the rule tests; the whole line is a cheap stand-in here, and
            # `rules suggest` runs the draft's examples before it keeps the file.
            if _usable(e) and not rx.search(e.text):
                return e
    return None


def _example(e: Evidence, formats: Mapping[str, str]) -> str:
    fmt = formats.get(e.path)
    line = json.dumps(e.text, ensure_ascii=False)
    return f"    - {{line: {line}, format: {fmt}}}" if fmt else f"    - {line}"


def draft(template: ErrorTemplate, others: Sequence[ErrorTemplate] = (),
          formats: Mapping[str, str] | None = None) -> Draft:
    """The rule skeleton for `template`; `formats` maps an example's path to its input format. Raises LogsleuthError."""
    formats = formats or {}
    expr = expression(template.template)
    dsl.compile(expr)  # a draft that does not compile is a bug here, not the user's
    examples = [e for e in template.examples if _usable(e)]
    if not examples:
        raise LogsleuthError(f"template {template.id} has no example line short enough to use")
    negative = _no_match(template, others, re.compile(pattern(template.template)))
    rule_id = rule_id_for(template)
    lines = [
        f"# Drafted by `logsleuth rules suggest {template.id}` from {template.count} unrecognised line(s):",
        f"#   {template.template}",
        "# Replace every `todo` (rules lint lists them), check the severity, then `logsleuth rules test`.",
        f"id: {rule_id}",
        'title: "todo: what failed, in a few words"',
        "severity: major",
        "category: todo",
        "match: |-",
        f"  {expr}",
        'message: "todo: one sentence for the report (a capture goes in by its name in braces)"',
        "diagnosis: |",
        "  todo: what it means, and the command that confirms it.",
        "fix: |",
        "  todo: the steps that fix it.",
        "why: |",
        "  todo: why it happens.",
        "examples:",
        "  match:",
        *(_example(e, formats) for e in examples),
    ]
    if negative is not None:
        lines += ["  no-match:", _example(negative, formats)]
    return Draft(rule_id, "\n".join(lines) + "\n")


def check(d: Draft) -> list[str]:
    """What `rules test` would say against the draft (nothing when it passes): it is loaded and run as a file."""
    import tempfile
    from pathlib import Path

    from logsleuth.authoring.examples import run_examples
    from logsleuth.ruleset import loader

    with tempfile.TemporaryDirectory(prefix="logsleuth-suggest-") as tmp:
        (Path(tmp) / f"{d.rule_id}.yaml").write_text(d.text, encoding="utf-8")
        rules = loader.load([tmp], builtin=False)
    return [f"{r.kind} example: {r.detail}" for rule in rules for r in run_examples(rule) if not r.ok]


def templates_from(report_path: str | None, inputs: Sequence[str],
                   rules: Callable[[], Sequence[Rule]]) -> tuple[list[ErrorTemplate], dict[str, str]]:
    """The templates (and each input's format) of a JSON report, or of a scan of `inputs`. Raises LogsleuthError."""
    if report_path is None:
        from logsleuth.pipeline import analyze

        if not inputs:
            raise LogsleuthError("give the logs to scan, or --from REPORT.json")
        report = analyze(list(inputs), rules())
        return list(report.unexplained.templates), {i.path: i.format for i in report.inputs}
    if inputs:
        raise LogsleuthError("give INPUTS or --from REPORT.json, not both")
    try:
        with open(report_path, encoding="utf-8") as fh:
            data = json.load(fh)
        return _templates_of(data), {i["path"]: i["format"] for i in data.get("inputs", [])}
    except OSError as exc:
        raise LogsleuthError(f"cannot read report: {exc.strerror}", Location(report_path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise LogsleuthError(f"not a JSON report: {exc}", Location(report_path)) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise LogsleuthError(f"not a logsleuth JSON report with templates (missing or wrong {exc})",
                             Location(report_path)) from None


def _templates_of(data: dict[str, Any]) -> list[ErrorTemplate]:
    if "unrecognised" not in data:
        raise KeyError("unrecognised")
    return [ErrorTemplate(t["id"], t["template"], t["count"],
                          examples=tuple(Evidence(e["path"], int(e["line"]), e["text"]) for e in t["examples"]))
            for t in data["unrecognised"]["templates"]]
