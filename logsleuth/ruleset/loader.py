"""Read and validate rule YAML into compiled rules; every problem in every file is collected and raised together.

Stage: rules (load time). Positions come from `yaml.compose`, whose nodes keep their marks, so an
error inside a match expression points at the line and column in the YAML file itself.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from logsleuth.ruleset import cache, compiled
from logsleuth.ruleset.expr import Expression
from logsleuth.read import config_toml
from logsleuth.read.files import read_regular
from logsleuth.errors import Location, RuleError, RuleErrors
from logsleuth.model import SEVERITIES, Record, RuleInfo

if TYPE_CHECKING:
    import yaml

    from logsleuth.ruleset import yamlnodes as yn

# YAML (yamlnodes) and the expression compiler (dsl, lark) are imported by the functions that
# compile rule files, not here: a load that the compiled-rules cache answers needs neither (compiled.py).

_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
BUILTIN = "<builtin>"


@dataclass(frozen=True)
class Example:
    """A log excerpt that must (or must not) fire the rule, with the captures it must produce."""

    lines: tuple[str, ...]
    captures: dict[str, str]
    format: str | None
    location: Location


@dataclass(frozen=True)
class Window:
    """A second expression that must (or must not) follow the rule's match within `within` seconds.

    `same_entry` (sequences only): the follow-up may also be in the match's own entry, as in a
    paste that lost its newlines (`... failed ... PANIC: Failed to register the runner.`)."""

    expr: Expression
    within: float
    same_entry: bool = False


@dataclass(frozen=True)
class Correlation:
    group_by: tuple[str, ...] = ()
    threshold: int = 1
    within: float = 0.0
    followed_by: Window | None = None
    not_followed_by: Window | None = None
    context_lines: int = 0


@dataclass(frozen=True)
class IncidentSpec:
    """How a rule's matches join others into one incident (one failure told by several rules).

    Matches of rules with the same `family` on the same host join one incident when they fall
    within `within` seconds of it and agree on every `key` capture both have; a `once` rule holds
    at most one match per incident (a second OOM kill is a second incident). The incident's root
    is its most severe `root`-role fact; `fact`-role rules only support a root.
    """

    family: str
    role: str = "root"
    key: tuple[str, ...] = ()
    within: float = 300.0
    once: bool = False


@dataclass(frozen=True)
class Rule:
    """A compiled rule: what the engine runs and what reports describe."""

    info: RuleInfo
    expr: Expression
    message: str
    supersedes: tuple[str, ...] = ()
    fingerprint: tuple[str, ...] | None = None
    correlation: Correlation | None = None
    examples_match: tuple[Example, ...] = ()
    examples_no_match: tuple[Example, ...] = ()
    location: Location = field(default_factory=lambda: Location("<rule>"))
    incident: IncidentSpec | None = None
    recovered_by: Expression | None = None  # a later record matching this means the failure stopped
    input: str = "logs"  # what the rule reads: log records, or `config` (config.toml records, read/config_toml.py)

    @property
    def id(self) -> str:
        return self.info.id


# --- the schema ---------------------------------------------------------------------------------

# The bundled rule files ship as the package `logsleuth.bundled_rules` (the top-level rules/ folder):
# `logsleuth.rules` is this loader module.
_REQUIRED = ("id", "title", "severity", "category", "match")
_TEXT_KEYS = ("title", "message", "diagnosis", "fix", "why", "description")
_LIST_KEYS = ("tags", "references", "supersedes", "fingerprint")
_BOOL_KEYS = ("retryable", "generic", "outcome")
_KEYS = (frozenset(_REQUIRED) | set(_TEXT_KEYS) | set(_LIST_KEYS) | set(_BOOL_KEYS)
         | {"correlate", "examples", "incident", "recovered_by", "input"})
_ROLES = ("root", "fact")


def _expression(f: yn.File, node: yaml.Node, key: str) -> Expression | None:
    """Compile a match expression, translating its error position into the YAML file."""
    import yaml

    from logsleuth.ruleset import dsl, yamlnodes as yn

    if not isinstance(node, yaml.ScalarNode) or not isinstance(yn.node_value(node), str):
        f.error(f"{key}: must be a string holding an expression", node)
        return None
    if node.style == ">":
        f.error(f"{key}: use a literal block (|) or a plain scalar, not a folded one (>)", node)
        return None
    try:
        return dsl.compile(yn.node_value(node))
    except RuleError as exc:
        loc = exc.location
        line, col = ((loc.line or 1), (loc.col or 1)) if loc is not None else (1, 1)
        f.error(f"{key}: {exc.message}", node, *yn.scalar_position(f, node, line, col))
        return None


_INPUTS = ("logs", "config")


def _on_config(expr: Expression) -> Expression:
    """An `input: config` rule's expression: true only on config.toml records, capturing `setting`,
    `section` and `config_file`. Their message marker is its prefilter literal, so on logs it costs one literal of
    the scan, never an evaluation per line."""
    return Expression(expr.text, expr.tree, _OnConfig(expr), frozenset({config_toml.MARKER.lower().encode()}),
                      expr.captures)


class _OnConfig:
    """The predicate of `_on_config`: an object holding the rule's own expression rather than a
    closure, so the compiled-rules cache can store it (compiled.py)."""

    __slots__ = ("expr",)

    def __init__(self, expr: Expression) -> None:
        self.expr = expr

    def __reduce__(self) -> tuple[Any, ...]:
        return _OnConfig, (self.expr,)

    def __call__(self, record: Record, captures: dict[str, str]) -> bool:
        if record.format != config_toml.NAME or not self.expr.predicate(record, captures):
            return False
        # One finding per file and setting (not one per rule), so each key gets its own line in Code Quality.
        captures.setdefault("setting", str(record.fields.get("setting", "")))
        captures.setdefault("config_file", record.origin.path)
        captures.setdefault("section", record.section or "")
        return True


def _config_examples(examples: tuple[Example, ...]) -> tuple[Example, ...]:
    """A config rule's examples are config.toml text unless they name another format."""
    return tuple(replace(e, format=e.format or config_toml.NAME) for e in examples)


