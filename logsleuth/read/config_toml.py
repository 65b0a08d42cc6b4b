"""Read stage, config.toml: a runner's configuration as records that rules check like log entries.

One record per table (the top level, each `[[runners]]` entry, each executor or cache section) and
one per setting (key), each at its own line, so a finding on a key points at that key's line (and
Code Quality annotates it on a merge request's diff). A syntax error is one record at the error's
line and column. Fields (see README "Checking config.toml"):

- every record: `kind` (table, setting, syntax), `section` (the table's path without indices:
  `global`, `runners`, `runners.docker`, `runners.cache.s3`), `setting` (`runners[1].docker.privileged`),
  `keys` (a table's own keys), `table.<key>` (the scalar values of the record's table), `concurrent`;
  in a runner also `runner_name`, `runner_index` (1-based) and `executor`;
- settings: `key`, `value` (text, or a list for arrays), `type` (TOML type), `expected` (the type the
  runner's Go field wants, when it is a plain one), `type_ok`, `known` (documented by the runner;
  absent inside an unknown table), `did_you_mean`; derived facts: `bytes` and `size_ok` for Docker
  memory sizes, `limit_excess` (limit - concurrent), `limit_sum` and `limit_sum_excess` on the
  `concurrent` setting, and for certificate files `file`, `file_state`, `file_detail`,
  `cert_days_left`, `cert_not_after`, `cert_subject`;
- syntax: `error` and `col`.

Secrets never enter a record: values of token, key and password settings become `[MASKED]`
unless they are empty or look like a placeholder (`YOUR_RUNNER_TOKEN`, `<token>`, `${TOKEN}`), and
every such value is scrubbed from the source lines kept as evidence.
"""
from __future__ import annotations

import re
import sys
from typing import Any

from logsleuth.model import FieldValue, Origin, Record
from logsleuth.read import config_files, config_index, config_schema, config_secrets
from logsleuth.read.config_schema import Key
from logsleuth.read.sample import sample_bytes

NAME = "config-toml"
# Every record's message starts with this; rules with `input: config` require it as their prefilter
# literal, so they cost one literal of the scan on logs and are evaluated only on config records.
MARKER = "[config.toml]"
MAX_BYTES = 1 << 20  # real configs are kilobytes; hundreds of runners stay far below this
_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")
_CERT_KEYS = {"tls-ca-file", "tls-cert-file", "ca_file", "cert_file"}
_KEY_FILES = {"tls-key-file", "key_file"}
_SIZE_KEYS = {"memory", "memory_swap", "memory_reservation", "service_memory", "service_memory_swap",
              "service_memory_reservation"}
# docker/go-units RAMInBytes, which the runner parses Docker memory sizes with.
_RAM = re.compile(r"(?i)^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$")



def named(name: str) -> bool:
    """Whether an input's name (a path, or `archive.tgz!member`) is a runner config's: `config.toml`."""
    return name.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1] == "config.toml"


def looks_like(sample: list[bytes]) -> bool:
    """Whether the first lines read as a runner's config.toml (not as a log that mentions one)."""
    blob = sample_bytes(sample)
    if b"[[runners]]" not in blob and b"concurrent" not in blob and b"check_interval" not in blob:
        return False  # every input's first lines pass through here: most are logs, told at C speed
    text = [line.strip() for line in sample if line.strip() and not line.strip().startswith(b"#")]
    if not text:
        return False
    # Every input's first lines pass through here: the cheap test that fails for logs goes first.
    if not any(line == b"[[runners]]" or _RUNNERISH.match(line) for line in text):
        return False
    # A table header, a `key =` line or an array's continuation (a quoted item, a number, a bracket)
    # whole: a log line that starts with a date is not a number item.
    tomlish = sum(1 for line in text if _TOMLISH.match(line))
    return tomlish >= len(text) * 0.9


_RUNNERISH = re.compile(rb"(concurrent|check_interval)\s*=\s*\d+\s*(#.*)?$")
_TOMLISH = re.compile(rb'\[\[?[\w."\' -]+\]\]?\s*(#.*)?$|[\w."\'-]+\s*=|[\]}\[{,]'
                      rb'|["\'].*["\']\s*,?\s*(#.*)?$|[+-]?\d[\dTZz_.eE+:-]*\s*,?\s*(#.*)?$')


