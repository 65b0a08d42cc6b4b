"""Rules stage: rule files in, compiled rules out (schema and loading, YAML positions, the match language).

Data flows in from YAML text and out as `Rule` objects that the match stage runs; nothing here reads
logs or reports findings.
"""
from __future__ import annotations

from logsleuth.ruleset.loader import Correlation, Example, IncidentSpec, Rule, Window, env_rule_dirs, load, rule_sources, select

__all__ = ["Correlation", "Example", "IncidentSpec", "Rule", "Window", "env_rule_dirs", "load", "rule_sources", "select"]