def _window(f: yn.File, node: yaml.Node, what: str) -> Window | None:
    from logsleuth.ruleset import yamlnodes as yn

    m = yn.mapping(f, node, what)
    if m is None:
        return None
    yn.check_keys(f, m, ("match", "within", "same_entry") if what == "followed_by" else ("match", "within"), what)
    for key in ("match", "within"):
        if key not in m:
            f.error(f"{what} needs {key!r}", node)
            return None
    expr = _expression(f, m["match"][1], f"{what}.match")
    within = yn.duration(f, m["within"][1])
    return Window(expr, within, yn.boolean(f, m, "same_entry")) if expr else None


def _correlation(f: yn.File, node: yaml.Node) -> Correlation | None:
    from logsleuth.ruleset import yamlnodes as yn

    m = yn.mapping(f, node, "correlate")
    if m is None:
        return None
    yn.check_keys(f, m, ("group_by", "threshold", "followed_by", "not_followed_by", "context"), "correlate")
    count, within = 1, 0.0
    if "threshold" in m:
        t = yn.mapping(f, m["threshold"][1], "threshold") or {}
        yn.check_keys(f, t, ("count", "within"), "threshold")
        count = yn.positive_int(f, t["count"][1], "threshold.count") if "count" in t else 1
        within = yn.duration(f, t["within"][1]) if "within" in t else 0.0
        if "count" not in t or "within" not in t:
            f.error("threshold needs 'count' and 'within'", m["threshold"][1])
    context = 0
    if "context" in m:
        c = yn.mapping(f, m["context"][1], "context") or {}
        yn.check_keys(f, c, ("lines",), "context")
        context = min(yn.positive_int(f, c["lines"][1], "context.lines"), 500) if "lines" in c else 0
    followed = _window(f, m["followed_by"][1], "followed_by") if "followed_by" in m else None
    absent = _window(f, m["not_followed_by"][1], "not_followed_by") if "not_followed_by" in m else None
    if followed and absent:
        f.error("use followed_by or not_followed_by, not both", node)
    return Correlation(yn.strings(f, m, "group_by"), count, within, followed, absent, context)


