"""Block scanners for the engine's prefilter stage: which lines of a raw block hold which literals?

A scanner is built once from the literals of every rule (see literals.py) and then finds, in one
pass over a newline-aligned byte block, each line containing at least one literal,
case-insensitively (ASCII folding only, as `bytes.lower`). Backends:

* ``hyperscan``: one Vectorscan block-mode database (PyPI `hyperscan`, extra `fast`); the match
  callback only records `(end, id)`. About 10x the pure-Python speed (../shared/perf.md).
* ``python``: lower the block, then `bytes.find` per literal (or per key shared by several
  literals), skipping to the end of the line after each hit; uses pyahocorasick instead when it
  happens to be importable (about 2.5x faster with ~200 literals, flat in their number).

Both report identical results (tests/test_scanner.py checks this against a naive reference).
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Candidate = tuple[int, int, frozenset[int]]
# python: pyahocorasick when installed (the `fast` extra), else stdlib; stdlib: bytes.find only.
BACKENDS: tuple[str, ...] = ("hyperscan", "python", "stdlib")


class Scanner(Protocol):
    name: str

    def candidates(self, block: bytes) -> list[Candidate]:
        """(line_start, line_end, ids of the literals found on that line) for each line of `block`
        that contains at least one literal, case-insensitively; sorted by line_start; line_end is the
        index of the terminating b"\\n" (or len(block)). Each line reported once."""

    def next_line(self, block: bytes, start: int, accept: frozenset[int]) -> Candidate | None:
        """The first line at or after offset `start` (a line start) holding a literal in `accept`,
        with every literal id found on it; None when there is none. Scans only as far as needed."""


def make_scanner(literals: Sequence[bytes], backend: str = "auto") -> Scanner:
    """A scanner for `literals` (ids are their indexes); `auto` picks hyperscan when importable.

    Raises ValueError for an unknown backend or an empty or multi-line literal, and ImportError
    when `hyperscan` is asked for explicitly but is not installed.
    """
    lits = [_checked(lit) for lit in literals]
    if backend not in (*BACKENDS, "auto"):
        raise ValueError(f"unknown scanner backend {backend!r}; choose from auto, {', '.join(BACKENDS)}")
    if backend in ("auto", "hyperscan") and _hyperscan_available(required=backend == "hyperscan"):
        return HyperscanScanner(lits) if lits else EmptyScanner("hyperscan")
    if not lits:
        return EmptyScanner("python")
    return AhoCorasickScanner(lits) if backend != "stdlib" and _aho_available() else FindScanner(lits)


def auto_backend() -> str:
    """The backend `auto` picks here: hyperscan when importable (the default install has it where
    PyPI has wheels), else the pure-Python scanner (pyahocorasick when importable)."""
    return "hyperscan" if _hyperscan_available(required=False) else "python"


def _checked(lit: bytes) -> bytes:
    if not lit or b"\n" in lit:
        raise ValueError(f"scanner literals must be non-empty single-line byte strings, not {lit!r}")
    return lit.lower()


def _hyperscan_available(required: bool) -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        if required:
            raise
        return False
    return True


def _aho_available() -> bool:
    try:
        import ahocorasick  # noqa: F401
    except ImportError:
        return False
    return True


class EmptyScanner:
    """No literals: no line is a candidate."""

    def __init__(self, name: str) -> None:
        self.name = name

    def candidates(self, block: bytes) -> list[Candidate]:
        return []

    def next_line(self, block: bytes, start: int, accept: frozenset[int]) -> Candidate | None:
        return None


_FIRST_WINDOW = 16 << 10


def next_line_by_windows(scanner: Scanner, block: bytes, start: int,
                         accept: frozenset[int]) -> Candidate | None:
    """`Scanner.next_line` from `candidates` over growing windows cut at line ends: a recovery
    line is usually a few lines away, and scanning the rest of a 1 MiB block for it each time a
    rule fails would cost more than the block's own scan."""
    size = _FIRST_WINDOW
    while start < len(block):
        end = block.find(b"\n", start + size)
        end = len(block) if end < 0 else end + 1
        for line_start, line_end, ids in scanner.candidates(block[start:end]):
            if not accept.isdisjoint(ids):
                return (start + line_start, start + line_end, ids)
        start, size = end, size * 4
    return None


def _collect(hits: dict[int, tuple[int, set[int]]]) -> list[Candidate]:
    return [(start, end, frozenset(ids)) for start, (end, ids) in sorted(hits.items())]


