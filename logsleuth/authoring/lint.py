"""`rules lint`: what loading accepts but a careful reviewer would flag (cost, proof, overlap, regex risk)."""
from __future__ import annotations

import re
import re._constants as C
import re._parser as P
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from logsleuth.ruleset.expr import And, Node, Not, Or
from logsleuth.errors import Location
from logsleuth.match.engine import Engine
from logsleuth.ruleset.loader import Rule
from logsleuth.authoring.examples import example_records, findings_for

_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT}


@dataclass(frozen=True)
class Warning_:
    location: Location
    rule_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.rule_id}: {self.message}"


def _regexes(node: Node) -> Iterator[re.Pattern[str]]:
    if isinstance(node, (And, Or)):
        for n in node.items:
            yield from _regexes(n)
    elif isinstance(node, Not):
        yield from _regexes(node.item)
    elif node.regex is not None:
        yield node.regex


def _nested_repeat(items: Any, inside: bool = False) -> bool:
    """A repeat (max > 1) inside another: catastrophic backtracking waiting to happen."""
    for op, av in items:
        if op in _REPEATS:
            lo, hi, body = av
            many = hi == C.MAXREPEAT or hi > 1
            if many and inside:
                return True
            if _nested_repeat(body, inside or many):
                return True
        elif op == C.SUBPATTERN:
            if _nested_repeat(av[-1], inside):
                return True
        elif op == C.BRANCH:
            if any(_nested_repeat(b, inside) for b in av[1]):
                return True
    return False


def regexes_of(rule: Rule) -> list[re.Pattern[str]]:
    """Every regex a rule uses, its windows' included."""
    exprs = [rule.expr]
    corr = rule.correlation
    for w in (corr.followed_by, corr.not_followed_by) if corr else ():
        if w is not None:
            exprs.append(w.expr)
    return [rx for e in exprs for rx in _regexes(e.tree)]


def lint(rules: Sequence[Rule], others: Sequence[Rule] = ()) -> list[Warning_]:
    """Warnings for `rules`; `others` are further rules whose overlap with them is checked too."""
    out: list[Warning_] = []
    for r in rules:
        def warn(msg: str, rule: Rule = r) -> None:
            out.append(Warning_(rule.location, rule.id, msg))
        if r.expr.literals is None:
            warn("no literal of 3+ characters in `message`: this rule runs on every event and slows every scan")
        for rx in regexes_of(r):
            if _nested_repeat(list(P.parse(rx.pattern, rx.flags))):
                warn(f"nested quantifier in /{rx.pattern}/ can backtrack catastrophically")
        if len(r.examples_match) < 1:
            warn("no `match` example proves this rule fires")
        if len(r.examples_no_match) < 1:
            warn("no `no-match` example shows what it must not catch")
        for field in ("diagnosis", "fix", "why"):
            if not getattr(r.info, field).strip():
                warn(f"empty `{field}`")
    out += _overlaps(list(rules) + [o for o in others if o not in rules])
    return out


def _overlaps(rules: list[Rule]) -> list[Warning_]:
    """Rules that fire on another rule's `match` example without a declared relationship."""
    out = []
    engine = Engine(rules, "python")
    by_id = {r.id: r for r in rules}
    for owner in rules:
        for ex in owner.examples_match:
            fired = {f.rule_id for f in findings_for(engine, example_records(ex))}
            for other_id in sorted(fired - {owner.id}):
                other = by_id[other_id]
                if not _related(owner, other):
                    out.append(Warning_(ex.location, owner.id,
                                        f"rule {other.id!r} also matches this example; make one supersede the other, "
                                        "mark the broader one generic, or sharpen a pattern"))
    return out


def _related(a: Rule, b: Rule) -> bool:
    # A correlated rule (threshold, sequence) deliberately re-reads lines other rules explain.
    return (a.correlation is not None or b.correlation is not None or a.info.generic or b.info.generic or a.id in b.supersedes or b.id in a.supersedes
            or a.info.category == b.info.category)