def _incident(f: yn.File, node: yaml.Node) -> IncidentSpec | None:
    from logsleuth.ruleset import yamlnodes as yn

    m = yn.mapping(f, node, "incident")
    if m is None:
        return None
    yn.check_keys(f, m, ("family", "role", "key", "within", "once"), "incident")
    if "family" not in m:
        f.error("incident needs 'family'", node)
        return None
    family = yn.text(f, m, "family")
    if not _ID.match(family):
        f.error(f"incident family {family!r} must be kebab-case", m["family"][1])
    role = yn.text(f, m, "role", "root")
    if role not in _ROLES:
        f.error(f"incident role {role!r} must be one of {', '.join(_ROLES)}", m["role"][1])
    within = yn.duration(f, m["within"][1]) if "within" in m else IncidentSpec.within
    return IncidentSpec(family, role, yn.strings(f, m, "key"), within, yn.boolean(f, m, "once"))


def _example(f: yn.File, node: yaml.Node) -> Example | None:
    import yaml

    from logsleuth.ruleset import yamlnodes as yn

    if isinstance(node, yaml.ScalarNode):
        return Example((str(yn.node_value(node)),), {}, None, f.at(node))
    m = yn.mapping(f, node, "an example")
    if m is None:
        return None
    yn.check_keys(f, m, ("line", "lines", "captures", "format"), "an example")
    if ("line" in m) == ("lines" in m):
        f.error("an example needs exactly one of 'line' or 'lines'", node)
        return None
    lines = (yn.text(f, m, "line"),) if "line" in m else yn.strings(f, m, "lines")
    captures = yn.node_value(m["captures"][1]) if "captures" in m else {}
    if not isinstance(captures, dict):
        f.error("'captures' must be a mapping of name: value", m["captures"][1])
        captures = {}
    fmt = yn.text(f, m, "format") or None
    return Example(lines, {str(k): str(v) for k, v in captures.items()}, fmt, f.at(node))


def _examples(f: yn.File, node: yaml.Node) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    import yaml

    from logsleuth.ruleset import yamlnodes as yn

    m = yn.mapping(f, node, "examples") or {}
    yn.check_keys(f, m, ("match", "no-match"), "examples")
    out: list[tuple[Example, ...]] = []
    for key in ("match", "no-match"):
        items: list[Example] = []
        if key in m:
            seq = m[key][1]
            if not isinstance(seq, yaml.SequenceNode):
                f.error(f"examples.{key} must be a list", seq)
            else:
                items = [e for e in (_example(f, n) for n in seq.value) if e]
        out.append(tuple(items))
    return out[0], out[1]


