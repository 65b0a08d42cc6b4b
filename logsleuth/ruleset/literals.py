"""Required-literal extraction for the engine's prefilter stage: which byte strings must a match contain?

`required_literals(pattern)` returns a set of lower-cased byte strings such that every string the
regex can match (search semantics) contains at least one of them, or None when no such set with
all members of `MIN_LEN` bytes or more can be proved. The engine scans raw blocks for these
literals case-insensitively (see scanner.py) and evaluates a rule only on lines holding one.

The result is conservative by construction: anything the analysis does not understand
(`.`, `\\s`, `\\w`, `\\d`, negated classes, backreferences, conditionals, unbounded or optional
repeats) contributes no literal, and lookarounds and anchors count as the empty string.

Case handling: literals are always lower-cased with ASCII folding only (bytes.lower), so the same
set serves case-sensitive and `(?i)` rules. This assumes the hot path evaluates regexes with
ASCII semantics (bytes patterns or re.ASCII): under Unicode `(?i)`, `k` would also match the
Kelvin sign U+212A. Non-ASCII pattern characters are encoded as UTF-8; inside an ignore-case
scope they contribute nothing, because their other case is a different byte sequence.
Newlines never appear in a literal: the scanner reports hits per line.
"""
from __future__ import annotations

import re
import re._constants as C
import re._parser as P
from dataclasses import dataclass
from itertools import product
from typing import cast

from logsleuth.ruleset import cache

Literals = frozenset[bytes] | None

MIN_LEN = 3
CAP = 64  # most alternatives multiplied out for one node
MAX_CLASS = 16  # most characters a class may expand to
MAX_FIXED_REPEAT = 4  # x{2,4} is multiplied out, x{5} is not
GOOD_LEN = 24  # literals this long are selective enough; beyond it prefer fewer members
# Log lines share long prefixes (`Checking for jobs... `, `Appending trace to coordinator...`),
# so a longer literal predicts far fewer candidate lines than fewer literals do: measured on the
# bench corpus, preferring 8-byte literals made 20% of lines candidates, 24 bytes made 0.1%.
REFINE_GROWTH = 16  # a refining set may have this many times the members of the set it refines

_ZERO_WIDTH = {C.AT, C.ASSERT, C.ASSERT_NOT}
_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT}
_EMPTY: frozenset[bytes] = frozenset({b""})


@dataclass(frozen=True)
class _Info:
    """What a regex node is known to match: all its strings (`exact`) and/or a required set."""

    exact: frozenset[bytes] | None
    required: Literals


_UNKNOWN = _Info(None, None)


def _encode(lits: Literals) -> list[str] | None:
    return None if lits is None else sorted(lit.hex() for lit in lits)


def _decode(value: list[str] | None) -> Literals:
    return None if value is None else frozenset(bytes.fromhex(x) for x in value)


# Half of compiling the bundled rules is this analysis; its results are kept on disk (cache.py).
@cache.memoized("required_literals", _encode, _decode)
def required_literals(pattern: str, ignorecase: bool = False) -> Literals:
    """Literals one of which every match of `pattern` contains (lower-cased), or None.

    Raises re.error if the pattern does not parse.
    """
    parsed = P.parse(pattern, re.IGNORECASE if ignorecase else 0)
    icase = bool(parsed.state.flags & re.IGNORECASE)
    return _best_of(_seq(list(parsed), icase))


def combine_and(sets: list[Literals]) -> Literals:
    """Literals for `a and b and ...`: any one child's set suffices, so pick the best one."""
    return _pick([s for s in sets if s is not None])


def combine_or(sets: list[Literals]) -> Literals:
    """Literals for `a or b or ...`: the union; None if any child (or no child) has none."""
    present = [s for s in sets if s is not None]
    if not sets or len(present) < len(sets):
        return None
    return _valid(frozenset[bytes]().union(*present))


def literal_of_string(s: str, ignorecase: bool = False) -> Literals:
    """Literals for `contains "s"`-style tests on the message.

    With `ignorecase`, non-ASCII characters may fold to other bytes, so only the longest
    ASCII-only run of `s` is used.
    """
    if ignorecase:
        runs = re.split(r"[^\x00-\x7f]+", s)
        s = max(runs, key=len)
    if "\n" in s:
        s = max(s.split("\n"), key=len)
    return _valid(frozenset({s.encode("utf-8").lower()}))


def _minimize(lits: frozenset[bytes]) -> frozenset[bytes]:
    """Drop members that contain another member: the shorter one already implies the hit."""
    by_len = sorted(lits, key=len)
    kept: list[bytes] = []
    for lit in by_len:
        if not any(k in lit for k in kept):
            kept.append(lit)
    return frozenset(kept)


def _valid(lits: frozenset[bytes] | None) -> Literals:
    if not lits:
        return None
    lits = _minimize(lits)
    if min(len(x) for x in lits) < MIN_LEN:
        return None
    return lits


def _score(lits: frozenset[bytes]) -> tuple[int, int, int]:
    shortest = min(len(x) for x in lits)
    return (min(shortest, GOOD_LEN), -len(lits), shortest)


def _pick(candidates: list[frozenset[bytes]]) -> Literals:
    """The best-scored set, then its most selective refinement.

    `Checking for jobs[.]{3} (forbidden|failed)` scores `checking for jobs... ` best (one long
    member), but the healthy poll line `Checking for jobs... received` contains it too; the
    two-member set refining it is far more selective for a small extra cost.
    """
    if not candidates:
        return None
    best = max(candidates, key=_score)
    while True:
        finer = [c for c in candidates if len(c) <= REFINE_GROWTH * len(best) and _refines(c, best)]
        if not finer:
            return best
        best = max(finer, key=_score)