# --- records ------------------------------------------------------------------------------------

def records(text: str, path: str, check_files: bool = True) -> list[Record]:
    """The records of one config.toml; a syntax error gives one `syntax` record instead."""
    # The parser is imported here: every input's format detection imports this module, few inputs are TOML.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 has no tomllib; tomli is the same parser
        import tomli as tomllib

    lines = text.split("\n")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = _POSITION.search(message)
        line, col = (int(m.group(1)), int(m.group(2))) if m and m.group(1) else _end(lines)
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        error = _POSITION.sub("", message)
        if error.startswith("Illegal character") and "\\n" in error:
            error += ": the line ends inside a string (a closing quote is missing?)"
        return [problem(path, error, line, col, config_secrets.scrub_line(source))]
    except RecursionError:
        return [problem(path, "values nest too deep to read", 1, 1, "")]
    walk = _Walk(path, lines, config_index.index(text), config_secrets.secrets(doc), check_files)
    walk.document(doc)
    return walk.out


def _end(lines: list[str]) -> tuple[int, int]:
    """The last non-blank line and the column after it: where "at end of document" errors point."""
    for number in range(len(lines), 0, -1):
        if lines[number - 1].strip():
            return number, len(lines[number - 1]) + 1
    return 1, 1


def problem(path: str, error: str, line: int = 1, col: int = 1, source: str = "") -> Record:
    """The one record of a document that could not be read: a syntax error, or too big or deep."""
    return Record(f"{MARKER} TOML syntax error: {error}", Origin(path, line), NAME, raw=source.strip(), section="global",
                  fields={"kind": "syntax", "error": error, "col": col})


def snippet(text: str, line: int, col: int) -> str:
    """The error's source line with a caret under the column (secret values masked)."""
    lines = text.split("\n")
    source = config_secrets.scrub_line(lines[line - 1], keep_width=True) if 0 < line <= len(lines) else ""
    return f"  {source}\n  {' ' * (max(col, 1) - 1)}^"


