"""Text carried escaped inside a message, decoded for matching: JSON and Go string escapes.

Real logs carry errors inside JSON strings: Ansible's ``fatal: [h]: FAILED! => {"msg": "...\\n..."}``,
a structured logger's ``{"level":"error","error":"... no such host\\u001b[0m"}`` in a syslog line, a
runner started with ``--log-format json`` under systemd. Rules are written for the text a terminal
shows (real newlines, ``"``, ``>``, no colour codes), so such a line is matched on its decoded text
too.

**The design: a second text, searched by the same tests.** A record's ``message`` stays the text as
logged, so evidence, fingerprints and the captures of every line that matched before are unchanged.
Every string test on ``message`` (``~``, ``contains``, ``==``, ``startswith``, ``in``, …; see
ruleset/predicates.py) also tries the record's *decoded variant*, after the message itself: rules
need no new field and no second pattern, and ``not message ~ /x/`` holds only when neither text
matches. ``message_variant(record)`` computes the variant once per record, and only when a rule's
test reaches the record (a prefilter candidate), so lines that no rule looks at never pay for it.

``decoded(message)`` is, or None when it would equal the message:

* for a message that is one JSON object (``{…}`` that parses): its ``msg`` (or ``message``) then
  its other fields as `` key=value``, sorted, as the runner's default format prints them (the
  rendering of the ``runner-json`` format), so rules written for runner text see a JSON runner line
  that the journal, syslog or a container log carries;
* otherwise, only for a message holding a backslash escape (``\\n``, ``\\t``, ``\\r``, ``\\"``,
  ``\\\\``, ``\\/``, ``\\uXXXX``, ``\\x1b``, ``\\033``): those decoded, left to right, again while
  escapes remain (at most three levels: Ansible nests JSON inside a JSON string, so ``\\\\n``
  becomes ``\\n`` and then a newline). The decoding is lenient: it applies to the whole message,
  since the string's bounds are unknown in a text line (a Windows path ``C:\\new`` is mangled in the
  variant, never in the message);
* in both cases cleaned like every message (read/text.py), so a decoded ``\\u001b[31m`` goes too.

**The prefilter** looks for literals in raw blocks (or blocks of messages), where the text is still
escaped. A literal of letters, digits, spaces and ``:./-=`` reads the same escaped; two helpers make
the others found in JSON-style escaping one or two levels deep:

* ``escaped_forms(literal)``: how a JSON encoder writes the literal (``"`` as ``\\"`` or
  ``\\\\\\"``, ``\\`` as ``\\\\``, a tab as ``\\t``, Go's HTML-safe ``<>&`` as ``\\u003c`` …,
  non-ASCII as ``\\uXXXX``); the engine scans for these as aliases of the literal;
* ``strip_escaped_ansi(block)``: colour codes written as text (``\\u001b[0;m``, ``\\\\u001b[31m``,
  ``\\x1b[..m``, ``\\033[..m``) removed from the block that is scanned (newlines kept), so a literal
  that a colour code interrupts in the raw text (``arch\\u001b[0;m=amd64``) is found as the decoded
  text has it. A block without a backslash pays one ``memchr``.

Limits, by choice: ``\\/`` is decoded but a literal holding ``/`` is not looked for as ``\\/``
(doubling the literals with URLs in them costs the stdlib scanner more than PHP-style escaping is
worth); in a JSON object's rendering, the `` key=value`` text exists only in the variant, so a rule
is tried on such a line when one of its literals is in the JSON as written (``checking for jobs...
failed``, not ``status=``).
"""
from __future__ import annotations

import json
import re
from typing import Any

from logsleuth.model import Record
from logsleuth.read.formats.runner import with_fields
from logsleuth.read.text import clean

