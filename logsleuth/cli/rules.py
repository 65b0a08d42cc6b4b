"""The rule commands of the command line: `rules list|show|lint|test`, `explain` and `formats`.

Part of the CLI layer (cli/__init__.py imports this module to register the commands): the
only modules that print or exit.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import click

from logsleuth.cli.app import EXIT_FINDINGS, EXIT_OK, cli, load_rules, rule_options
from logsleuth.errors import Location, LogsleuthError


@cli.group("rules")
def rules_group() -> None:
    """List, show, lint and test rules."""


@rules_group.command("list")
@rule_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def rules_list(rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...], skip: tuple[str, ...], fmt: str) -> None:
    """List the rules that would run."""
    from logsleuth.authoring import catalogue

    selected = load_rules(rule_dirs, no_builtin, only, skip)
    click.echo(catalogue.render(selected, fmt), nl=False)


@rules_group.command("show")
@click.argument("rule_id")
@rule_options
def rules_show(rule_id: str, rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...], skip: tuple[str, ...]) -> None:
    """Show one rule: its expression, literals, diagnosis, fix and why."""
    from logsleuth.authoring import catalogue

    rule = _find_rule(load_rules(rule_dirs, no_builtin, only, skip, select=False), rule_id)
    click.echo(catalogue.show(rule), nl=False)


def _find_rule(rules: Sequence[Any], rule_id: str) -> Any:
    for r in rules:
        if r.id == rule_id:
            return r
    import difflib

    close = difflib.get_close_matches(rule_id, [r.id for r in rules], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise LogsleuthError(f"no rule {rule_id!r}{hint}")


def _rules_under(rules: Sequence[Any], directory: str | None) -> list[Any]:
    if directory is None:
        return list(rules)
    root = os.path.abspath(directory)
    return [r for r in rules if os.path.abspath(r.info.source).startswith(root)]


@rules_group.command("lint")
@click.argument("directory", required=False)
@rule_options
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings.")
def rules_lint(directory: str | None, rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...],
               skip: tuple[str, ...], strict: bool) -> None:
    """Check rules (the bundled ones, or those in DIRECTORY): schema, expressions, regex risk, proof, overlap."""
    from logsleuth.authoring.lint import lint

    dirs = [*rule_dirs, directory] if directory else list(rule_dirs)
    everything = load_rules(dirs, no_builtin, only, skip, select=False)
    mine = _rules_under(everything, directory)
    warnings = lint(mine, everything)
    for w in warnings:
        click.echo(f"warning: {w}")
    click.echo(f"{len(mine)} rule(s) checked, {len(warnings)} warning(s)")
    sys.exit(EXIT_FINDINGS if strict and warnings else EXIT_OK)


@rules_group.command("test")
@click.argument("directory", required=False)
@rule_options
def rules_test(directory: str | None, rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...],
               skip: tuple[str, ...]) -> None:
    """Run every rule's examples: each `match` example must fire it, each `no-match` must not."""
    from logsleuth.authoring.examples import run_examples
    from logsleuth.report.redact import Redactor

    redactor = Redactor()  # an example line may quote a real log's token
    dirs = [*rule_dirs, directory] if directory else list(rule_dirs)
    mine = _rules_under(load_rules(dirs, no_builtin, only, skip), directory)
    passed = failed = 0
    for rule in mine:
        results = list(run_examples(rule))
        bad = [r for r in results if not r.ok]
        passed, failed = passed + len(results) - len(bad), failed + len(bad)
        if not results:
            click.echo(f"NONE {rule.id}: no examples")
        for r in bad:
            redactor.lines(r.example.lines)  # learnt as log lines: the detail may quote a bare capture
            click.echo(redactor.text(f"FAIL {rule.id}: {r.kind} example at {r.example.location}: {r.detail}"))
    click.echo(f"rules: {len(mine)} rule(s), examples: {passed} passed, {failed} failed")
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


@rules_group.command("suggest")
@click.argument("template_id")
@click.argument("inputs", nargs=-1)
@click.option("--from", "from_report", metavar="REPORT.json",
              help="Take the template from this JSON report (`scan --format json`) instead of scanning INPUTS.")
