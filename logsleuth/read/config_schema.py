"""Read stage, config.toml: what gitlab-runner's documented schema says about a key (config_keys.SCHEMA).

Whether a key path is documented (free-form maps such as `feature_flags` accept any key), the
closest documented key for a "did you mean", and the TOML type the runner's Go field decodes.
"""
from __future__ import annotations

import difflib
from datetime import date, datetime, time
from typing import Any, Union

from logsleuth.model import FieldValue
from logsleuth.read.config_keys import SCHEMA

Key = tuple[Union[str, int], ...]
# The TOML types BurntSushi/toml decodes into a plain Go field type; other types are not checked.
GO_TYPES = {"string": ("string",), "int": ("integer",), "int64": ("integer",), "int32": ("integer",),
            "float64": ("float", "integer"), "bool": ("boolean",), "[]string": ("array",),
            "time.Duration": ("string", "integer"), "time.Time": ("datetime",)}


def text_of(value: Any) -> FieldValue:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return [text_of(v) for v in value if not isinstance(v, (dict, list))]
    return str(value)


def type_of(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string"), (list, "array"),
                       (dict, "table"), ((datetime, date, time), "datetime")):
        if isinstance(value, kind):
            return name
    return "value"


def lookup(key: Key) -> tuple[Any, bool, str]:
    """(schema node, documented, hint) for an absolute key path; free-form maps accept anything below."""
    node: Any = SCHEMA
    for part in (p for p in key if isinstance(p, str)):
        if not isinstance(node, dict):
            return "any", True, ""  # inside a free-form map (labels, feature_flags, sysctls)
        if part not in node:
            return None, False, _hint(part, node)
        node = node[part]
    return node, True, ""


def _hint(part: str, node: dict[str, Any]) -> str:
    by_lower = {k.lower(): k for k in node}
    close = difflib.get_close_matches(part.lower(), sorted(by_lower), n=1, cutoff=0.7)
    return f"did you mean `{by_lower[close[0]]}`?" if close else "no documented key is close to it"


def dotted(key: Key) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def section_of(key: Key) -> str:
    return ".".join(p for p in key if isinstance(p, str)) or "global"
