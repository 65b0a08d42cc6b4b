"""Per-format parsing: literal expectations for every input format, from fixtures and inline lines."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from logsleuth.read import formats
from logsleuth.model import Record
from logsleuth.read.formats import ParseContext
from logsleuth.read.formats.runner import go_unquote, parse_runner_message

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
UTC = timezone.utc
E = "\x1b"


def parse(fmt: str, lines: list[bytes], year: int | None = 2024, path: str = "t.log") -> list[Record]:
    return list(formats.get(fmt).parse(lines, ParseContext(path, year=year)))


def parse_file(fmt: str, name: str) -> list[Record]:
    data = (LOGS / fmt / name).read_bytes().split(b"\n")
    if data[-1] == b"":
        data.pop()
    return parse(fmt, data)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


# --- the journalctl short family, rendered from fixtures/journal/runner-failures.export --------

SHORT_MODES = ["short", "short-precise", "short-iso", "short-iso-precise", "short-full", "short-unix",
               "short-monotonic", "short-delta", "with-unit"]


@pytest.mark.parametrize("mode", SHORT_MODES)
def test_short_modes_parse_runner_failures(mode: str) -> None:
    records = parse_file(mode, "runner-failures.log")
    assert len(records) == 11
    forbidden = records[5]
    assert forbidden.level == "error"
    assert forbidden.host == "testhost"
    assert forbidden.pid == 812
    assert forbidden.message.startswith("ERROR: Checking for jobs... forbidden ")
    assert forbidden.fields["status"] == "POST https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden"
    assert forbidden.fields["runner_name"] == "ci-runner-1"
    assert (forbidden.origin.line, forbidden.origin.span) == (6, 1)
    if mode == "with-unit":
        assert (forbidden.ident, forbidden.unit) == (None, "gitlab-runner.service")
    else:
        assert (forbidden.ident, forbidden.unit) == ("gitlab-runner", None)
    expected_ts = {"short-monotonic": None, "short-delta": None}.get(mode, datetime(2024, 3, 10, 12, 0, 5, tzinfo=UTC))
    assert forbidden.ts == expected_ts
    oom = records[9]
    assert oom.ident == "kernel" and oom.pid is None and oom.level is None
    assert oom.message.startswith("Memory cgroup out of memory: Killed process 4321 (java)")


def test_short_iso_multiline_entry_and_markers() -> None:
    lines = [
        b"-- Journal begins at Fri 2021-09-03 05:27:23 CST, ends at Tue 2021-11-23 21:58:15 CST. --",
        b"2024-03-10T12:00:01+0000 testhost myapp[4242]: Traceback (most recent call last):",
        b'                                                 File "app.py", line 1',
        b"                                               ValueError: boom",
        b"-- Boot 11112222333344445555666677778888 --",
        b"-- Reboot --",
        b"2024-03-10T14:00:00+0200 testhost kernel: Linux version 6.1.0-18-amd64",
        b"-- No entries --",
    ]
    first, second = parse("short-iso", lines)
    assert first.message == 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError: boom'
    assert (first.origin.line, first.origin.span) == (2, 3)
    assert first.raw.count("\n") == 2
    assert second.ts == datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    assert (second.ident, second.pid, second.origin.line) == ("kernel", None, 7)


@pytest.mark.parametrize("line, expected", [
    (b"Mar 10 12:00:00.000002 app[55]: no hostname column",
     ("short-precise", None, "app", 55, datetime(2024, 3, 10, 12, 0, 0, 2, tzinfo=UTC), "no hostname column")),
    (b"Mar 01 00:00:00 h1 app: no pid", ("short", "h1", "app", None, datetime(2024, 3, 1, tzinfo=UTC), "no pid")),
    (b"Mon 2024-03-11 08:00:00 EDT testhost app[5]: zone abbreviation",
     ("short-full", "testhost", "app", 5, datetime(2024, 3, 11, 12, 0, tzinfo=UTC), "zone abbreviation")),
    (b"1710072000.250000 testhost app[5]: epoch", ("short-unix", "testhost", "app", 5,
                                                   datetime(2024, 3, 10, 12, 0, 0, 250000, tzinfo=UTC), "epoch")),
    (b"2024-03-11T08:00:00.000001-0400 testhost app[5]: offset",
     ("short-iso-precise", "testhost", "app", 5, datetime(2024, 3, 11, 12, 0, 0, 1, tzinfo=UTC), "offset")),
])
def test_short_head_variants(line: bytes, expected: tuple) -> None:
    fmt = expected[0]
    (rec,) = parse(fmt, [line])
    assert (rec.format, rec.host, rec.ident, rec.pid, rec.ts, rec.message) == expected


def test_short_year_rollover_and_default_year() -> None:
    lines = [b"Dec 31 23:59:59 h a[1]: old year", b"Jan 01 00:00:00 h a[1]: new year"]
    recs = parse("short", lines, year=2023)
    assert [r.ts.year for r in recs] == [2023, 2024]  # type: ignore[union-attr]
    (rec,) = parse("short", [b"Jan 02 00:00:00 h a[1]: x"], year=None)
    assert rec.ts is not None and rec.ts.year in (datetime.now(UTC).year, datetime.now(UTC).year - 1)


def test_short_tz_option_applies_to_zoneless_modes() -> None:
    from zoneinfo import ZoneInfo
    recs = list(formats.get("short").parse([b"Mar 11 08:00:00 h a[1]: x"],
                                           ParseContext("t", year=2024, tz=ZoneInfo("America/New_York"))))
    assert recs[0].ts == datetime(2024, 3, 11, 12, 0, tzinfo=UTC)


def test_unparseable_line_is_kept_not_dropped() -> None:
    (rec,) = parse("short-iso", [b"garbage that is not journalctl output"])
    assert rec.message == "garbage that is not journalctl output" and rec.ts is None


# --- structured journal modes -------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["json", "json-pretty", "json-seq", "json-sse", "export", "verbose"])
def test_structured_modes(mode: str) -> None:
    records = parse_file(mode, "runner-failures.log")
    assert len(records) == 11
    tls = records[2]
    assert tls.ts == datetime(2024, 3, 10, 12, 0, 2, tzinfo=UTC)
    assert (tls.host, tls.ident, tls.unit, tls.pid) == ("testhost", "gitlab-runner", "gitlab-runner.service", 812)
    assert tls.fields["_TRANSPORT"] == "stdout"
    assert tls.fields["PRIORITY"] == "6"
    if mode == "verbose":  # verbose shows values with ANSI escapes as blob data
        assert tls.message == "[399B blob data]"
        assert tls.level == "info"
    else:
        assert tls.level == "warning"  # from the text prefix, not PRIORITY=6
        assert tls.message.startswith("WARNING: Checking for jobs... failed")
        assert tls.fields["status"].endswith("x509: certificate signed by unknown authority")  # type: ignore[union-attr]
    systemd = records[10]
    assert (systemd.ident, systemd.pid, systemd.level) == ("systemd", 1, "info")
    assert systemd.fields["UNIT"] == "gitlab-runner.service"


def test_json_quirks() -> None:
    line = (b'{"__REALTIME_TIMESTAMP":"1710072002000000","_SOURCE_REALTIME_TIMESTAMP":"1710071902000000",'
            b'"MESSAGE":[98,105,110,97,114,121,32,255,254,32,27,91,49,109,88],"PRIORITY":"4","_PID":"4242",'
            b'"X_TAG":["alpha",[98,101,116,97]],"BIG":null,"SYSLOG_IDENTIFIER":"myapp"}')
    (rec,) = parse("json", [line])
    assert rec.message == "binary \ufffd\ufffd X"
    assert rec.ts == datetime(2024, 3, 10, 11, 58, 22, tzinfo=UTC)  # the source timestamp wins
    assert (rec.level, rec.pid, rec.ident) == ("warning", 4242, "myapp")
    assert rec.fields["X_TAG"] == ["alpha", "beta"]
    assert rec.fields["BIG"] is None


def test_json_null_message_is_empty() -> None:
    (rec,) = parse("json", [b'{"__REALTIME_TIMESTAMP":"1","MESSAGE":null}'])
    assert rec.message == "" and rec.ts == datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)


def test_export_binary_field_with_newlines_in_length_and_value() -> None:
    value = b"line one\nline two" + b"\n" * 0
    body = b"x" * 10  # length 10 = b"\n" as the first LE64 byte
    stream = (b"__REALTIME_TIMESTAMP=1710072000000000\nMESSAGE\n" + len(value).to_bytes(8, "little") + value
              + b"\nX_BIN\n" + len(body).to_bytes(8, "little") + body + b"\nX_TAG=a\nX_TAG=b\n\n"
              + b"__REALTIME_TIMESTAMP=1710072001000000\nMESSAGE=second\n\n")
    first, second = parse("export", stream.split(b"\n")[:-1])
    assert first.message == "line one\nline two"
    assert first.fields["X_BIN"] == "x" * 10
    assert first.fields["X_TAG"] == ["a", "b"]
    assert (first.origin.line, second.origin.line, second.message) == (1, 11, "second")


def test_verbose_multiline_and_repeated_fields() -> None:
    lines = [
        b"Sun 2024-03-10 12:00:01.000000 UTC [s=ba70;i=2;b=0f1e;m=5b8d80;t=6134d2a28f240;x=5fbf]",
        b"    _HOSTNAME=testhost",
        b"    X_TAG=alpha",
        b"    X_TAG=beta",
        b"    MESSAGE=Traceback (most recent call last):",
        b'              File "app.py", line 1',
        b"            ValueError: boom",
    ]
    (rec,) = parse("verbose", lines)
    assert rec.message == 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError: boom'
    assert rec.ts == datetime(2024, 3, 10, 12, 0, 1, tzinfo=UTC)
    assert rec.fields["X_TAG"] == ["alpha", "beta"]
    assert (rec.origin.line, rec.origin.span) == (1, 7)


# --- gitlab-runner ----------------------------------------------------------------------------

RUNNER_CASES = [
    # raw ANSI, values with spaces and colons
    (f"{E}[0;33mWARNING: Checking for jobs... failed              {E}[0;m  {E}[0;33mcorrelation_id{E}[0;m=01HRZ8Q3J5 "
     f"{E}[0;33mrunner{E}[0;m=abcd12345 {E}[0;33mstatus{E}[0;m=POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway",
     "warning", {"correlation_id": "01HRZ8Q3J5", "runner": "abcd12345",
                 "status": "POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway"}),
    # as journalctl short modes show it (ANSI already stripped): sorted keys split the fields
    ("Submitting job to coordinator...ok                  bytesize=2345 checksum=crc32:1a2b3c4d code=200 "
     "correlation_id=01HRZ8Q3J5 job=123456 job-status= runner=abcd12345 update-interval=0s",
     "info", {"bytesize": "2345", "checksum": "crc32:1a2b3c4d", "code": "200", "correlation_id": "01HRZ8Q3J5",
              "job": "123456", "job-status": "", "runner": "abcd12345", "update-interval": "0s"}),
    ("WARNING: Checking for jobs... failed                runner=abcd1234 status=error=timeout x=1 a=2",
     "warning", {"runner": "abcd1234", "status": "error=timeout", "x": "1 a=2"}),
    # rsyslog escapes
    ("#033[31;1mFATAL: Service run failed   #033[0;m  #033[31;1merror#033[0;m=Near line 2 (last key parsed ''): bare keys cannot contain '('",
     "fatal", {"error": "Near line 2 (last key parsed ''): bare keys cannot contain '('"}),
    (f"{E}[37;1mChecking for jobs... no content                   {E}[0;m  {E}[37;1mrunner{E}[0;m=abcd1234",
     "debug", {"runner": "abcd1234"}),
    (f"{E}[31;1mPANIC: boom{E}[0;m ", "panic", {}),
]


@pytest.mark.parametrize("raw, level, fields", RUNNER_CASES)
def test_parse_runner_message(raw: str, level: str, fields: dict) -> None:
    got_level, message, got_fields = parse_runner_message(raw)
    assert (got_level, got_fields) == (level, fields)
    assert "\x1b" not in message and "#033" not in message and message == message.rstrip()


def test_runner_format_fixture() -> None:
    records = parse_file("runner", "runner.log")
    assert [r.level for r in records] == ["info", "info", "debug", "warning", "warning", "error", "info", "fatal"]
    assert records[4].fields["status"].endswith("dial tcp: lookup gitlab.example.com on 127.0.0.53:53: no such host")  # type: ignore[union-attr]
    assert records[7].fields["error"].startswith("decoding configuration file: toml: line 2")  # type: ignore[union-attr]
    assert all(r.ident == "gitlab-runner" and r.ts is None for r in records)


def test_runner_text_logfmt() -> None:
    records = parse_file("runner-text", "text.log")
    # The message is shown as the default runner format prints it: text, then the sorted fields.
    assert records[1].message.endswith("dial tcp 10.0.0.5:443: connect: connection refused")
    assert [(r.level, r.message.split("  ")[0]) for r in records] == [
        ("info", "Runtime platform"), ("warning", "Checking for jobs... failed"),
        ("error", "Checking for jobs... forbidden"), ("fatal", "Service run failed")]
    assert records[0].ts == datetime(2024, 3, 10, 12, 0, 0, 123456, tzinfo=UTC)
    assert records[3].ts == datetime(2024, 3, 10, 12, 0, 5, tzinfo=UTC)
    assert records[1].fields["status"] == ("couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: "
                                           'Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp 10.0.0.5:443: connect: connection refused')
    assert records[3].fields["error"] == "decoding configuration file: toml: line 2: bare keys cannot contain '('\n"


def test_runner_text_tty_prefixes() -> None:
    records = parse_file("runner-text", "tty.log")
    assert records[1].message == "Checking for jobs... failed  runner=abcd1234 status=502 Bad Gateway"
    assert [(r.level, r.message.split("  ")[0]) for r in records] == [
        ("info", "Runtime platform"), ("warning", "Checking for jobs... failed"), ("error", "Checking for jobs... forbidden")]
    assert records[1].fields == {"runner": "abcd1234", "status": "502 Bad Gateway"}


@pytest.mark.parametrize("quoted, text", [
    ('"a \\"b\\" c"', 'a "b" c'), ('"tab\\there"', "tab\there"), ('"\\x41\\u00e9"', "A\u00e9"), ("bare", "bare")])
def test_go_unquote(quoted: str, text: str) -> None:
    assert go_unquote(quoted) == text


def test_runner_json() -> None:
    records = parse_file("runner-json", "json.log")
    assert [r.level for r in records] == ["info", "info", "warning", "error"]
    assert records[0].fields["pid"] == 38229  # numbers stay numbers
    assert records[1].message == "listen_address not defined, metrics & debug endpoints disabled  builds=0"
    assert records[2].fields["status"].endswith("x509: certificate has expired or is not yet valid: "  # type: ignore[union-attr]
                                                "current time 2024-03-10T12:00:02Z is after 2024-03-01T00:00:00Z")
    assert records[0].ts == datetime(2024, 3, 10, 12, 0, 0, 123456, tzinfo=UTC)


# --- job traces -----------------------------------------------------------------------------------

def test_job_trace_sections_and_markers() -> None:
    records = parse_file("job-trace", "failed-job.log")
    got = [(r.origin.line, r.section, r.level, r.message) for r in records]
    assert got[0] == (1, None, None, "Running with gitlab-runner 17.5.0 (8ec6a5b6)")
    assert got[2] == (3, "prepare_executor", None, 'Preparing the "docker" executor')
    assert got[5] == (6, "get_sources", None, "Getting source from Git repository")
    assert got[7] == (8, "get_sources", None, "Receiving objects: 100% (10/10), done.")  # after the last \r
    assert got[9] == (10, "step_script", None, "$ make test")
    assert records[9].fields == {"command": "make test"}
    assert got[-1] == (15, None, "error", "ERROR: Job failed: exit code 137")
    assert 14 not in [g[0] for g in got]  # a bare section_end line is not an event


def test_job_trace_ff_timestamps_and_continuations() -> None:
    records = parse_file("job-trace", "timestamped.log")
    curl = records[3]
    assert curl.message == "curl: (6) Could not resolve host: gitlab.example.com"
    assert (curl.origin.line, curl.origin.span, curl.section) == (4, 2, "step_script")
    assert curl.ts == datetime(2024, 3, 10, 12, 0, 1, 500000, tzinfo=UTC)
    assert records[-1].message == "ERROR: Job failed: exit code 6" and records[-1].section is None


# --- syslog, dmesg, compose, plain -----------------------------------------------------------------

def test_rfc3164_with_rsyslog_escapes() -> None:
    records = parse_file("rfc3164", "syslog.log")
    fatal = records[1]
    assert (fatal.ts, fatal.host, fatal.ident, fatal.pid, fatal.level) == (
        datetime(2024, 3, 1, 0, 0, 2, tzinfo=UTC), "ci1", "gitlab-runner", 22542, "fatal")
    assert fatal.fields == {"error": "Near line 2 (last key parsed ''): bare keys cannot contain '('"}
    assert records[4].message == "first line\nsecond line tabbed"
    assert records[3].message.startswith("[12345.678901] Out of memory: Killed process 1234 (java)")


def test_rfc3164_rollover_fixture() -> None:
    records = parse("rfc3164", (LOGS / "rfc3164" / "rollover.log").read_bytes().splitlines(), year=2023)
    assert [r.ts for r in records] == [datetime(2023, 12, 31, 23, 59, 58, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)]


def test_rfc3339_file_format() -> None:
    records = parse_file("rfc3339", "syslog.log")
    assert records[1].level == "error" and records[1].fields["runner"] == "abcd12345"
    assert records[2].ts == datetime(2024, 3, 10, 12, 0, 3, 500000, tzinfo=UTC)
    assert records[3].ts == datetime(2024, 3, 10, 12, 0, 4, tzinfo=UTC)
    assert records[3].ident == "dockerd" and "x509: certificate has expired" in records[3].message


def test_rfc5424() -> None:
    first, runner, kernel = parse_file("rfc5424", "messages.log")
    assert (first.ts, first.host, first.ident, first.pid, first.level) == (
        datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC), "mymachine.example.com", "evntslog", None, "notice")
    assert first.message == "An application event log entry..."
    assert first.fields == {"msgid": "ID47", "iut": "3", "eventSource": "Application", "eventID": "1011",
                            "sd_id": "exampleSDID@32473"}
    assert (runner.ident, runner.pid, runner.level, runner.fields["status"]) == ("gitlab-runner", 812, "warning", "502 Bad Gateway")
    assert (kernel.level, kernel.ident) == ("error", "kernel")


def test_dmesg_uptime_and_human_stamps() -> None:
    records = parse_file("dmesg", "dmesg.log")
    assert records[3].ts is None and records[3].fields == {"monotonic": "12345.679200"}
    assert records[3].message.startswith("Memory cgroup out of memory: Killed process 4321 (java)")
    human = parse_file("dmesg", "dmesg-T.log")
    assert human[0].ts == datetime(2024, 3, 10, 12, 0, 5, tzinfo=UTC) and human[0].ident == "kernel"
    (lvl,) = parse("dmesg", [b"kern  :err   : [  5.000000] usb 1-1: device descriptor read/64, error -71"])
    assert (lvl.level, lvl.message) == ("error", "usb 1-1: device descriptor read/64, error -71")


def test_compose_prefixes() -> None:
    records = parse_file("compose", "compose.log")
    assert [(r.ident, r.level) for r in records] == [
        ("gitlab-runner-1", "info"), ("gitlab-runner-1", "warning"), ("dind-1", None), ("gitlab-runner-1", "error")]
    assert records[3].fields["status"] == "POST https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden"
    (stamped,) = parse("compose", [b"web_1  | 2024-03-10T12:00:00.123456789Z hello"])
    assert (stamped.ident, stamped.ts, stamped.message) == ("web_1", datetime(2024, 3, 10, 12, 0, 0, 123456, tzinfo=UTC), "hello")


def test_plain_keeps_every_line() -> None:
    records = parse_file("plain", "plain.log")
    assert [r.message for r in records] == ["Starting build on ci1", "ERROR: x509: certificate signed by unknown authority",
                                            "", "  indented line is its own event in plain text"]


def test_cat_every_line_is_an_event() -> None:
    records = parse_file("cat", "runner-failures.log")
    assert len(records) == 11 and records[5].level == "error"
    assert records[5].fields["status"] == "POST https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden"


# --- raw_message formats: a single entry parses alone, and its message is in the cleaned raw text --

@pytest.mark.parametrize("fmt, name", [
    ("short-iso", "runner-failures.log"), ("short", "runner-failures.log"), ("short-delta", "runner-failures.log"),
    ("with-unit", "runner-failures.log"), ("rfc3164", "syslog.log"), ("rfc3339", "syslog.log"),
    ("runner", "runner.log"), ("compose", "compose.log"), ("dmesg", "dmesg.log"), ("plain", "plain.log")])
def test_raw_message_contract(fmt: str, name: str) -> None:
    from logsleuth.read.text import clean_bytes

    f = formats.get(fmt)
    assert f.raw_message
    lines = (LOGS / fmt / name).read_bytes().splitlines()
    for i, line in enumerate(lines):
        if f.continuation and f.continuation(line):
            continue
        ctx = ParseContext("t", year=2024, line=i + 1)
        recs = list(f.parse([line], ctx))
        assert ctx.line == i + 2
        for rec in recs:
            cleaned = clean_bytes(line).decode("utf-8", "replace")
            assert rec.message.split("\n")[0] in cleaned.replace("\t", " ")
            assert rec.origin.line == i + 1


_RUNNER_BYTES = list(b"\x1b[0;33mWARNING: Checking for jobs... failed\x1b[0;m  runner=abcd1234 status=502")


@pytest.mark.parametrize("fmt", ["json", "json-seq", "json-sse"])
@pytest.mark.parametrize("fields", [
    {"MESSAGE": _RUNNER_BYTES, "_HOSTNAME": "ci1", "PRIORITY": "6"},  # a runner line: colours make it an array
    {"__CURSOR": "s=1", "MESSAGE": _RUNNER_BYTES},  # MESSAGE last: `]` then `}`
    {"MESSAGE": "plain text ] with a bracket", "X": [1, 2]},  # a string: parsed
    {"MESSAGE": ["first", "last ] one"]},  # a repeated field with `]` in a string: parsed
    {"MESSAGE": [[104, 105], [111, 107]]},  # a repeated byte array: parsed
    {"MESSAGE": [104, 105], "NOTE": 'a "MESSAGE":[ inside a string'},  # the key's text in a value
    {"OTHER": "no message"},
])
def test_a_json_lines_message_for_the_prefilter_equals_the_parsed_records(fmt, fields):
    """The prefilter's cheap read of a JSON line's MESSAGE (Format.message_of, every line of a JSON
    scan) must hold the parsed record's message, whatever the MESSAGE's shape: a byte array (every
    gitlab-runner line), a string with `]`, a repeated field, the key's text inside another value."""
    import json

    line = json.dumps(fields, separators=(",", ":")).encode()
    line = {"json": line, "json-seq": b"\x1e" + line, "json-sse": b"data: " + line}[fmt]
    f = formats.get(fmt)
    assert f.message_of is not None
    (record,) = f.parse([line], ParseContext("t.json"))
    text = f.message_of(line)
    assert record.message in text
    if isinstance(fields.get("MESSAGE"), list) and fields["MESSAGE"] and isinstance(fields["MESSAGE"][0], int):
        assert text.startswith("WARNING: Checking for jobs... failed") or text == "hi"
