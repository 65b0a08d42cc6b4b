"""Matching that survives real shapes: errors inside JSON strings and Go errors wrapped over lines.

Every scenario runs the real readers and matcher, and every path must agree: each prefilter
backend, the raw-block path and the parsed path, small blocks (entries cut across them) and big
ones, one worker and two.
"""
from __future__ import annotations

import json
import random
import textwrap

import pytest
from conftest import BACKENDS, make_rules, needs_hyperscan
# scan_file forces the format when asked: detection reads the first block, so without it the
# block size could change the format of a file that mixes shapes.
from test_match_engine import BUNDLED, scan_file, summary

from logsleuth.authoring.examples import findings_for, parse_lines
from logsleuth.read import formats
from logsleuth.read.formats.lines import MAX_WRAPPED, go_wrapped



@needs_hyperscan
def test_hyperscan_is_among_the_backends_compared():
    assert BACKENDS[-1] == "hyperscan"


def scan_everywhere(path, rules, input_format: str | None = None):
    """Findings of every backend x path x block size; asserts they are all the same and returns them."""
    reference = scan_file(path, rules, "python", True, 1 << 20, input_format)
    for backend in BACKENDS:
        for parsed in (False, True):
            for block_size in (512, 4096, 1 << 20):
                got = scan_file(path, rules, backend, parsed, block_size, input_format)
                assert got == reference, (backend, parsed, block_size)
    return reference


def _rules(tmp_path, *texts):
    return make_rules(tmp_path, *(textwrap.dedent(t).strip() + "\n" for t in texts))


@pytest.fixture
def shape_rules(tmp_path):
    return _rules(tmp_path, r"""
        id: stderr-x509
        title: x509 in a JSON stderr
        severity: major
        category: tls-x509
        match: 'message ~ /"stderr": "x509: certificate signed by unknown authority\n/'
        message: "x509"
        """, r"""
        id: no-such-host-eol
        title: DNS name not found
        severity: major
        category: dns
        match: 'message ~ /lookup (?P<host>\S+) on (?P<resolver>\S+): no such host$/'
        message: "{host} via {resolver}"
        """, r"""
        id: post-quoted
        title: a Post to a quoted URL failed
        severity: minor
        category: runner-connectivity
        match: 'message ~ /Post "(?P<url>https:\/\/[^"]+)": net\/http: TLS handshake timeout/'
        message: "{url}"
        """, r"""
        id: html-escaped
        title: Go's encoding/json writes > as \u003e
        severity: minor
        category: api-server-error
        match: 'message ~ /upstream said -> 502 Bad Gateway/'
        message: "502"
        """)


def test_errors_inside_json_strings_are_matched_on_their_decoded_text(tmp_path, shape_rules):
    path = tmp_path / "mixed.log"
    lines = [
        "TASK [gitlab-runner : register] ******",
        ('fatal: [ci-1]: FAILED! => {"changed": false, "msg": "FAILED! => {\\"stderr\\": \\"x509: '
         'certificate signed by unknown authority\\\\n\\", \\"rc\\": 1}"}'),
        ('{"level":"error","msg":"Checking for jobs... failed","error":"dial tcp: lookup gitlab on '
         '10.0.0.2:53: no such host\\u001b[0m"}'),
        ('{"level":"warning","msg":"Post \\"https://gitlab.example.com/api/v4/jobs/request\\": net/http: '
         'TLS handshake timeout"}'),
        '{"msg":"upstream said -\\u003e 502 Bad Gateway","level":"error"}',
        "nothing to see here",
    ]
    path.write_text("\n".join(lines * 3) + "\n")
    found = scan_everywhere(path, shape_rules, "plain")
    by_rule = {f[0]: f for f in found}
    assert set(by_rule) == {"stderr-x509", "no-such-host-eol", "post-quoted", "html-escaped"}
    assert {f[0]: f[2] for f in found} == dict.fromkeys(by_rule, 3)
    # Evidence is the line as logged, at its own line number.
    assert [e[1] for e in by_rule["no-such-host-eol"][5]][:1] == [3]
    assert "\\u001b[0m" in by_rule["no-such-host-eol"][5][0][2]


