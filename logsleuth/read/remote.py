"""Stage 0 for a cluster: list inputs through fsspec (local paths, `s3://`, `gs://`, `abfs://`, ...)
and open them on whichever machine runs the task.

A listing yields Units, one per object, in the order a local scan reads the same tree (os.walk's
order, rotated sets oldest first), so a distributed scan feeds its results to the correlator in
the order `-j 1` would. Opening a unit gives the same Inputs the local reader gives: a local path
goes through inputs.expand itself; a remote object is read as a stream (compression found by its
magic bytes, as for local files), and a remote tar archive or journal file, which need a seekable
local file, is first copied to the worker's temp directory. Needs the `dask` extra (fsspec).
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from typing import IO, Any, Iterator, Mapping, Sequence, cast

from logsleuth.errors import Diagnostics, InputError, Location
from logsleuth.read import inputs
from logsleuth.read.decompress import compression, inflate
from logsleuth.read.text import printable

_JOURNAL_MAGIC = b"LPKSHHRH"


@dataclass(frozen=True)
class Unit:
    """One object to read: a local file or a remote object, with what identifies its content."""

    url: str  # what fsspec opens: a local path or `s3://bucket/key`
    size: int
    version: str  # ETag or mtime: part of each task's key, so a changed object is a new task
    named: bool = False  # named by the user, not found below a directory
    options: Mapping[str, Any] = field(default_factory=dict)  # fsspec storage options

    @property
    def name(self) -> str:
        return printable(self.url)

    @property
    def local(self) -> bool:
        return is_local(self.url)


def is_local(path: str) -> bool:
    """Whether `path` names a local file (no protocol, or `file://`)."""
    return "://" not in path or path.startswith("file://")


def _fs(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(url, **dict(options))  # type: ignore[no-any-return]


def list_units(paths: Sequence[str], opts: inputs.ReadOptions, diag: Diagnostics,
               options: Mapping[str, Any] | None = None) -> list[Unit]:
    """The objects named by `paths`, directories and prefixes walked, in a local scan's order."""
    options = dict(options or {})
    found: list[Unit] = []
    for path in paths:
        where = Location(printable(path))
        try:
            fs, root = _fs(path, options)
            info = fs.info(root)
            if info.get("type") == "directory":
                found += _walk(fs, path, root, opts, options)
            else:
                found.append(_unit(path, info, True, options))
        except FileNotFoundError:
            diag.input_error(InputError("no such file, directory or object", where))
        except Exception as exc:  # noqa: BLE001 - no such bucket, no credentials, unknown protocol: each store its own types
            diag.input_error(InputError(f"cannot list: {type(exc).__name__}: {exc}", where))
    return _order_rotated(found)


def _unit(url: str, info: Mapping[str, Any], named: bool, options: Mapping[str, Any]) -> Unit:
    version = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
    return Unit(url, int(info.get("size") or 0), str(version), named, options)


def _walk(fs: Any, given: str, root: str, opts: inputs.ReadOptions, options: Mapping[str, Any]) -> list[Unit]:
    prefix = given.rstrip("/")
    out: list[tuple[list[tuple[int, str]], Unit]] = []
    for path, info in fs.find(root, detail=True).items():
        if info.get("type") != "file":
            continue
        rel = path[len(root.rstrip("/")):].lstrip("/")
        name = rel.rsplit("/", 1)[-1]
        if opts.include and not any(_glob(rel, name, g) for g in opts.include):
            continue
        if any(_glob(rel, name, g) for g in opts.exclude):
            continue
        parts = rel.split("/")
        # os.walk's order: a directory's files (sorted) before its subdirectories (sorted).
        key = [(1, p) for p in parts[:-1]] + [(0, parts[-1])]
        url = os.path.join(prefix, *parts) if is_local(given) else f"{prefix}/{rel}"
        out.append((key, _unit(url, info, False, options)))
    return [u for _key, u in sorted(out, key=lambda kv: kv[0])]


def _glob(rel: str, name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, pattern)


