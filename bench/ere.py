"""Translate a Python regex into a POSIX ERE for `grep -E`, by regenerating it from re._parser's tree.

Case-insensitive patterns become `[xX]` classes (one pattern file cannot mix `grep -i` and case-
sensitive patterns), `\\d` becomes `[0-9]`, `\\s` `[[:space:]]`, `\\w` `[[:alnum:]_]`, `(?:...)` and
named groups become plain groups (backreferences are renumbered), lazy and possessive repeats
become greedy ones (same set of matching *lines*). Lookarounds and conditionals have no ERE form:
`Untranslatable` is raised and the caller leaves that regex out (and says so).
"""
from __future__ import annotations

import re
import re._constants as C
import re._parser as P

_SPECIAL = set(".[]()*+?{}|^$\\")
_CATEGORY = {C.CATEGORY_DIGIT: "0-9", C.CATEGORY_SPACE: "[:space:]", C.CATEGORY_WORD: "[:alnum:]_"}
_NOT_CATEGORY = {C.CATEGORY_NOT_DIGIT: "[^0-9]", C.CATEGORY_NOT_SPACE: "[^[:space:]]",
                 C.CATEGORY_NOT_WORD: "[^[:alnum:]_]"}
_AT = {C.AT_BEGINNING: "^", C.AT_BEGINNING_STRING: "^", C.AT_END: "$", C.AT_END_STRING: "$",
       C.AT_BOUNDARY: "\\b", C.AT_NON_BOUNDARY: "\\B"}


class Untranslatable(ValueError):
    pass


def to_ere(pattern: str, ignorecase: bool = False) -> str:
    parsed = P.parse(pattern, re.IGNORECASE if ignorecase else 0)
    state = _State(bool(parsed.state.flags & re.IGNORECASE))
    return state.seq(list(parsed))


class _State:
    def __init__(self, icase: bool) -> None:
        self.icase = icase
        self.groups: dict[int, int] = {}  # python group number -> ERE group number
        self.count = 0

    def open_group(self) -> None:
        self.count += 1

    def seq(self, items: list) -> str:
        return "".join(self.node(op, av) for op, av in items)

    def node(self, op, av) -> str:  # noqa: C901 - one branch per opcode reads best
        if op is C.LITERAL:
            return self.literal(av)
        if op is C.NOT_LITERAL:
            if av == 10:  # [^\n]: grep matches within one line, where every character is not a newline
                return "."
            return _bracket({chr(av)}, [], negate=True)
        if op is C.ANY:
            return "."
        if op is C.IN:
            return self.charset(av)
        if op is C.AT:
            return _AT[av]
        if op is C.BRANCH:
            self.open_group()
            return "(" + "|".join(self.seq(list(b)) for b in av[1]) + ")"
        if op is C.SUBPATTERN:
            return self.group(av)
        if op is C.ATOMIC_GROUP:
            self.open_group()
            return "(" + self.seq(list(av)) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            return self.repeat(*av)
        if op is C.GROUPREF:
            return "\\" + str(self.groups[av])
        raise Untranslatable(f"no ERE form for {op}")

    def literal(self, code: int) -> str:
        ch = chr(code)
        if ch == "\n":
            raise Untranslatable("a newline never occurs inside a grep line")
        if self.icase and ch.isascii() and ch.isalpha():
            return f"[{ch.lower()}{ch.upper()}]"
        return "\\" + ch if ch in _SPECIAL else ch

    def group(self, av) -> str:
        number, add, delete, sub = av
        saved = self.icase
        self.icase = (saved or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE
        self.open_group()
        if number is not None:
            self.groups[number] = self.count
        body = self.seq(list(sub))
        self.icase = saved
        return "(" + body + ")"

    def repeat(self, lo: int, hi: int, sub) -> str:
        items = list(sub)
        if len(items) == 1 and items[0][0] in (C.LITERAL, C.IN, C.ANY, C.NOT_LITERAL, C.SUBPATTERN):
            atom = self.node(*items[0])
        else:
            self.open_group()
            atom = "(" + self.seq(items) + ")"
        if hi is C.MAXREPEAT:
            return atom + {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
        if (lo, hi) == (0, 1):
            return atom + "?"
        return atom + (f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}")

    def charset(self, items: list) -> str:
        negate = bool(items) and items[0][0] is C.NEGATE
        chars: set[str] = set()
        others: list[str] = []  # ranges and [:classes:]
        for op, av in items[negate:]:
            if op is C.LITERAL and av == 10 and negate:
                continue  # excluding a newline changes nothing within one grep line
            if op is C.LITERAL:
                chars.update(self.cased(chr(av)))
            elif op is C.RANGE:
                others.extend(self.ranges(av))
            elif op is C.CATEGORY and av in _CATEGORY:
                others.append(_CATEGORY[av])
            elif op is C.CATEGORY and av in _NOT_CATEGORY and len(items) == 1:
                return _NOT_CATEGORY[av]
            else:
                raise Untranslatable(f"no ERE form for {op} {av} in a class")
        if negate and not chars and not others:
            return "."
        return _bracket(chars, others, negate)

    def cased(self, ch: str) -> set[str]:
        if ch == "\n":
            raise Untranslatable("a newline never occurs inside a grep line")
        return {ch, ch.swapcase()} if self.icase and ch.isascii() and ch.isalpha() else {ch}

    def ranges(self, av: tuple[int, int]) -> list[str]:
        lo, hi = chr(av[0]), chr(av[1])
        out = [f"{lo}-{hi}"]
        if self.icase and lo.isascii() and hi.isascii() and lo.isalpha() and hi.isalpha():
            out.append(f"{lo.swapcase()}-{hi.swapcase()}")
        return out


def _bracket(chars: set[str], others: list[str], negate: bool) -> str:
    """POSIX brackets have no escapes: `]` must come first, `^` not first, a literal `-` last."""
    body = ("]" if "]" in chars else "") + "".join(others)
    body += "".join(sorted(chars - {"]", "-", "^"}))
    if "^" in chars:
        body = body + "^" if body else ("^" if negate else "")
        if not body:  # `[\^]` alone
            return "\\^"
    if "-" in chars:
        body += "-"
    return "[" + ("^" if negate else "") + body + "]"