def test_captures_come_from_the_decoded_text_only_when_the_message_does_not_match(tmp_path, shape_rules):
    fmt, _reason, records = parse_lines([
        '{"level":"warning","msg":"Post \\"https://gitlab.example.com/api/v4/jobs/request\\": net/http: '
        'TLS handshake timeout"}'], "plain", "<t>")
    (finding,) = findings_for(shape_rules, records)
    assert finding.rule_id == "post-quoted"
    assert finding.variables["url"] == "https://gitlab.example.com/api/v4/jobs/request"


def test_json_escapes_in_journal_messages_agree_across_paths(tmp_path, shape_rules):
    # The same lines carried by `journalctl -o json` (the message path) and short-iso (raw path).
    msgs = ['{"level":"error","msg":"Checking for jobs... failed","error":"dial tcp: lookup gitlab on '
            '10.0.0.2:53: no such host\\u001b[0m"}',
            'level=warning msg="Post \\"https://gitlab.example.com/api/v4/jobs/request\\": net/http: TLS handshake timeout"']
    short = tmp_path / "j.log"
    short.write_text("".join(f"2024-03-10T12:00:{i:02d}+0000 ci-1 gitlab-runner[812]: {m}\n" for i, m in enumerate(msgs)))
    js = tmp_path / "j.json"
    js.write_text("".join(json.dumps({"__REALTIME_TIMESTAMP": str(1710072000_000000 + i), "_HOSTNAME": "ci-1",
                                      "SYSLOG_IDENTIFIER": "gitlab-runner", "MESSAGE": m}) + "\n"
                          for i, m in enumerate(msgs)))
    a, b = scan_everywhere(short, shape_rules), scan_everywhere(js, shape_rules)
    assert [f[0] for f in a] == [f[0] for f in b] == ["no-such-host-eol", "post-quoted"]


WRAPPED = ("WARNING: Checking for jobs... failed                runner=abc status=couldn't execute POST against "
           "https://gitlab.example.com/api/v4/jobs/request: Post \"https://gitlab.example.com/api/v4/jobs/request\": "
           "dial tcp: lookup gitlab.example.com on 127.0.0.53:53:\n no such host")


@pytest.mark.parametrize("fmt", ["plain", "runner"])
def test_a_go_error_wrapped_after_a_colon_is_one_event_at_its_first_line(tmp_path, shape_rules, fmt):
    path = tmp_path / f"wrapped.{fmt}.log"
    head = "WARNING: Checking for jobs... received   job=1 repo_url=https://gitlab.example.com/g/p.git runner=abc"
    path.write_text(f"{head}\n{WRAPPED}\n{head}\n{WRAPPED}\n")
    _f, _r, records = parse_lines(path.read_text().splitlines(), fmt, str(path))
    assert [(r.origin.line, r.origin.span) for r in records] == [(1, 1), (2, 2), (4, 1), (5, 2)]
    assert records[1].message.endswith("lookup gitlab.example.com on 127.0.0.53:53: no such host")
    assert records[1].raw.count("\n") == 1
    found = scan_everywhere(path, shape_rules, fmt)
    ((rule, _fp, count, _first, _last, evidence),) = found
    assert (rule, count) == ("no-such-host-eol", 2)
    assert [e[1] for e in evidence] == [2, 5]
    assert evidence[0][2].endswith("127.0.0.53:53:\n no such host")  # both lines, as logged


def test_the_bundled_dns_rule_reads_the_wrapped_paste():
    _f, _r, records = parse_lines([WRAPPED], None, "<paste>")
    got = {f.category for f in findings_for(BUNDLED, records)}
    assert "dns" in got


