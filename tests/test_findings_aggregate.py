"""Findings: counts, first/last seen, evidence, fingerprints, and associative merging."""
from __future__ import annotations

import itertools

from conftest import make_rules, short_iso

from logsleuth.findings.aggregate import Aggregator, fingerprint, normalize
from logsleuth.findings.correlate import Correlator
from logsleuth.match.engine import Engine

RULE = """\
id: dns-lookup
title: t
severity: critical
category: dns
match: 'message ~ /lookup (?P<host>\\S+) on (?P<resolver>\\S+): no such host/'
message: "cannot resolve {host} (asked {resolver}) on {unit}"
"""

LOG = "\n".join(
    f"2024-03-{d:02d}T12:00:{s:02d}+0000 ci1 gitlab-runner[{800 + s}]: WARNING: Checking for jobs... failed   "
    f"status=Post \"https://{host}/api/v4/jobs/request\": dial tcp: lookup {host} on 127.0.0.53:53: no such host"
    for d, s, host in [(10, 1, "gitlab.example.com"), (10, 2, "gitlab.example.com"), (11, 3, "other.example.com"),
                       (12, 4, "gitlab.example.com"), (9, 5, "other.example.com"), (13, 6, "GITLAB.example.com")]
)


def matches(tmp_path):
    rules = make_rules(tmp_path, RULE)
    corr = Correlator()
    return list(corr.run(Engine(rules, "python").match_records(short_iso(LOG))))


def test_repeats_fold_into_one_finding_per_fingerprint(tmp_path):
    agg = Aggregator(evidence_limit=2)
    for m in matches(tmp_path):
        agg.add(m)
    by_host = {f.variables["host"].lower(): f for f in agg.findings()}
    assert set(by_host) == {"gitlab.example.com", "other.example.com"}
    g = by_host["gitlab.example.com"]
    assert g.count == 4 and g.first_seen.day == 10 and g.last_seen.day == 13
    assert [e.line for e in g.evidence] == [1, 2]  # the earliest two, by event time
    assert g.message == "cannot resolve gitlab.example.com (asked 127.0.0.53:53) on ?"
    o = by_host["other.example.com"]
    assert o.count == 2 and o.first_seen.day == 9 and [e.line for e in o.evidence] == [5, 3]


def test_fingerprint_ignores_case_pids_and_long_numbers_but_not_hosts():
    a = fingerprint("r", {"host": "gitlab.example.com", "job": "123456"}, None)
    assert a == fingerprint("r", {"host": "GitLab.example.com", "job": "987654"}, None)
    assert a != fingerprint("r", {"host": "other.example.com", "job": "123456"}, None)
    assert a != fingerprint("other-rule", {"host": "gitlab.example.com", "job": "123456"}, None)
    assert fingerprint("r", {"host": "a", "x": "1"}, ["host"]) == fingerprint("r", {"host": "a", "x": "2"}, ["host"])
    assert normalize(" Job 4242 ") == "job #"


def _findings(agg):
    return [(f.rule_id, f.fingerprint, f.count, f.first_seen, f.last_seen, f.variables, f.evidence)
            for f in agg.findings()]


def test_merge_is_associative_and_equals_one_pass(tmp_path):
    ms = matches(tmp_path)
    single = Aggregator(evidence_limit=2)
    for m in ms:
        single.add(m)
    for cut1, cut2 in itertools.combinations(range(len(ms) + 1), 2):
        parts = []
        for chunk in (ms[:cut1], ms[cut1:cut2], ms[cut2:]):
            agg = Aggregator(evidence_limit=2)
            for m in chunk:
                agg.add(m)
            parts.append(agg)
        a, b, c = parts
        left, right = a.merge(b).merge(c), a.merge(b.merge(c))
        assert _findings(left) == _findings(right) == _findings(single)
        assert _findings(c.merge(a).merge(b)) == _findings(single)  # order of partitions does not matter
