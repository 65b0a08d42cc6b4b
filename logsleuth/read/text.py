"""Text normalisation shared by every source: escape stripping, safe decoding, printable names, BOMs."""
from __future__ import annotations

import codecs
import re
from typing import Iterable, Iterator

# CSI sequences (colours, `\x1b[0K` erase-line) and OSC, as the runner and job traces emit them.
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_ANSI_B = re.compile(rb"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# rsyslog writes control characters as `#` + three octal digits (ESC=#033, TAB=#011, LF=#012).
_RSYSLOG_ANSI = re.compile(r"#033\[[0-9;?]*[ -/]*[@-~]")
_RSYSLOG_ANSI_B = re.compile(rb"#033\[[0-9;?]*[ -/]*[@-~]")
_RSYSLOG_CTRL = re.compile(r"#0[0-3][0-7]")
_RSYSLOG_CTRL_B = re.compile(rb"#0[0-3][0-7]")


def decode(raw: bytes) -> str:
    """UTF-8 with replacement characters, NULs removed: logs are never trusted to be valid text."""
    text = raw.decode("utf-8", "replace")
    return text.replace("\x00", "") if "\x00" in text else text


def clean(text: str) -> str:
    """Remove ANSI escapes and rsyslog's `#0NN` escapes; TAB and LF escapes become a space and a newline."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "#0" in text:
        text = _RSYSLOG_ANSI.sub("", text)
        text = _RSYSLOG_CTRL.sub(_rsyslog_char, text)
    return text


def _rsyslog_char(m: re.Match[str]) -> str:
    code = int(m.group(0)[1:], 8)
    return {9: " ", 10: "\n"}.get(code, "")


def clean_bytes(block: bytes) -> bytes:
    """`clean` for a raw block on the matcher's hot path; newlines are kept so line numbers stay right."""
    if b"\x1b" in block:
        block = _ANSI_B.sub(b"", block)
    # `#` first: memchr is ~25x faster than searching a two-byte needle (measured), and most
    # blocks hold no `#` at all.
    if b"#" in block and b"#0" in block:
        block = _RSYSLOG_ANSI_B.sub(b"", block)
        block = _RSYSLOG_CTRL_B.sub(b" ", block)
    return block


# --- names and encodings ------------------------------------------------------------------------

# C0/C1 controls, DEL, bidi overrides and lone surrogates (undecodable bytes of a file name, as
# os.fsdecode gives them): a name from outside (path, tar member, host) printed raw could retitle,
# recolour or spoof the operator's terminal (`ESC ]0;...BEL`).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(name: str) -> str:
    """`name` with control characters escaped (`\\x1b`, `\\n`), safe to print on a terminal."""
    return _UNPRINTABLE.sub(_escape, name) if _UNPRINTABLE.search(name) else name


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return _NAMED_ESCAPES.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `head` announces (UTF-8 or UTF-16), else None."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def maybe_bom(head: bytes) -> bool:
    """Whether `head` is a proper prefix of a byte-order mark (more bytes are needed to tell)."""
    return any(len(head) < len(bom) and bom.startswith(head) for bom, _ in _BOMS)


def transcoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """`chunks` of text in `encoding` as UTF-8 (a BOM removed), decoded incrementally; bad bytes
    become U+FFFD, as `decode` does for UTF-8."""
    if encoding == "utf-8-sig":  # the common case costs one slice, not a decode
        first = True
        for chunk in chunks:
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8):]
            first = False
            if chunk:
                yield chunk
        return
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    first = True
    for chunk in chunks:
        text = decoder.decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        if text:
            yield text.encode("utf-8", "replace")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8", "replace")