@click.option("-o", "--output-dir", metavar="DIR", help="Write DIR/<rule-id>.yaml (default: print the rule).")
@rule_options
def rules_suggest(template_id: str, inputs: tuple[str, ...], from_report: str | None, output_dir: str | None,
                  rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...], skip: tuple[str, ...]) -> None:
    """Draft a rule from an unrecognised-error template (its id is in the report's "Unrecognised errors")."""
    from logsleuth.authoring.suggest import check, draft, templates_from

    templates, formats = templates_from(from_report, inputs, lambda: load_rules(rule_dirs, no_builtin, only, skip))
    chosen = next((t for t in templates if t.id == template_id), None)
    if chosen is None:
        raise LogsleuthError(f"no template {template_id!r} in {from_report or 'the scan'} "
                             f"({len(templates)} template(s): {', '.join(t.id for t in templates[:5])}{' ...' if len(templates) > 5 else ''})")
    d = draft(chosen, templates, formats)
    problems = check(d)
    if problems:  # a bug in the drafting, never the user's: say so rather than write a failing rule
        raise LogsleuthError(f"the draft for {template_id} does not pass its own examples: {'; '.join(problems)}")
    if output_dir is None:
        click.echo(d.text, nl=False)
    else:
        path = os.path.join(output_dir, f"{d.rule_id}.yaml")
        try:
            os.makedirs(output_dir, exist_ok=True)
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(d.text)
        except FileExistsError:
            raise LogsleuthError("exists already; not overwritten", Location(path)) from None
        except OSError as exc:
            raise LogsleuthError(f"cannot write the rule: {exc.strerror}", Location(path)) from None
        click.echo(f"{path}: drafted; fill in the `todo`s (logsleuth rules lint {output_dir}), "
                   f"then logsleuth rules test {output_dir}", err=True)
    sys.exit(EXIT_OK)


@rules_group.command("score")
@click.argument("corpus")
@rule_options
@click.option("--min-recall", type=click.FloatRange(0, 1), help="Exit 1 when overall recall is below this.")
@click.option("--min-precision", type=click.FloatRange(0, 1), help="Exit 1 when overall precision is below this.")
def rules_score(corpus: str, rule_dirs: tuple[str, ...], no_builtin: bool, only: tuple[str, ...],
                skip: tuple[str, ...], min_recall: float | None, min_precision: float | None) -> None:
    """Score the rules on a labelled corpus (CORPUS/labels.yaml): recall and precision per category.

    A negative (no categories) flagged at major or above also exits 1.
    """
    from logsleuth.authoring.score import render_text, score

    result = score(corpus, load_rules(list(rule_dirs), no_builtin, only, skip))
    click.echo(render_text(result), nl=False)
    short = ((min_recall is not None and result.recall() < min_recall)
             or (min_precision is not None and result.precision() < min_precision) or result.alarms())
    sys.exit(EXIT_FINDINGS if short else EXIT_OK)

@cli.command()
@click.argument("rule_id")
@click.argument("lines", nargs=-1)
@rule_options
@click.option("--input-format", "input_format", metavar="NAME", help="Parse the lines as this format.")
def explain(rule_id: str, lines: tuple[str, ...], rule_dirs: tuple[str, ...], no_builtin: bool,
            only: tuple[str, ...], skip: tuple[str, ...], input_format: str | None) -> None:
    """Why LINES (default: stdin) do or do not match RULE_ID: literals found, each sub-expression's value."""
    from logsleuth.authoring import catalogue
    from logsleuth.report.redact import Redactor

    rule = _find_rule(load_rules(rule_dirs, no_builtin, only, skip, select=False), rule_id)
    texts = list(lines) or [l.rstrip("\n") for l in sys.stdin]
    redactor = Redactor()  # the lines and the values captured from them are log text
    redactor.lines(texts)  # learn their secrets as log lines, so a bare capture of one is masked too
    fired = False
    for text in texts:
        out, ok = catalogue.explain(rule, text, input_format)
        fired |= ok
        click.echo("".join(redactor.line(l) for l in out.splitlines(keepends=True)), nl=False)
    sys.exit(EXIT_OK if fired else EXIT_FINDINGS)


@cli.command("formats")
def formats_cmd() -> None:
    """List the input formats logsleuth reads."""
    from logsleuth.read import formats

    for f in formats.FORMATS.values():
        click.echo(f"{f.name:20} {f.description}")
