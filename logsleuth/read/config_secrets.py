"""Read stage, config.toml: secret values kept out of every record, so no report can print them.

A value is secret when its key says so (token, secret, password, access/account/private key, DSN),
when its key is unknown (a misspelt `tokn` is still a token), when it has a GitLab token's shape,
or when it is the userinfo of a URL. Empty values and placeholders (`YOUR_RUNNER_TOKEN`, `<token>`,
`${TOKEN}`) are not secrets: rules need to see them.
"""
from __future__ import annotations

import re
from typing import Any

from logsleuth.read.config_schema import Key, lookup

MASK = "[MASKED]"
_SECRET_KEY = re.compile(r"(?i)token|secret|password|passwd|private_?key|account_?key|access_?key|_dsn$")
_PLACEHOLDER = re.compile(r"(?:\$\{?\w+\}?|<[^<>]*>|[xX*.#]+|(?i:[a-z _-]*(?:your|token|changeme|change_me|replace"
                          r"|placeholder|example|redacted)[a-z _-]*))\Z")
# GitLab token prefixes (runner authentication, legacy registration, personal, CI build, deploy, trigger).
_TOKEN_SHAPE = re.compile(r"\b(?:glrt-|glrtr-|GR1348941|glpat-|glcbt-|gldt-|glptt-)[\w-]{8,}")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+(?=@)")
_SECRET_LINE = re.compile(r"""(?i)^(\s*["']?[\w.-]*(?:token|secret|password|passwd|key|_dsn)["']?\s*=\s*)(.+)$""")


def scrub_line(line: str, keep_width: bool = False) -> str:
    """A source line with secret-looking values masked, for where no parse tells the secrets (a syntax
    error's line): a secret key's value, token-shaped words and URL userinfo. `keep_width` masks with
    as many `*` as characters, so a caret under a column still points at the same place."""
    def mask(text: str) -> str:
        return "*" * len(text) if keep_width else MASK
    m = _SECRET_LINE.match(line)
    if m:
        line = m.group(1) + (mask(m.group(2)) if keep_width else f'"{MASK}"')
    line = _TOKEN_SHAPE.sub(lambda t: mask(t.group(0)), line)
    return _USERINFO.sub(lambda u: mask(u.group(0)), line)


def is_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def shown(key: str, value: str) -> str:
    """A string value as a record may hold it: secrets masked unless empty or a placeholder."""
    if is_secret(key) and value and not (len(value) <= 64 and _PLACEHOLDER.match(value)):
        return MASK
    return _USERINFO.sub(MASK, value)


def secrets(doc: dict[str, Any]) -> list[str]:
    """Every value of the document that must not appear in any output, longest first: those of secret keys,
    of unknown keys (a misspelt `tokn` is still a token), token-shaped ones anywhere, and URL userinfo."""
    found: set[str] = set()

    def walk(node: Any, key: Key) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, key + (str(k),))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, key + (i,) if isinstance(v, dict) else key)
        elif isinstance(node, str):
            name = str(key[-1]) if key else ""
            if shown(name, node) == MASK or _TOKEN_SHAPE.search(node) or (
                    not lookup(key)[1] and not _PLACEHOLDER.match(node)):
                found.add(node)
            found.update(m.group(0) for m in _USERINFO.finditer(node))
    walk(doc, ())
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)
