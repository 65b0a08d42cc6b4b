"""The `--mr-note` options of `scan` and `gitlab pipeline`: the report as a sticky merge-request note.

A note that cannot be posted (no merge request, no token, GitLab down) is a warning and the scan's
own exit status stands, unless `--mr-note=required` asks for exit 2.
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Mapping

import click

if TYPE_CHECKING:
    from logsleuth.gitlab.client import Client

NOTE_MODES = ("off", "auto", "required")
# gitlab.client.TOKEN_TYPES, spelt out: that module imports http.client and ssl, which every scan
# would pay for at start-up to build this option (tests/test_cli_startup.py keeps the two equal).
TOKEN_TYPES = ("private", "bearer", "job")


def note_options(func: Any) -> Any:
    """--mr-note and what it needs: shared by `scan` and `gitlab pipeline`."""
    for opt in reversed([
        click.option("--mr-note", "mr_note", type=_NoteMode(), default="off", is_flag=False,
                     flag_value="auto", show_default=True,
                     help="Post the Markdown report as a sticky note on this pipeline's merge request (always "
                          "redacted; needs LOGSLEUTH_GITLAB_TOKEN). `--mr-note` alone: warn when it cannot be "
                          "posted; `--mr-note=required`: exit 2 then."),
        click.option("--mr-note-dry-run", "mr_note_dry_run", is_flag=True,
                     help="Print the note that --mr-note would send (to stderr) instead of sending it."),
        click.option("--token-type", type=click.Choice(TOKEN_TYPES), default="private", show_default=True,
                     help="How the token is sent: PRIVATE-TOKEN, Authorization: Bearer, or JOB-TOKEN (read-only).") ,
        click.option("--ca-file", metavar="PATH",
                     help="CA bundle for a GitLab with a private CA (default: $CI_SERVER_TLS_CA_FILE)."),
    ]):
        func = opt(func)
    return func


class _NoteMode(click.types.StringParamType):
    """`--mr-note`, `--mr-note=auto` or `--mr-note=required`.

    click hands an optional-value option the next word when that is no option, so in
    `scan --mr-note logs/` the value is `logs/`: note_mode() gives it back to the inputs.
    """

    name = "mode"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[auto|required]"


def note_mode(value: str, inputs: tuple[str, ...] | None = None) -> tuple[str, tuple[str, ...]]:
    """The note mode and the inputs, with a path that --mr-note took for its value given back."""
    if value in NOTE_MODES:
        return value, inputs or ()
    if inputs is not None and (value == "-" or os.path.exists(value)):
        return "auto", (value, *inputs)
    raise click.BadParameter(f"{value!r} is not one of {', '.join(NOTE_MODES)}", param_hint="--mr-note")


def make_client(env: Mapping[str, str], token_type: str, ca_file: str | None, url: str | None = None) -> Client:
    """A client for $CI_API_V4_URL (or `url`) with the token from the environment. Raises GitLabError."""
    from logsleuth.gitlab.client import TOKEN_VARIABLES, Client, GitLabError, token_from_env

    api = url or env.get("CI_API_V4_URL", "")
    if not api:
        raise GitLabError("no GitLab API URL: CI_API_V4_URL is not set (outside GitLab CI, give --url)")
    if url and not api.rstrip("/").endswith("/api/v4"):
        api = api.rstrip("/") + "/api/v4"
    token = token_from_env(env)
    if token is None:
        raise GitLabError(f"no GitLab token: set {' or '.join(TOKEN_VARIABLES)} (a masked CI/CD variable; "
                          "an access token with the `api` scope, since the job token cannot write notes)")
    return Client(api, token[1], token_type=token_type, ca_file=ca_file or env.get("CI_SERVER_TLS_CA_FILE") or None)


def post_note(report: Any, options: Any, mr_note: str, mr_note_dry_run: bool, token_type: str,
              ca_file: str | None) -> bool:
    """Post (or with the dry run, print) the report as the note; False when it was required and could not be."""
    if mr_note == "off" and not mr_note_dry_run:
        return True
    from logsleuth.gitlab import note
    from logsleuth.gitlab.client import GitLabError

    markdown = note_markdown(report, options)
    target = note.target_from_env(os.environ)
    if mr_note_dry_run:
        where = target.notes_path if target else "no merge request (CI_MERGE_REQUEST_IID is not set)"
        click.echo(f"logsleuth: merge-request note, dry run, not sent; target: {where}", err=True)
        click.echo(note.note_body(markdown), err=True, nl=False)
        return True
    try:
        if target is None:
            raise GitLabError("not a merge-request pipeline (CI_MERGE_REQUEST_IID or CI_PROJECT_ID is not set)")
        done, note_id = note.post(make_client(os.environ, token_type, ca_file), target, markdown)
    except GitLabError as exc:
        kind = "error" if mr_note == "required" else "warning"
        click.echo(f"logsleuth: {kind}: merge-request note not posted: {exc}", err=True)
        return mr_note != "required"
    click.echo(f"logsleuth: merge-request note {done} (note {note_id})", err=True)
    return True


def note_markdown(report: Any, options: Any) -> str:
    """The note's Markdown: always redacted, whatever --no-redact says."""
    from logsleuth.report.render import render

    return render(report, "markdown", options=dataclasses.replace(options, redact=True))