class FindScanner:
    """Pure stdlib: `bytes.find` over the lowered block, one pass per *key* (~4 GB/s each).

    A pass costs the same for every key, so literals sharing a 12-byte substring share one key
    (rules repeat long phrases: `appending trace to coordinator... failed|error|range mismatch`);
    each line a shared key hits is checked for the group's literals. Measured on the bench corpus
    and the loghub samples: 200 literals -> 83 keys, +30-45% throughput. Shorter keys group more
    literals but hit so many lines (`failed`, `onnect`) that checking them costs more than it saves.
    """

    name = "python"

    def __init__(self, literals: list[bytes], key_len: int = 12) -> None:
        self.literals = literals
        self.plan = _group_by_key(literals, key_len)

    def candidates(self, block: bytes) -> list[Candidate]:
        low = block.lower()
        hits: dict[int, tuple[int, set[int]]] = {}
        for key, members in self.plan:
            pos = low.find(key)
            while pos != -1:
                start = low.rfind(b"\n", 0, pos) + 1
                end = low.find(b"\n", pos)
                end = len(low) if end == -1 else end
                if len(members) == 1:
                    hits.setdefault(start, (end, set()))[1].add(members[0][0])
                else:
                    line = low[start:end]
                    found = [lid for lid, lit in members if lit in line]
                    if found:
                        hits.setdefault(start, (end, set()))[1].update(found)
                # One find per hit line: a line with a thousand hits costs no more than one.
                pos = low.find(key, end + 1)
        return _collect(hits)

    def next_line(self, block: bytes, start: int, accept: frozenset[int]) -> Candidate | None:
        return next_line_by_windows(self, block, start, accept)


def _group_by_key(literals: list[bytes], key_len: int) -> list[tuple[bytes, tuple[tuple[int, bytes], ...]]]:
    """Greedy cover: the substring shared by most uncovered literals keys them (widened as far as
    they all allow, so a lone literal keys itself)."""
    subs = [_substrings(lit, key_len) for lit in literals]
    uncovered = set(range(len(literals)))
    plan: list[tuple[bytes, tuple[tuple[int, bytes], ...]]] = []
    while uncovered:
        counts = Counter(sub for i in uncovered for sub in subs[i])
        key = max(counts, key=lambda sub: (counts[sub], sub))
        if counts[key] == 1:  # nothing left is shared
            plan += [(literals[i], ((i, literals[i]),)) for i in sorted(uncovered)]
            break
        members = sorted(i for i in uncovered if key in literals[i])
        key = _widen(key, [literals[i] for i in members])
        plan.append((key, tuple((i, literals[i]) for i in members)))
        uncovered.difference_update(members)
    return plan


def _widen(key: bytes, members: list[bytes]) -> bytes:
    """Grow `key` while every member still contains it: `find` skips further with a longer needle."""
    first = members[0]
    lo = first.find(key)
    hi = lo + len(key)
    while lo > 0 and all(first[lo - 1 : hi] in m for m in members):
        lo -= 1
    while hi < len(first) and all(first[lo : hi + 1] in m for m in members):
        hi += 1
    return first[lo:hi]


def _substrings(lit: bytes, size: int) -> set[bytes]:
    size = min(size, len(lit))
    return {lit[i : i + size] for i in range(len(lit) - size + 1)}


class AhoCorasickScanner:
    """pyahocorasick when present: one automaton pass over the lowered block, latin-1 decoded
    (the PyPI wheel is built for str keys; latin-1 maps every byte to one code point)."""

    name = "python"

    def __init__(self, literals: list[bytes]) -> None:
        import ahocorasick

        self.automaton = ahocorasick.Automaton()
        for lid, lit in enumerate(literals):
            key = lit.decode("latin-1")
            ids = self.automaton.get(key, ())
            self.automaton.add_word(key, (*ids, lid))  # duplicate literals keep every id
        self.automaton.make_automaton()

    def candidates(self, block: bytes) -> list[Candidate]:
        # One pass over the whole block: restarting `iter` per line re-reads the block each time.
        low = block.lower().decode("latin-1")
        out: list[Candidate] = []
        start = end = -1
        ids: set[int] = set()
        for last, found in self.automaton.iter(low):  # `last`: index of a hit's final character
            if last > end:
                if ids:
                    out.append((start, end, frozenset(ids)))
                start = low.rfind("\n", 0, last) + 1
                end = low.find("\n", last)
                end = len(low) if end == -1 else end
                ids = set()
            ids.update(found)
        if ids:
            out.append((start, end, frozenset(ids)))
        return out

    def next_line(self, block: bytes, start: int, accept: frozenset[int]) -> Candidate | None:
        return next_line_by_windows(self, block, start, accept)