def _rule(f: yn.File, node: yaml.Node, stem: str | None) -> Rule | None:
    from logsleuth.ruleset import yamlnodes as yn

    m = yn.mapping(f, node, "a rule")
    if m is None:
        return None
    before = len(f.errors)
    yn.check_keys(f, m, _KEYS, "a rule")
    for key in _REQUIRED:
        if key not in m:
            f.error(f"missing required key {key!r}", node)
    if len(f.errors) > before and any(k not in m for k in _REQUIRED):
        return None
    rule_id = yn.text(f, m, "id")
    if not _ID.match(rule_id):
        f.error(f"id {rule_id!r} must be kebab-case: lower-case letters, digits and '-'", m["id"][1])
    elif stem is not None and rule_id != stem:
        f.error(f"id {rule_id!r} must equal the file name {stem!r}", m["id"][1])
    severity = yn.text(f, m, "severity")
    if severity not in SEVERITIES:
        f.error(f"severity {severity!r} must be one of {', '.join(SEVERITIES)}", m["severity"][1])
    category = yn.text(f, m, "category")
    if not _ID.match(category):
        f.error(f"category {category!r} must be kebab-case", m["category"][1])
    expr = _expression(f, m["match"][1], "match")
    correlation = _correlation(f, m["correlate"][1]) if "correlate" in m else None
    ex_match, ex_no = _examples(f, m["examples"][1]) if "examples" in m else ((), ())
    fingerprint = yn.strings(f, m, "fingerprint") if "fingerprint" in m else None
    incident = _incident(f, m["incident"][1]) if "incident" in m else None
    recovered_by = _expression(f, m["recovered_by"][1], "recovered_by") if "recovered_by" in m else None
    kind = yn.text(f, m, "input", "logs")
    if kind not in _INPUTS:
        f.error(f"input {kind!r} must be one of {', '.join(_INPUTS)}", m["input"][1])
    if len(f.errors) > before or expr is None:
        return None
    if kind == "config":
        expr, ex_match, ex_no = _on_config(expr), _config_examples(ex_match), _config_examples(ex_no)
    outcome = yn.boolean(f, m, "outcome")
    info = RuleInfo(
        id=rule_id, title=yn.text(f, m, "title"), severity=severity, category=category,
        tags=yn.strings(f, m, "tags"), diagnosis=yn.text(f, m, "diagnosis"), fix=yn.text(f, m, "fix"),
        why=yn.text(f, m, "why"), references=yn.strings(f, m, "references"), retryable=yn.boolean(f, m, "retryable"),
        generic=yn.boolean(f, m, "generic") or outcome, outcome=outcome, source=f.path,
    )
    message = yn.text(f, m, "message", info.title)
    return Rule(info, expr, message, yn.strings(f, m, "supersedes"), fingerprint, correlation,
                ex_match, ex_no, f.at(node), incident, recovered_by, kind)


