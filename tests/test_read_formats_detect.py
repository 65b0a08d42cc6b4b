"""Format detection: every fixture is recognised as its own format, with a reason for -v."""
from __future__ import annotations

from pathlib import Path

import pytest

from logsleuth.read import formats

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
FIXTURES = sorted((p.parent.name, p) for p in LOGS.glob("*/*.log") if p.parent.name != "cat")


def sample(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:40]


def test_every_registered_format_has_a_fixture() -> None:
    assert set(formats.FORMATS) - {name for name, _ in FIXTURES} == {"cat"}


@pytest.mark.parametrize("name, path", FIXTURES, ids=[f"{n}-{p.stem}" for n, p in FIXTURES])
def test_fixture_is_detected_as_its_format(name: str, path: Path) -> None:
    fmt, reason = formats.detect(sample(path))
    assert fmt.name == name
    assert reason


@pytest.mark.parametrize("lines, name", [
    ([b"Mar  1 00:00:00 host app[5]: space-padded day"], "rfc3164"),
    ([b"Mar 10 12:00:00 host app[5]: #033[0;33mWARNING: escaped"], "rfc3164"),
    ([b"Mar 10 12:00:00 host app[5]: two-digit day is ambiguous"], "short"),
    ([b"-- Journal begins at Fri 2021-09-03 05:27:23 CST, ends at Tue 2021-11-23 21:58:15 CST. --",
      b"2024-03-10T12:00:00+0000 h a[1]: x"], "short-iso"),
    ([b"[    5.000000] Linux version 6.1.0", b"[    5.100000] usb 1-1: new device"], "dmesg"),
    ([b"[    5.000000] testhost kernel: Linux version 6.1.0"], "short-monotonic"),
    ([b'{"level":"info","msg":"Runtime platform","time":"2024-03-10T12:00:00Z"}'], "runner-json"),
    ([b'{"MESSAGE":"x","__REALTIME_TIMESTAMP":"1"}'], "json"),
    ([b"just some text", b"and more"], "plain"),
    ([], "plain"),
])
def test_detect_edge_cases(lines: list[bytes], name: str) -> None:
    assert formats.detect(lines)[0].name == name


@pytest.mark.parametrize("name", ["short", "short-iso", "short-full", "short-delta", "verbose"])
def test_markers_are_not_events(name: str) -> None:
    markers = [b"-- Logs begin at Wed 2016-11-30 08:49:56 CET, end at Wed 2016-11-30 09:00:00 CET. --",
               b"-- Boot 11112222333344445555666677778888 --", b"-- Reboot --", b"-- No entries --"]
    assert list(formats.get(name).parse(markers, formats.ParseContext("t", year=2024))) == []


def test_dmesg_is_not_mistaken_for_short_monotonic() -> None:
    from logsleuth.read import formats

    fmt, _ = formats.detect([b"[12345.678901] INFO: task jbd2/sda1-8:312 blocked for more than 245 seconds."])
    assert fmt.name == "dmesg"
    fmt, _ = formats.detect([b"[    5.000000] testhost systemd[1]: Started nginx.service."])
    assert fmt.name == "short-monotonic"


def test_a_log_with_a_config_line_in_its_first_lines_is_not_taken_for_config_toml() -> None:
    """A timestamped log quoting `concurrent = 4` on a continuation line: lines starting with a date
    are not TOML number items (they made every such log "90% TOML")."""
    sample = [b"2024-03-10T12:00:%02d+0000 ci1 app[7]: line %d" % (n, n) for n in range(30)]
    sample.insert(5, b"      concurrent = 4")
    fmt, _reason = formats.detect(sample)
    assert fmt.name == "short-iso"
    toml = [b"concurrent = 4", b"check_interval = 0", b"[[runners]]", b'  name = "r1"', b"  volumes = [",
            b'    "/cache",', b"    1979-05-27T07:32:00Z,", b"  ]"]
    assert formats.detect(toml)[0].name == "config-toml"