class HyperscanScanner:
    """Vectorscan block-mode database of all literals, compiled once, caseless."""

    name = "hyperscan"

    def __init__(self, literals: list[bytes]) -> None:
        import hyperscan

        # Compiling the bundled rules' literals takes ~15 ms, loading the serialised database
        # ~0.1 ms: it is kept in the compile cache, keyed by the literals and the library build.
        # A few literals (one rule's examples, `rules test`) compile faster than a cache lookup.
        name, key = _database_key(literals)
        stored = len(literals) >= _CACHE_MIN_LITERALS
        cached = _load_database(name, key, literals) if stored else None
        if cached is not None:
            self.db = cached
            return
        # \xHH for every byte: no literal character can be read as regex syntax.
        exprs = ["".join(f"\\x{b:02x}" for b in lit).encode("ascii") for lit in literals]
        self.db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        # Plain CASELESS: SINGLEMATCH would report a literal once per block, not once per line.
        self.db.compile(
            expressions=exprs,
            ids=list(range(len(exprs))),
            elements=len(exprs),
            flags=[hyperscan.HS_FLAG_CASELESS] * len(exprs),
        )
        from logsleuth.ruleset import cache

        if stored and cache.blob_path(name) is not None:
            cache.write_blob(name, key, hyperscan.dumpb(self.db))

    def candidates(self, block: bytes) -> list[Candidate]:
        ends: list[tuple[int, int]] = []
        on_match: Callable[..., None] = lambda lid, _s, end, _f, _c: ends.append((end, lid))  # noqa: E731
        self.db.scan(block, match_event_handler=on_match)
        return _lines_of(block, sorted(ends))

    def next_line(self, block: bytes, start: int, accept: frozenset[int]) -> Candidate | None:
        import hyperscan

        found: list[int] = []

        def on_match(lid: int, _s: int, end: int, _f: int, _c: object) -> bool:
            if lid in accept:
                found.append(end)
                return True  # stop: the first such line is all that is asked for
            return False

        try:
            # A view, not a slice: no copy of the block's tail per search (the stubs say bytes only).
            view: Any = memoryview(block)[start:]
            self.db.scan(view, match_event_handler=on_match)
        except hyperscan.ScanTerminated:
            pass
        if not found:
            return None
        hit = start + found[0]
        line_start = block.rfind(b"\n", 0, hit) + 1
        line_end = block.find(b"\n", hit)
        line_end = len(block) if line_end < 0 else line_end
        ids: set[int] = set()
        self.db.scan(block[line_start:line_end], match_event_handler=lambda lid, *_: ids.add(lid))
        return (line_start, line_end, frozenset(ids))


_DB_FORMAT = b"vectorscan-literals/1 caseless block"
_CACHE_MIN_LITERALS = 64  # 64 literals compile in ~2.5 ms, 750 (the bundled rules) in ~15 ms


def _database_key(literals: list[bytes]) -> tuple[str, str]:
    """(cache entry name, key) of the database for `literals`: the key also holds the hyperscan
    module's version and the machine, since a serialised database is only good for the library
    and CPU family that wrote it (a shared home directory may be read by other machines)."""
    import hashlib

    import hyperscan

    h = hashlib.sha256(b"\0".join([_DB_FORMAT, str(getattr(hyperscan, "__version__", "?")).encode(),
                                   os.uname().machine.encode() if hasattr(os, "uname") else b"?"]))
    for lit in literals:
        h.update(len(lit).to_bytes(4, "little") + lit)
    key = h.hexdigest()
    return f"vectorscan-{key[:20]}.db", key


def _load_database(name: str, key: str, literals: list[bytes]) -> Any:
    """The cached database for `literals`, or None when there is none or it fails its self-test."""
    import hyperscan

    from logsleuth.ruleset import cache

    data = cache.read_blob(name, key)
    if data is None:
        return None
    try:
        db = hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
        db.scratch = hyperscan.Scratch(db)  # loadb leaves none (python-hyperscan issue #153)
        # Self-test, ~0.3 ms: each literal on its own line must be found, so a database for other
        # literals or for a CPU it cannot run on is never used.
        found: set[int] = set()
        db.scan(b"\n".join(literals), match_event_handler=lambda lid, *_: found.add(lid))
    except hyperscan.error:
        return None
    return db if found == set(range(len(literals))) else None


def _lines_of(block: bytes, ends: list[tuple[int, int]]) -> list[Candidate]:
    """Map sorted (end offset, id) hits to line spans; literals never contain a newline."""
    out: list[Candidate] = []
    start = end = -1
    ids: set[int] = set()
    for hit_end, lid in ends:
        if hit_end > end:
            if ids:
                out.append((start, end, frozenset(ids)))
            start = block.rfind(b"\n", 0, hit_end) + 1
            end = block.find(b"\n", hit_end)
            end = len(block) if end == -1 else end
            ids = set()
        ids.add(lid)
    if ids:
        out.append((start, end, frozenset(ids)))
    return out