def _refines(finer: frozenset[bytes], coarse: frozenset[bytes]) -> bool:
    """Every member of `finer` contains a member of `coarse`: a hit of `finer` implies one of `coarse`."""
    return finer != coarse and all(any(c in f for c in coarse) for f in finer)


def _best_of(info: _Info) -> Literals:
    """The best required set of a node: its own `required`, or its exact strings."""
    cands = [c for c in (info.required, _valid(info.exact)) if c is not None]
    return _pick(cands)


def _node(op: object, av: object, icase: bool) -> _Info:
    # re._parser is private and has no stubs; the shape of a node's argument depends on its
    # opcode (Lib/re/_parser.py), so each branch casts to the shape it reads.
    if op is C.LITERAL:
        return _Info(_char(cast(int, av), icase), None)
    if op is C.IN:
        return _Info(_charset(cast("list[tuple[object, object]]", av), icase), None)
    if op in _ZERO_WIDTH:
        return _Info(_EMPTY, None)
    if op is C.SUBPATTERN:
        _group, add, delete, sub = cast("tuple[int | None, int, int, P.SubPattern]", av)
        inner = (icase or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE
        return _seq(list(sub), inner)
    if op is C.ATOMIC_GROUP:
        return _seq(list(cast("P.SubPattern", av)), icase)
    if op is C.BRANCH:
        _none, branches = cast("tuple[None, list[P.SubPattern]]", av)
        return _branch(branches, icase)
    if op in _REPEATS:
        lo, hi, sub = cast("tuple[int, int, P.SubPattern]", av)
        return _repeat(lo, hi, sub, icase)
    # ANY, NOT_LITERAL, GROUPREF, GROUPREF_EXISTS and anything newer: nothing is known.
    return _UNKNOWN


def _char(code: int, icase: bool) -> frozenset[bytes] | None:
    if code == 10:  # a literal never spans lines: the scanner works per line
        return None
    if code < 128:
        return frozenset({bytes([code]).lower()})
    if icase:
        return None
    return frozenset({chr(code).encode("utf-8")})


def _charset(items: list[tuple[object, object]], icase: bool) -> frozenset[bytes] | None:
    codes: set[int] = set()
    for op, av in items:
        if op is C.LITERAL:
            codes.add(cast(int, av))
            continue
        if op is not C.RANGE:  # NEGATE, CATEGORY (\d \s \w)
            return None
        lo, hi = cast("tuple[int, int]", av)
        if hi - lo >= MAX_CLASS:  # big ranges
            return None
        codes.update(range(lo, hi + 1))
    out: set[bytes] = set()
    for code in codes:
        one = _char(code, icase)
        if one is None:
            return None
        out |= one
    return frozenset(out) if len(out) <= MAX_CLASS else None


def _branch(branches: list[P.SubPattern], icase: bool) -> _Info:
    infos = [_seq(list(b), icase) for b in branches]
    exact: frozenset[bytes] | None = None
    exacts = [i.exact for i in infos if i.exact is not None]
    if len(exacts) == len(infos):
        union = frozenset[bytes]().union(*exacts)
        exact = union if len(union) <= CAP else None
    return _Info(exact, combine_or([_best_of(i) for i in infos]))


def _repeat(lo: int, hi: int, sub: P.SubPattern, icase: bool) -> _Info:
    inner = _seq(list(sub), icase)
    if hi == 0:
        return _Info(_EMPTY, None)
    exact = None
    if inner.exact is not None and hi is not C.MAXREPEAT and hi <= MAX_FIXED_REPEAT:
        exact = _power_union(inner.exact, lo, hi)
    required = None
    if lo >= 1:
        cands = [_best_of(inner)]
        if inner.exact is not None and lo <= MAX_FIXED_REPEAT:
            cands.append(_valid(_power_union(inner.exact, lo, lo)))
        required = _pick([c for c in cands if c is not None])
    return _Info(exact, required)


def _power_union(strings: frozenset[bytes], lo: int, hi: int) -> frozenset[bytes] | None:
    out: set[bytes] = set()
    for k in range(lo, hi + 1):
        if len(strings) ** k > CAP:
            return None
        out.update(b"".join(p) for p in product(strings, repeat=k))
        if len(out) > CAP:
            return None
    return frozenset(out)


def _cross(a: frozenset[bytes], b: frozenset[bytes]) -> frozenset[bytes] | None:
    if len(a) * len(b) > CAP:
        return None
    return frozenset(x + y for x in a for y in b)


def _seq(items: list[tuple[object, object]], icase: bool) -> _Info:
    """A concatenation: multiply out every run of exact nodes up to CAP, keep the best set."""
    infos = _merge_singles([_node(op, av, icase) for op, av in items])
    cands = [i.required for i in infos if i.required is not None]
    for start in range(len(infos)):
        acc: frozenset[bytes] | None = _EMPTY
        for info in infos[start:]:
            if info.exact is None or acc is None:
                break
            acc = _cross(acc, info.exact)
            good = _valid(acc)
            if good is not None:
                cands.append(good)
    return _Info(_whole(infos), _pick(cands))


def _merge_singles(infos: list[_Info]) -> list[_Info]:
    """Join neighbours that each match one fixed string, so runs are multiplied out in few steps."""
    out: list[_Info] = []
    for info in infos:
        prev = out[-1] if out else None
        if prev and prev.exact is not None and info.exact is not None and len(prev.exact) == len(info.exact) == 1:
            out[-1] = _Info(_cross(prev.exact, info.exact), prev.required)
        else:
            out.append(info)
    return out


def _whole(infos: list[_Info]) -> frozenset[bytes] | None:
    acc: frozenset[bytes] | None = _EMPTY
    for info in infos:
        if info.exact is None or acc is None:
            return None
        acc = _cross(acc, info.exact)
    return acc