def test_wrapped_job_trace_lines_join_inside_sections():
    lines = ["section_start:1710072000:step_script\r\x1b[0K\x1b[0KExecuting step_script\x1b[0;m",
             "\x1b[31;1mERROR: dial tcp: lookup registry.example.com on 10.0.0.2:53:\x1b[0;m",
             "  no such host",
             "2024-03-10T12:00:00.000001Z 00O fatal: unable to access 'https://x/': Could not resolve host:",
             "2024-03-10T12:00:00.000002Z 00O  x",
             "section_end:1710072001:step_script\r\x1b[0K"]
    _f, _r, records = parse_lines(lines, "job-trace", "<trace>")
    assert [(r.origin.line, r.origin.span, r.section) for r in records] == [
        (1, 1, "step_script"), (2, 2, "step_script"), (4, 2, "step_script")]
    assert records[1].message == "ERROR: dial tcp: lookup registry.example.com on 10.0.0.2:53: no such host"
    assert records[2].message == "fatal: unable to access 'https://x/': Could not resolve host: x"


@pytest.mark.parametrize("prev,line,joined", [
    (b"dial tcp: lookup h on 1.1.1.1:53:", b" no such host", True),
    (b"Post https://h/api/v4/jobs/request: Post https://h/api/v4/jobs/request:", b"x509: certificate", True),
    (b"dial tcp: lookup h on 1.1.1.1:53:\r", b" no such host\r", True),
    (b"Containers:", b"  mysql:", False),  # a heading, not an error chain
    (b"Installing for dependencies:", b" libtirpc  x86_64", False),
    (b"error: a: b:", b"", False),
    (b"error: a: b:", b"   ", False),
    (b"error: a: b:", b"Upper-case starts a new line", False),
    (b"error: a: b:", b"2024-03-10T12:00:00+0000 host x: y", False),
    (b"error: a: b: c", b" tail", False),  # prev does not end with ':'
    (b"error: a: b:", b" " + b"x" * 200, False),  # too long to be a wrapped tail
    # A terminal or poster that wraps at a word keeps the space after the colon: then the next
    # link may start with a capital (fixtures/real/network-timeout/n2-helm-repo-add-tls-handshake-timeout-wrapped.log).
    (b"or cannot be reached: Get https://h/index.yaml: net/http: ", b"TLS handshake timeout", True),
    (b"error: a: b:  \t\r", b"x509: certificate", True),
    (b"error: a: b: ", b"2024-03-10T12:00:00+0000 host x: y", False),  # a digit: a new entry's timestamp
    (b"Containers: ", b"Mysql", False),  # still a heading: no earlier `: `
])
def test_go_wrapped(prev, line, joined):
    assert go_wrapped(prev, line) is joined


def test_a_chain_wrapped_after_a_colon_and_a_space_is_read_the_same_by_every_reader(tmp_path):
    lines = ["$ helm repo add deis https://charts.deis.com/workflow",
             'Error: Looks like "https://charts.deis.com/workflow" is not a valid chart repository',
             "or cannot be reached: Get https://charts.deis.com/workflow/index.yaml: net/http: ",
             "TLS handshake timeout", "done"]
    path = tmp_path / "helm.log"
    path.write_text("\n".join(lines) + "\n")
    _f, _r, records = parse_lines(lines, "plain", str(path))
    assert [(r.origin.line, r.origin.span) for r in records] == [(1, 1), (2, 1), (3, 2), (5, 1)]
    assert records[2].message.endswith("net/http: TLS handshake timeout")
    found = scan_everywhere(path, [r for r in BUNDLED if r.id == "tls-handshake-timeout"], "plain")
    assert found, "the bundled rule reads the joined line on every path"


def test_a_long_chain_is_cut_the_same_way_by_every_reader(tmp_path, shape_rules):
    # 1 head + 7 tails: groups of 1 + MAX_WRAPPED lines counted from the chain's first line.
    chain = ["error: a: b:"] + [f" part{i}: x:" for i in range(6)] + [" no such host"]
    path = tmp_path / "chain.log"
    path.write_text("\n".join(["start"] + chain + ["end"]) + "\n")
    _f, _r, records = parse_lines(path.read_text().splitlines(), "plain", str(path))
    assert [(r.origin.line, r.origin.span) for r in records] == [(1, 1), (2, 1 + MAX_WRAPPED), (6, 1 + MAX_WRAPPED),
                                                                 (10, 1)]
    scan_everywhere(path, shape_rules, "plain")


