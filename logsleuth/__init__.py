"""logsleuth: rule-based log analyzer that explains why a GitLab runner stopped working.

The public library API is the five names in `__all__`; everything else is internal and may change.

    import logsleuth
    rules = logsleuth.load_rules()                       # the bundled rules (+ dirs given)
    report = logsleuth.analyze(["/var/log/syslog"], rules, logsleuth.ScanOptions())
    for finding in report.findings: ...

The names are resolved on first use (PEP 562), so `import logsleuth` stays cheap for the CLI and
the stage modules can read `__version__` from here without importing the whole pipeline.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Finding", "Report", "ScanOptions", "analyze", "load_rules"]

if TYPE_CHECKING:
    from logsleuth.model import Finding, Report
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.ruleset import load as load_rules

_WHERE = {"Finding": ("logsleuth.model", "Finding"), "Report": ("logsleuth.model", "Report"),
          "ScanOptions": ("logsleuth.pipeline", "ScanOptions"), "analyze": ("logsleuth.pipeline", "analyze"),
          "load_rules": ("logsleuth.ruleset", "load")}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'logsleuth' has no attribute {name!r}")
    from importlib import import_module

    module, attr = _WHERE[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