def _parse_file(path: str, text: str, single_rule_stem: str | None) -> tuple[list[Rule], list[RuleError]]:
    import yaml

    from logsleuth.ruleset import yamlnodes as yn

    f = yn.File(path, text)
    try:
        root = yn.compose(path, text)
    except RuleError as exc:
        return [], [RuleError(exc.message, exc.location, f.snippet(exc.location) if exc.location else "")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        return [], [RuleError(f"invalid YAML: {exc.problem or exc}", loc, f.snippet(loc))]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        line = text.count("\n", 0, exc.position) + 1
        loc = Location(path, line, exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1)
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character  # libyaml gives the code
        return [], [RuleError(f"invalid YAML: character {char!r} is not allowed in a rule file", loc,
                              f.snippet(loc))]
    if root is None:
        return [], [RuleError("empty rule file", Location(path))]
    rules: list[Rule] = []
    if isinstance(root, yaml.MappingNode) and any(yn.node_value(k) == "rules" for k, _ in root.value):
        m = yn.mapping(f, root, "a rule file") or {}
        yn.check_keys(f, m, ("rules",), "a rule file")
        seq = m["rules"][1]
        if not isinstance(seq, yaml.SequenceNode):
            f.error("'rules' must be a list of rules", seq)
        else:
            rules = [r for r in (_rule(f, n, None) for n in seq.value) if r]
    else:
        rule = _rule(f, root, single_rule_stem)
        rules = [rule] if rule else []
    return rules, f.errors


# --- finding rule files -------------------------------------------------------------------------

def _files_in(root: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(display path, Traversable) for every .yaml/.yml under `root`, sorted, recursively."""
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        name = f"{prefix}/{entry.name}" if prefix else entry.name
        if entry.is_dir():
            if not entry.name.startswith((".", "__")):
                yield from _files_in(entry, name)
        elif entry.name.endswith((".yaml", ".yml")):
            yield name, entry


def rule_sources(dirs: Sequence[str], builtin: bool = True) -> list[tuple[str, str]]:
    """(path, text) of every rule file: the bundled ones (unless `builtin` is false), then each dir's.

    Raises RuleError when a directory does not exist.
    """
    out: list[tuple[str, str]] = []
    if builtin:
        root = _bundled_root()
        out += [(f"rules/{name}", t.read_text(encoding="utf-8")) for name, t in _files_in(root, "")]
    for d in dirs:
        p = Path(d)
        if p.is_dir():
            out += [(str(p / name), read_rule_file(p / name)) for name, _t in _files_in(p, "")]
        elif p.exists():
            out.append((str(p), read_rule_file(p)))
        else:
            raise RuleError("no such rule file or directory", Location(d))
    return out


def _bundled_root() -> Any:
    """The bundled rules' folder (a Traversable): the package's directory, the very Path that
    `importlib.resources.files` gives for a package on disk, found without importing
    importlib.resources (it brings zipfile and tempfile: ~3 ms of every run); resources for any
    other kind of install (a zip)."""
    from importlib.util import find_spec

    spec = find_spec("logsleuth.bundled_rules")
    places = list(spec.submodule_search_locations or ()) if spec is not None else []
    if len(places) == 1 and os.path.isdir(places[0]):
        return Path(places[0])
    from importlib import resources

    return resources.files("logsleuth.bundled_rules")


# The largest bundled rule file is 7 KB; a megabyte is a mistake (or /dev/zero), not a rule.
MAX_RULE_FILE_BYTES = 1 << 20


def read_rule_file(path: Path) -> str:
    """A rule file's text, read with a size cap; raises RuleError for a FIFO, a device or an oversized file.

    Only regular files are opened: opening a FIFO waits for a writer forever, and a device such as
    /dev/zero never ends.
    """
    # One open, checked with fstat (read_regular): a path swapped for a FIFO after a stat cannot block.
    data = read_regular(str(path), MAX_RULE_FILE_BYTES, "rule file", RuleError)
    return data.decode("utf-8", errors="replace")


def env_rule_dirs() -> list[str]:
    """Rule folders named in LOGSLEUTH_RULES (colon-separated)."""
    return [d for d in os.environ.get("LOGSLEUTH_RULES", "").split(os.pathsep) if d]


def load(dirs: Sequence[str] = (), builtin: bool = True) -> list[Rule]:
    """Load, validate and compile rules; raises RuleErrors holding every problem in every file.

    The compiled rules of the same files' text come from the cache when it has them (compiled.py).
    """
    sources = rule_sources(dirs, builtin)
    return compiled.cached("rules", sources, lambda: _compile(sources))


def _compile(sources: list[tuple[str, str]]) -> list[Rule]:
    rules: list[Rule] = []
    errors: list[RuleError] = []
    with cache.session():  # compile results kept on disk between runs (cache.py)
        for path, text in sources:
            stem = Path(path).stem
            found, errs = _parse_file(path, text, stem)
            rules += found
            errors += errs
    errors += _check_ids(rules)
    if errors:
        raise RuleErrors(errors)
    return rules


def _check_ids(rules: list[Rule]) -> list[RuleError]:
    seen: dict[str, Rule] = {}
    errors = []
    for r in rules:
        if r.id in seen:
            errors.append(RuleError(f"duplicate rule id {r.id!r} (first defined at {seen[r.id].location})", r.location))
        seen[r.id] = r
    known = set(seen)
    for r in rules:
        for other in r.supersedes:
            if other not in known:
                errors.append(RuleError(f"rule {r.id!r} supersedes unknown rule {other!r}", r.location))
    return errors


def selection_names(rule: Rule) -> set[str]:
    """The names --only/--skip choose a rule by: its id, its category and its tags."""
    return {rule.id, rule.info.category, *rule.info.tags}


def select(rules: list[Rule], only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Rule]:
    """Keep rules whose id, tag or category is in `only` (if given) and not in `skip`."""
    out = [r for r in rules if not only or selection_names(r) & set(only)]
    return [r for r in out if not selection_names(r) & set(skip)]
