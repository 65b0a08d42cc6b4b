"""The command line at the edge: click commands that compose the pipeline stages; the only code that prints or exits.

`app` holds the group, shared options and the error boundary; `scan` (with `mrnote`), `rules` and `gitlab` register their
commands on it when imported here, so `logsleuth.cli:main` sees every command.
"""
from __future__ import annotations

from logsleuth.cli import baseline, config, doctor, gitlab, journal, rules, scan  # noqa: F401 - importing registers the commands
from logsleuth.cli.app import cli, main

__all__ = ["cli", "main"]
