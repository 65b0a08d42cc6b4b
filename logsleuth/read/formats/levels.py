"""Stage 1, sources: normalized level words from text prefixes, logrus names and syslog priorities."""
from __future__ import annotations

# logrus truncates level names to four letters on a TTY (`WARN[0099]`, `ERRO[0016]`); syslog and
# journald use the short names (`err`, `crit`, `emerg`).
_WORDS = {
    "trace": "debug", "debug": "debug", "debu": "debug", "dbg": "debug",
    "info": "info", "information": "info", "notice": "notice",
    "warn": "warning", "warning": "warning",
    "err": "error", "erro": "error", "error": "error",
    "crit": "critical", "critical": "critical", "alert": "alert",
    "emerg": "emergency", "emergency": "emergency",
    "fatal": "fatal", "fata": "fatal", "panic": "panic", "pani": "panic",
}

# Syslog severity 0..7, as in journald's PRIORITY field and RFC 5424's PRI % 8.
PRIORITY_LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")


def normalize_level(word: str | None) -> str | None:
    """The normalized lower-case level for a level name in any common spelling, or None."""
    if not word:
        return None
    return _WORDS.get(word.strip().lower())


def priority_level(value: object) -> str | None:
    """The level for a syslog priority number (int or digit string); values above 7 keep only the severity."""
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, int):
        return PRIORITY_LEVELS[value & 7] if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return PRIORITY_LEVELS[int(value) & 7]
    return None
