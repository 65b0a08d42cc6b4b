"""Rules stage: whole compiled rule sets kept on disk, so a warm start parses no YAML and no expression.

Composing the rule files' YAML, parsing their expressions with lark and compiling their regexes
is most of a short scan's time, and every CI job, `--live` restart and file of an `xargs` batch
paid it again. The result depends only on the rule files' text and on the code that compiles
them, so `cached` keeps it in the compile cache directory (cache.py), one entry per set of rule
file paths:

* the key: FORMAT, logsleuth's version, the Python build, a digest of the compiling code (this
  package's sources and grammar, model.py, errors.py, read/config_toml.py) and every rule file's
  path and text; an entry for another key is rebuilt and replaced;
* the entry is a pickle of the compiled rules, unpickled only after cache.read_blob has checked its
  header, key, SHA-256 and owner, and then only with the classes `_Unpickler` allows;
* closures do not pickle: an Expression is stored as its text, tree, literals and captures, and
  its predicate is rebuilt from the tree (predicates.predicate, ~2 ms for the bundled rules);
* a compiled regex is stored with the SRE program `re` compiled it to and restored with
  `_sre.compile`, which re.compile calls last: no pattern is parsed again. The key holds the Python
  build, so the program is one this interpreter wrote; each one is checked at write time to
  compile to a pattern equal to the original (else it is stored as re.compile's arguments).

A load that finds rule errors is not stored: it raises before anything is written.
"""
from __future__ import annotations

import array
import copyreg
import gc
import hashlib
import io
import pickle
import re
import sys
import types
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from logsleuth import __version__
from logsleuth.ruleset import cache, predicates
from logsleuth.ruleset.expr import Expression, Node, Predicate

FORMAT = "logsleuth-rules/1"
T = TypeVar("T")

_HERE = Path(__file__).resolve().parent
# The code whose output is pickled: a change to any of it makes older entries foreign.
_CODE = (*sorted(_HERE.glob("*.py")), _HERE / "dsl.lark", _HERE.parent / "model.py", _HERE.parent / "errors.py",
         _HERE.parent / "read" / "config_toml.py")


def keys(kind: str, sources: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """(entry name, key): the name depends on `kind` and the rule paths only, so an edited rule file
    replaces its set's entry instead of adding one; the key on everything the compiled rules depend on."""
    build = b"\0".join([FORMAT.encode(), __version__.encode(), sys.version.encode(), sys.implementation.cache_tag.encode()])
    name = hashlib.sha256(build)  # two Pythons sharing a home directory keep an entry each
    key = hashlib.sha256(build + b"\0" + cache.code_digest(_CODE))
    for path, text in sources:
        name.update(path.encode() + b"\0")
        key.update(path.encode() + b"\0" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    return f"{kind}-{name.hexdigest()[:20]}.pickle", key.hexdigest()


def cached(kind: str, sources: Sequence[tuple[str, str]], build: Callable[[], T]) -> T:
    """`build()`'s compiled rules (or expression, ...) for these sources (path, text), from the
    cache when an entry of `kind` for them is there and sound; else built, stored and returned.
    Exceptions of `build` propagate, and nothing is stored."""
    name, key = keys(kind, sources)
    payload = cache.read_blob(name, key)
    if payload is not None:
        found = _loads(payload)
        if found is not None:
            return found  # type: ignore[no-any-return]
    result = build()
    if cache.blob_path(name) is not None:
        data = _dumps(result)
        if data is not None:
            cache.write_blob(name, key, data)
    return result


# --- pickling -----------------------------------------------------------------------------

def _dumps(obj: Any) -> bytes | None:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    table = copyreg.dispatch_table.copy()
    table.update({re.Pattern: _reduce_pattern, Expression: _reduce_expression})
    pickler.dispatch_table = table
    try:
        pickler.dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None  # something that does not pickle (a user's predicate type): no entry, still correct
    return buf.getvalue()


# What an entry may name: our own types and the few builtins they hold. Anything else means the
# file is not one this code wrote, whatever its hash says.
_ALLOWED = {("builtins", "frozenset"), ("builtins", "set"), ("builtins", "object"), ("copyreg", "_reconstructor"),
            ("re", "compile"), ("re", "RegexFlag")}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("logsleuth.") or (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a rule cache entry")


def _loads(payload: bytes) -> Any:
    # The collector would walk the young objects over and over while a few thousand are created
    # at once (a third of the load time, measured); nothing here makes a cycle worth collecting.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Unpickler(io.BytesIO(payload)).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError, TypeError,
            ValueError, re.error):
        return None  # written by other code despite the key (or unreadable): rebuilt
    finally:
        if enabled:
            gc.enable()


def _reduce_expression(expr: Expression) -> tuple[Any, ...]:
    # A predicate that is an object (loader's config wrapper) pickles itself; a closure is rebuilt.
    kept = None if isinstance(expr.predicate, types.FunctionType) else expr.predicate
    return _restore_expression, (expr.text, expr.tree, kept, expr.literals, expr.captures)


def _restore_expression(text: str, tree: Node, kept: Predicate | None, literals: Any,
                        captures: tuple[str, ...]) -> Expression:
    return Expression(text, tree, kept if kept is not None else predicates.predicate(tree), literals, captures)


# SRE programs as 32-bit words (the code unit of CPython 3.11+), packed: a list of ints would
# pickle each word on its own, three times the size and the load time.
_WORDS = "I" if array.array("I").itemsize == 4 else "L"


def _reduce_pattern(rx: re.Pattern[Any]) -> tuple[Any, ...]:
    args = _sre_arguments(rx)
    if args is None:
        return re.compile, (rx.pattern, rx.flags)
    return _restore_pattern, args


def _sre_arguments(rx: re.Pattern[Any]) -> tuple[Any, ...] | None:
    """What re's compiler hands `_sre.compile` for `rx`, checked to rebuild an equal pattern."""
    try:
        from importlib import import_module
        from re import _parser

        _compiler = import_module("re._compiler")  # typeshed has no stubs for it

        parsed = _parser.parse(rx.pattern, rx.flags)
        code = [int(word) for word in _compiler._code(parsed, rx.flags)]
        groupindex = dict(parsed.state.groupdict)
        indexgroup: list[str | None] = [None] * parsed.state.groups
        for group_name, i in groupindex.items():
            indexgroup[i] = group_name
        args = (rx.pattern, rx.flags | parsed.state.flags, array.array(_WORDS, code).tobytes(),
                parsed.state.groups - 1, groupindex, tuple(indexgroup))
        if _restore_pattern(*args) != rx:  # same flags, pattern and program, or not stored this way
            return None
        return args
    except (ImportError, AttributeError, TypeError, ValueError, OverflowError, re.error):
        return None  # another Python's internals: the pattern is compiled again on load


def _restore_pattern(pattern: Any, flags: int, code: bytes, groups: int, groupindex: dict[str, int],
                     indexgroup: tuple[str | None, ...]) -> re.Pattern[Any]:
    import _sre

    words = array.array(_WORDS)
    words.frombytes(code)
    compiled: re.Pattern[Any] = _sre.compile(pattern, flags, words.tolist(), groups, groupindex, indexgroup)
    return compiled