class _Walk:
    """Builds the records of a parsed document, depth first, in file order per table."""

    def __init__(self, path: str, lines: list[str], positions: dict[Key, config_index.Position],
                 secrets: list[str], check_files: bool) -> None:
        self.path, self.lines, self.positions = path, lines, positions
        self.secrets, self.check_files = secrets, check_files
        self.out: list[Record] = []
        self._below: dict[Key, config_index.Position] | None = None
        self.concurrent = 1
        self.limit_sum = 0

    def document(self, doc: dict[str, Any]) -> None:
        concurrent = doc.get("concurrent")
        self.concurrent = concurrent if isinstance(concurrent, int) and not isinstance(concurrent, bool) else 1
        runners = doc.get("runners")
        for r in runners if isinstance(runners, list) else ():
            limit = r.get("limit") if isinstance(r, dict) else None
            if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
                self.limit_sum += limit
        self.table((), doc, {"concurrent": self.concurrent}, documented=True)

    def table(self, key: Key, node: dict[str, Any], context: dict[str, FieldValue],
              documented: bool) -> None:
        if key[:1] == ("runners",) and len(key) == 2:
            index = int(key[1]) + 1
            context = {**context, "runner_index": index, "runner_name": self._scrub(str(node.get("name") or f"#{index}")),
                       "executor": str(node.get("executor", ""))}
        scalars = {f"table.{k}": self._value(k, v) for k, v in node.items() if not isinstance(v, (dict, list))}
        fields: dict[str, FieldValue] = {**context, **scalars, "kind": "table", "keys": list(node)}
        if key:
            _, known, hint = config_schema.lookup(key) if documented else (None, True, "")
            if documented:
                fields.update(known="true" if known else "false", did_you_mean=hint)
            documented = documented and known
        if key == ("runners",):  # `[runners]` where the runner wants an array of tables, `[[runners]]`
            fields.update(type="table", expected="array of tables ([[runners]])", type_ok="false")
        if not key and "concurrent" not in node:
            fields.update(limit_sum=self.limit_sum, limit_sum_excess=self.limit_sum - self.concurrent)
        self._emit(key, f"table {config_schema.dotted(key) or 'global'}", fields)
        for k, v in node.items():
            child = key + (k,)
            if isinstance(v, dict):
                self.table(child, v, context, documented)
            elif isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
                for i, entry in enumerate(v):
                    self.table(child + (i,), entry, context, documented)
            else:
                self.setting(child, v, {**context, **scalars}, documented)

    def setting(self, key: Key, value: Any, context: dict[str, FieldValue], documented: bool) -> None:
        name = str(key[-1])
        fields: dict[str, FieldValue] = {**context, "kind": "setting", "key": name, "value": self._value(name, value),
                                         "type": config_schema.type_of(value)}
        if documented:
            node, known, hint = config_schema.lookup(key)
            fields.update(known="true" if known else "false", did_you_mean=hint)
            wanted = config_schema.GO_TYPES.get(node.lstrip("*")) if isinstance(node, str) else None
            if wanted:
                fields.update(expected=wanted[0], type_ok="true" if config_schema.type_of(value) in wanted else "false")
        fields.update(self._facts(key, name, value))
        self._emit(key, f"setting {config_schema.dotted(key)}", fields)

    def _facts(self, key: Key, name: str, value: Any) -> dict[str, FieldValue]:
        """Derived facts the DSL cannot compute (it compares a field with a constant, never two fields)."""
        facts: dict[str, FieldValue] = {}
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if key == ("concurrent",):
            facts.update(limit_sum=self.limit_sum, limit_sum_excess=self.limit_sum - self.concurrent)
        if name == "limit" and len(key) == 3 and is_int and value > 0:
            facts["limit_excess"] = value - self.concurrent
        if name in _SIZE_KEYS and isinstance(value, str):
            size = ram_in_bytes(value)
            facts.update(size_ok="true" if size is not None else "false")
            if size is not None:
                facts["bytes"] = size
        if self.check_files and isinstance(value, str) and value and (name in _CERT_KEYS or name in _KEY_FILES):
            f = config_files.certificate_file(config_files.resolve(value, self.path), key_file=name in _KEY_FILES)
            facts.update(file=self._scrub(f.path), file_state=f.state, file_detail=f.detail)
            if f.days_left is not None:
                facts.update(cert_days_left=f.days_left, cert_not_after=f.not_after, cert_subject=f.subject,
                             certificates=f.certificates)
        return facts

    def _where(self, key: Key) -> config_index.Position:
        """A key's position; a table made by dotted keys only (`docker.privileged = true`) is at its first key."""
        found = self.positions.get(key) or self._first_below().get(key)
        return found or config_index.position(self.positions, key)

    def _first_below(self) -> dict[Key, config_index.Position]:
        if self._below is None:  # once per document: the first position under every key prefix
            self._below = {}
            for k, pos in self.positions.items():
                for n in range(1, len(k)):
                    prefix = k[:n]
                    if prefix not in self._below or pos < self._below[prefix]:
                        self._below[prefix] = pos
        return self._below

    def _value(self, key: str, value: Any) -> FieldValue:
        text = config_schema.text_of(value)
        if isinstance(text, str):
            return self._scrub(config_secrets.shown(key, text))
        if isinstance(text, list):
            return [self._scrub(config_secrets.shown(key, t)) if isinstance(t, str) else t for t in text]
        return text

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, config_secrets.MASK)
        return text

    def _emit(self, key: Key, what: str, fields: dict[str, FieldValue]) -> None:
        line, _col = self._where(key) if key else (1, 1)
        source = self.lines[line - 1] if key and 0 < line <= len(self.lines) else ""
        fields["setting"] = config_schema.dotted(key) or "global"
        table = key[:-1] if fields["kind"] == "setting" else key
        self.out.append(Record(f"{MARKER} {what}", Origin(self.path, line), NAME,
                               raw=self._scrub(config_secrets.scrub_line(source)).strip(),
                               section=config_schema.section_of(table), fields=fields))


def ram_in_bytes(text: str) -> int | None:
    """A Docker memory size in bytes as docker/go-units RAMInBytes reads it (binary units), or None."""
    m = _RAM.match(text.strip())
    if not m or m.group(1).count(".") > 1:
        return None
    unit = (m.group(2) or "").lower()
    return int(float(m.group(1)) * (1024 ** ("kmgtp".index(unit) + 1) if unit else 1))
