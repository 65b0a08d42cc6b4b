"""Rules stage: a disk cache for what compiling the rules recomputes at every start.

Deriving each regex's required literals (literals.py, a walk of `re`'s parse tree) is half of
the time it takes to compile the bundled rules, and every CI job, `--live` restart and file of an
`xargs` batch pays it again. The results depend only on the pattern and on logsleuth's own code,
so they are memoized to one JSON file per code version in the user cache directory:

* location: `$LOGSLEUTH_CACHE_DIR`, else `$XDG_CACHE_HOME/logsleuth`, else `~/.cache/logsleuth`;
  `LOGSLEUTH_NO_CACHE=1` (the CLI's `--no-cache`) turns it off;
* the file name holds a key over logsleuth's version and the source of the memoized functions'
  modules, so a changed rule compiler never reads an older cache;
* the file is JSON (never pickle: nothing in it runs), carries that key and a SHA-256 of its
  payload, and anything else (a corrupt, truncated or foreign file) is ignored and rebuilt;
* writes go to a temporary file renamed over the old one, so concurrent runs each see a whole
  file, and the last writer wins with a superset of what it read.

Memoization is active only inside `session()` (the loader opens one); elsewhere the functions
run as written, so tests and library calls need no cache.

The same directory holds binary entries (`read_blob`/`write_blob`): the whole compiled rule set
(compiled.py) and the Vectorscan databases (match/scanner.py). Each file starts with a header
line naming the format, the entry's key and a SHA-256 of the rest, and is believed only when all
three agree and it belongs to this user, writable by no one else (a pickle runs code when loaded).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from functools import cache, wraps
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from logsleuth import __version__

FORMAT = "logsleuth-compile-cache/1"
MAX_ENTRIES = 20_000
_SOURCES = ("literals.py",)  # modules whose functions are memoized: their code is in the key

F = TypeVar("F", bound=Callable[..., Any])


class _Store:
    def __init__(self, path: Path | None, key: str) -> None:
        self.path, self.key = path, key
        self.tables: dict[str, dict[str, Any]] = {}
        self.used: dict[str, set[str]] = {}
        self.dirty = False
        self.hits = self.misses = 0


_active: _Store | None = None


def cache_dir() -> Path | None:
    """Where the cache lives, or None when it is turned off."""
    if os.environ.get("LOGSLEUTH_NO_CACHE", "") not in ("", "0"):
        return None
    explicit = os.environ.get("LOGSLEUTH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "logsleuth"


@cache
def code_digest(paths: tuple[Path, ...]) -> bytes:
    """A digest of logsleuth's version and these source files: what code produced a cached result
    (an entry of other code never matches); read once a run."""
    h = hashlib.sha256(__version__.encode())
    for path in paths:
        h.update(path.name.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:  # an install without sources (zipapp, .pyc only): the version must do
            h.update(b"?")
    return h.digest()


def code_key() -> str:
    """The digest of the memoized code (_SOURCES), for the compile-*.json file's name and key."""
    here = Path(__file__).parent
    return code_digest(tuple(here / name for name in _SOURCES)).hex()[:24]


def _read(path: Path, key: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(64 << 20))
        payload = doc["payload"]
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        if doc.get("format") != FORMAT or doc.get("key") != key or doc.get("sha256") != hashlib.sha256(body).hexdigest():
            return {}
        if not isinstance(payload, dict) or not all(isinstance(t, dict) for t in payload.values()):
            return {}
        return payload
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # absent, unreadable, corrupt or foreign: rebuilt by this run