def test_structured_formats_never_join_lines():
    lines = ["2024-03-10T12:00:00+0000 ci-1 gitlab-runner[812]: ERROR: dial tcp: lookup h on 1.1.1.1:53:",
             "2024-03-10T12:00:01+0000 ci-1 gitlab-runner[812]: no such host"]
    _f, _r, records = parse_lines(lines, "short-iso", "<j>")
    assert len(records) == 2
    assert all(formats.get(name).wrapped is None for name in formats.FORMATS
               if name not in ("plain", "runner"))


def noisy_plain_corpus(seed: int, n: int = 6000) -> str:
    """Plain text: healthy noise, every bundled example line, wrapped errors and JSON-escaped lines."""
    rnd = random.Random(seed)
    examples = [line for r in BUNDLED for ex in r.examples_match for text in ex.lines for line in text.split("\n")]
    shapes = [WRAPPED, "Containers:\n  mysql:\n    Image: mysql",
              'fatal: [h]: FAILED! => {"msg": "\\u001b[31mx509: certificate signed by unknown authority\\u001b[0m\\n"}',
              '{"level":"error","msg":"Checking for jobs... failed","error":"dial tcp: lookup gitlab on 10.0.0.2:53: '
              'no such host\\u001b[0m"}',
              "ERROR: Job failed: error during connect: Post \"http://docker/v1.24/containers/create\":\n"
              " dial unix /var/run/docker.sock: connect: permission denied"]
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.1:
            out.append(rnd.choice(examples))
        elif r < 0.16:
            out.append(rnd.choice(shapes))
        else:
            out.append(f"step {i}: compiling module m{i % 97}: ok")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed,fmt", [(11, "plain"), (12, "runner"), (13, None)])
def test_backends_paths_and_blocks_agree_on_real_shapes(tmp_path, seed, fmt):
    path = tmp_path / "shapes.log"
    path.write_text("step 0: start\n" * 60 + noisy_plain_corpus(seed))  # detected as plain text
    found = scan_everywhere(path, BUNDLED, fmt)
    assert len(found) >= 10
    assert any(f[0] == "dns-no-such-host" and "127.0.0.53:53:\n no such host" in e[2] for f in found for e in f[5])


def test_parallel_workers_agree_on_wrapped_plain_text(tmp_path, monkeypatch):
    from logsleuth.match import parallel
    from logsleuth.pipeline import ScanOptions, analyze

    path = tmp_path / "big.log"
    path.write_text(noisy_plain_corpus(13, n=30000))
    monkeypatch.setattr(parallel, "MIN_SIZE", 0)
    monkeypatch.setattr(parallel, "RANGE_SIZE", 16 << 10)  # many ranges, some cut next to a wrapped error
    assert len(parallel.ranges(str(path), formats.get("plain"))) > 20
    single = analyze([str(path)], BUNDLED, ScanOptions(jobs=1))
    split = analyze([str(path)], BUNDLED, ScanOptions(jobs=2))
    assert summary(split.findings) == summary(single.findings) and len(single.findings) >= 10


def test_explain_shows_the_decoded_text_and_finds_escaped_literals(tmp_path, shape_rules):
    from logsleuth.authoring.catalogue import explain

    post = next(r for r in shape_rules if r.id == "post-quoted")
    line = ('{"level":"warning","msg":"Post \\"https://gitlab.example.com/api/v4/jobs/request\\": net/http: '
            'TLS handshake timeout"}')
    text, fired = explain(post, line, "plain")
    assert fired
    assert "prefilter: candidate" in text
    assert 'decoded (message tests try it too): Post "https://gitlab.example.com/api/v4/jobs/request": net/http' in text
    dns = next(r for r in shape_rules if r.id == "no-such-host-eol")
    text, fired = explain(dns, WRAPPED, "plain")
    assert fired and "prefilter: candidate" in text
