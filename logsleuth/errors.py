"""Error types for user mistakes (bad rules, bad input), each carrying where it happened."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file: 1-based line and column; either may be unknown."""

    path: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


class LogsleuthError(Exception):
    """A problem the user can fix: printed as `path:line:col: message`, exit status 2."""

    def __init__(self, message: str, location: Location | None = None, snippet: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.snippet = snippet

    def __str__(self) -> str:
        head = f"{self.location}: {self.message}" if self.location else self.message
        return f"{head}\n{self.snippet.rstrip()}" if self.snippet else head


class RuleError(LogsleuthError):
    """A rule file is wrong: bad YAML, schema violation, expression syntax, unknown field, bad regex."""


class RuleErrors(RuleError):
    """Every problem found across all rule files, reported together so one run shows them all."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__(f"{len(errors)} error(s) in rule files")
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class InputError(LogsleuthError):
    """An input could not be read completely (missing, unreadable, truncated, binary).

    `partial` is true when events before the fault were read and kept.
    """

    def __init__(self, message: str, location: Location | None = None, partial: bool = False) -> None:
        super().__init__(message, location)
        self.partial = partial


class Diagnostics:
    """Collects warnings and input errors while a run goes on, so one bad input never stops the others."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.input_errors: list[InputError] = []
        self.truncated_lines = 0

    def warn(self, message: str, location: Location | None = None) -> None:
        self.warnings.append(f"{location}: {message}" if location else message)

    def input_error(self, error: InputError) -> None:
        self.input_errors.append(error)

    @property
    def partial(self) -> bool:
        return any(e.partial for e in self.input_errors)

    @property
    def failed_inputs(self) -> bool:
        return any(not e.partial for e in self.input_errors)
