"""Read stage, config.toml: what the files a runner config names hold (TLS CA and client certificates).

Certificates are read with `cryptography` (PyCA): it loads every certificate of a PEM bundle
(`load_pem_x509_certificates`), where `openssl x509` reads only the first; it needs no subprocess
and no parsing of openssl's version- and locale-dependent text output, and has wheels for every
platform the runner runs on. Files are read with a size cap: a config may name any path.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone

MAX_BYTES = 4 << 20
_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class FileFacts:
    """What a named file is: `state` is ok, missing, unreadable, not-pem (or no-certificate), too-large."""

    path: str
    state: str
    detail: str = ""
    certificates: int = 0
    days_left: int | None = None  # whole days until the first certificate expires (negative: expired)
    not_after: str = ""
    subject: str = ""


def resolve(value: str, config_path: str) -> str:
    """A path from the config: absolute as given; relative to the config file's directory otherwise."""
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded) or config_path.startswith("<"):
        return expanded
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), expanded)


def certificate_file(path: str, now: datetime | None = None, key_file: bool = False) -> FileFacts:
    """Facts about a PEM file of certificates (or, with `key_file`, of a private key: only readable and PEM)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return FileFacts(path, "missing", "no such file")
    except OSError as exc:
        return FileFacts(path, "unreadable", exc.strerror or str(exc))
    if len(data) > MAX_BYTES:
        return FileFacts(path, "too-large", f"larger than {MAX_BYTES >> 20} MiB")
    if key_file:
        ok = b"-----BEGIN " in data and b"PRIVATE KEY-----" in data
        return FileFacts(path, "ok" if ok else "not-pem", "" if ok else "no PEM private key block")
    if _PEM_CERT not in data:
        return FileFacts(path, "not-pem", "no PEM certificate block (-----BEGIN CERTIFICATE-----)")
    return _certificates(path, data, now or datetime.now(timezone.utc))


def _certificates(path: str, data: bytes, now: datetime) -> FileFacts:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        return FileFacts(path, "not-pem", f"a PEM block that is not a valid certificate ({exc})")
    first = min(certs, key=lambda c: c.not_valid_after_utc)
    left = math.floor((first.not_valid_after_utc - now).total_seconds() / 86400)
    return FileFacts(path, "ok", "", len(certs), left,
                     first.not_valid_after_utc.isoformat().replace("+00:00", "Z"), first.subject.rfc4514_string())