def _order_rotated(units: list[Unit]) -> list[Unit]:
    """As inputs.expand: the order kept, each rotated set together and oldest first."""
    groups: dict[tuple[str, str], list[Unit]] = {}
    for u in units:
        groups.setdefault(inputs.rotation_key(u.url)[0], []).append(u)
    return [u for members in groups.values() for u in sorted(members, key=lambda u: inputs.rotation_key(u.url)[1])]


# --- opening, on the worker -----------------------------------------------------------------------

def unit_inputs(unit: Unit, opts: inputs.ReadOptions, diag: Diagnostics, workdir: str) -> Iterator[inputs.Input]:
    """The Inputs of one unit, as a local scan would make them; `workdir` holds copies of remote
    archives and journal files while they are read (the caller removes it)."""
    if unit.local:
        for inp in inputs.expand([unit.url.removeprefix("file://")], opts, diag):
            inp.named = unit.named and inp.kind != "member"
            yield inp
        return
    try:
        head = _read_at(unit, 0, 1 << 16)
    except OSError as exc:
        diag.input_error(InputError(f"cannot read: {exc}", Location(unit.name), partial=not unit.named))
        return
    if head.startswith(_JOURNAL_MAGIC) or unit.url.endswith((".journal", ".journal~")) or _is_tar(head):
        yield from _copied(unit, opts, diag, workdir)
        return
    yield inputs.Input(unit.name, unit.url, "member", opener=lambda: _open(unit), named=unit.named)


def _is_tar(head: bytes) -> bool:
    """archives.is_tar on an object's first 64 KiB (it reads a local file for a compressed one)."""
    if head[257:262] == b"ustar":
        return True
    kind = compression(head)
    if kind is None:
        return False
    first = b""
    for piece in inflate([head], kind, "", None):  # a fault ends the pieces: not a tar we can tell
        first += piece
        if len(first) >= 512:
            break
    return first[257:262] == b"ustar"


def _copied(unit: Unit, opts: inputs.ReadOptions, diag: Diagnostics, workdir: str) -> Iterator[inputs.Input]:
    """A tar archive or journal file, read from a local copy under its own name."""
    local = os.path.join(tempfile.mkdtemp(dir=workdir), unit.url.rsplit("/", 1)[-1])
    try:
        with _open(unit) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except OSError as exc:
        diag.input_error(InputError(f"cannot read: {exc}", Location(unit.name), partial=not unit.named))
        return
    local_name = printable(local)
    for inp in inputs.expand([local], opts, diag):
        inp.name = unit.name + inp.name[len(local_name):]
        inp.named = unit.named and inp.kind != "member"
        yield inp


def _open(unit: Unit) -> IO[bytes]:
    fs, path = _fs(unit.url, unit.options)
    handle: IO[bytes] = fs.open(path, "rb", block_size=1 << 20)
    return handle


def _read_at(unit: Unit, start: int, size: int) -> bytes:
    with _open(unit) as fh:
        fh.seek(start)
        return fh.read(size)


def reader_at(unit: Unit) -> tuple[IO[bytes], Any]:
    """An open handle on `unit` and a `pread(size, offset)` on it (for entry-aligned cuts)."""
    fh = _open(unit)

    def pread(size: int, offset: int) -> bytes:
        fh.seek(offset)
        return fh.read(size)

    return fh, pread


def open_slice(unit: Unit, start: int, end: int, fmt_name: str, opts: inputs.ReadOptions,
               diag: Diagnostics) -> inputs.Opened | None:
    """Bytes start..end of an uncompressed object, in a format already known (one task's share)."""
    if unit.local:
        return inputs.open_range(unit.url.removeprefix("file://"), fmt_name, start, end, opts, diag)

    def opener() -> IO[bytes]:
        fh = _open(unit)
        fh.seek(start)
        return cast(IO[bytes], _Bounded(fh, end - start))  # read() and close() are all streams.chunks uses

    inp = inputs.Input(unit.name, unit.url, "member", opener=opener, named=True)
    return inputs.open_input(inp, replace(opts, input_format=fmt_name, encoding=opts.encoding), diag)


class _Bounded:
    """The first `left` bytes of a file object, read in its own chunks (an object's byte range)."""

    def __init__(self, fh: IO[bytes], left: int) -> None:
        self.fh, self.left = fh, left

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(want)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.fh.close()