def _write(store: _Store) -> None:
    assert store.path is not None
    payload = store.tables
    if sum(len(t) for t in payload.values()) > MAX_ENTRIES:  # edited rules leave old patterns behind
        payload = {name: {k: v for k, v in t.items() if k in store.used.get(name, ())} for name, t in payload.items()}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    doc = {"format": FORMAT, "key": store.key, "sha256": hashlib.sha256(body).hexdigest(), "payload": payload}
    try:
        store.path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # only when writing: a warm run writes nothing

        fd, tmp = tempfile.mkstemp(prefix=".compile-", dir=store.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, sort_keys=True, separators=(",", ":"))
            os.replace(tmp, store.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # a read-only home or a full disk costs speed, never the scan


@contextlib.contextmanager
def session() -> Iterator[_Store]:
    """Memoize into the disk cache while the block runs; save what was added at the end."""
    global _active
    if _active is not None:  # nested (a loader inside a loader): the outer session saves
        yield _active
        return
    where = cache_dir()
    key = code_key()
    store = _Store(where / f"compile-{key}.json" if where else None, key)
    if store.path is not None:
        store.tables = _read(store.path, key)
    _active = store
    try:
        yield store
    finally:
        _active = None
        if store.dirty and store.path is not None:
            _write(store)


def memoized(table: str, encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> Callable[[F], F]:
    """Memoize a pure function of JSON-able arguments in the active session's `table`;
    `encode`/`decode` turn its result into JSON and back."""
    def wrap(fn: F) -> F:
        @wraps(fn)
        def cached(*args: Any, **kwargs: Any) -> Any:
            store = _active
            if store is None:
                return fn(*args, **kwargs)
            entries = store.tables.setdefault(table, {})
            arg_key = json.dumps([args, kwargs], sort_keys=True, separators=(",", ":"))
            store.used.setdefault(table, set()).add(arg_key)
            if arg_key in entries:
                try:
                    value = decode(entries[arg_key])
                    store.hits += 1
                    return value
                except (TypeError, ValueError, AttributeError):
                    pass  # a well-formed file with a value of the wrong shape: recompute it
            store.misses += 1
            result = fn(*args, **kwargs)
            entries[arg_key] = encode(result)
            store.dirty = True
            return result
        return cached  # type: ignore[return-value]
    return wrap


# --- binary entries -------------------------------------------------------------------------

BLOB_FORMAT = b"logsleuth-cache-blob/1"
MAX_BLOB_BYTES = 256 << 20
KEEP_BLOBS = 8  # entries of one kind kept: a few rule sets (--rules dirs, edits) in turn stay warm


def blob_path(name: str) -> Path | None:
    """Where entry `name` lives, or None when the cache is off."""
    where = cache_dir()
    return where / name if where is not None else None


def read_blob(name: str, key: str) -> bytes | None:
    """The payload of entry `name` when it is whole, ours and written for `key`; else None.

    Absent, unreadable, truncated, edited, foreign (another key or format) or not owned by this
    user: all None, and the caller rebuilds and rewrites the entry.
    """
    path = blob_path(name)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
                return None  # another user's file, or one others may write: never unpickled
            if st.st_size > MAX_BLOB_BYTES:
                return None
            data = f.read(MAX_BLOB_BYTES + 1)
    except OSError:
        return None
    head, nl, payload = data.partition(b"\n")
    fields = head.split(b" ")
    if not nl or len(fields) != 3 or fields[0] != BLOB_FORMAT or fields[1] != key.encode():
        return None
    if fields[2] != hashlib.sha256(payload).hexdigest().encode():
        return None
    return payload


def write_blob(name: str, key: str, payload: bytes, keep: int = KEEP_BLOBS) -> None:
    """Store entry `name` for `key`, atomically (a concurrent reader sees the old file or the new
    one, whole); then drop the oldest entries of its kind (the name up to its first `-`) beyond
    `keep`. A read-only or full disk costs speed, never the scan."""
    path = blob_path(name)
    if path is None:
        return
    head = b" ".join([BLOB_FORMAT, key.encode(), hashlib.sha256(payload).hexdigest().encode()]) + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".blob-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head)
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(path, keep)
    except OSError:
        pass


def _prune(path: Path, keep: int) -> None:
    kind = path.name.split("-", 1)[0] + "-"
    entries = []
    for p in path.parent.iterdir():
        if p.name.startswith(kind) and p != path:
            with contextlib.suppress(OSError):
                entries.append((p.stat().st_mtime, p))
    entries.sort(reverse=True)
    for _mtime, old in entries[keep - 1:]:
        with contextlib.suppress(OSError):
            old.unlink()