MAX_LEVELS = 3
# One escape, as JSON, Go %q and Python repr write the ones that matter for matching.
_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|([nrt"\\/])|x1[bB]|033)')
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "/": "/"}
_SURROGATES = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")
_MSG_KEYS = ("msg", "message", "MESSAGE")

# Colour codes written as text, at any escaping depth (`\u001b[`, `\\u001b[`, `\x1b[`, `\033[`).
_TEXT_ANSI_B = re.compile(rb"\\+(?:u001[bB]|x1[bB]|033)\[[0-9;?]*[ -/]*[@-~]")
_TEXT_ESC_MARKS = (b"\\u001", b"\\x1", b"\\033")


def has_escape(text: str) -> bool:
    """Whether `text` holds a backslash escape that `decoded` would change."""
    return "\\" in text and _ESCAPE.search(text) is not None


def _char(m: re.Match[str]) -> str:
    hexa, simple = m.group(1), m.group(2)
    if hexa is not None:
        return chr(int(hexa, 16))
    if simple is not None:
        return _SIMPLE[simple]
    return "\x1b"


def _pair(m: re.Match[str]) -> str:
    s = m.group(0)
    if len(s) == 2:
        return chr(0x10000 + ((ord(s[0]) - 0xD800) << 10) + (ord(s[1]) - 0xDC00))
    return "\ufffd"


def unescape(text: str) -> str:
    """`text` with its backslash escapes decoded, level after level (at most MAX_LEVELS)."""
    for _ in range(MAX_LEVELS):
        if "\\" not in text:
            break
        out = _ESCAPE.sub(_char, text)
        if out == text:
            break
        text = out
    if _SURROGATES.search(text):  # \ud83d\ude00 pairs joined, lone halves replaced
        text = _SURROGATES.sub(_pair, text)
    return text


def _json_rendering(message: str) -> str | None:
    s = message.strip()
    if s[:1] != "{" or s[-1:] != "}":
        return None
    try:
        obj: Any = json.loads(s)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    obj.pop("time", None)
    obj.pop("level", None)
    msg: Any = ""
    for key in _MSG_KEYS:
        if key in obj:
            msg = obj.pop(key)
            break
    return with_fields(str(msg), obj).strip()


def decoded(message: str) -> str | None:
    """The decoded variant of `message` (see the module docstring), or None when there is none."""
    text = _json_rendering(message) if "{" in message[:64] else None
    if text is None:
        if not has_escape(message):
            return None
        text = message
    if "\\" in text:
        text = unescape(text)
    text = clean(text)
    return text if text != message else None


def message_variant(record: Record) -> str | None:
    """The record's decoded variant, computed on first use and kept on the record."""
    variant = record.decoded
    if variant is None:
        variant = record.decoded = decoded(record.message) or ""
    return variant or None


def message_texts(record: Record) -> list[str]:
    """The texts a test on `message` tries: the message, then its decoded variant if any."""
    variant = message_variant(record)
    return [record.message] if variant is None else [record.message, variant]


# --- the prefilter's side --------------------------------------------------------------------

def strip_escaped_ansi(block: bytes) -> bytes:
    """`block` without colour codes written as escaped text; newlines kept. Unchanged (the same
    object) when it holds none."""
    if b"\\" not in block or not any(mark in block for mark in _TEXT_ESC_MARKS):
        return block
    return _TEXT_ANSI_B.sub(b"", block)


def _json_escape(text: str, ensure_ascii: bool, html: bool) -> str:
    out = json.dumps(text, ensure_ascii=ensure_ascii)[1:-1]
    if html:  # Go's encoding/json (the runner, most Go structured loggers) by default
        out = out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return out


_NEEDS_ESCAPE = re.compile(rb'["\\<>&\x00-\x1f\x80-\xff]')
# (ensure_ascii, html): Python's json.dumps writes non-ASCII as \uXXXX, Go's encoding/json <>& too.
_STYLES: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True), (True, True))
_RAW_STYLES: tuple[tuple[bool, bool], ...] = ((False, False), (False, True))


def escaped_forms(literal: bytes) -> frozenset[bytes]:
    """The other ways a JSON string one or two levels deep writes `literal` (lower-cased bytes, as
    the scanner takes them); empty when every encoder writes it as it is."""
    if not _NEEDS_ESCAPE.search(literal):
        return frozenset()
    try:
        text, codec, styles = literal.decode("utf-8"), "utf-8", _STYLES
    except UnicodeDecodeError:  # a literal cut inside a character: only its ASCII escapes
        text, codec, styles = literal.decode("latin-1"), "latin-1", _RAW_STYLES
    forms: set[bytes] = set()
    for ensure_ascii, html in styles:
        once = _json_escape(text, ensure_ascii, html)
        forms.add(once.encode(codec).lower())
        forms.add(_json_escape(once, ensure_ascii, html).encode(codec).lower())
    forms.discard(literal)
    return frozenset(forms)
