"""The command line at the edge: click commands that compose the pipeline stages; the only code that prints or exits.

`app` holds the group, shared options and the error boundary; the other modules (`scan` with `mrnote`,
`rules`, `gitlab`, ...) register their commands on it when imported, and the group imports each one
when its command is first looked up (app.COMMAND_MODULES), so a command pays only for its own imports.
"""
from __future__ import annotations

from logsleuth.cli.app import cli, main

__all__ = ["cli", "main"]
