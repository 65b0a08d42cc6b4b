"""Findings: counts, first/last seen, evidence, fingerprints, and associative merging."""
from __future__ import annotations

import collections
import itertools

from conftest import make_rules, short_iso

from logsleuth.findings.aggregate import Aggregator, fingerprint, normalize, render_message
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


def test_a_message_placeholder_reads_its_fallback_when_nothing_was_captured():
    (rec,) = short_iso("2024-03-10T12:00:01+0000 ci1 gitlab-runner[812]: Runner x is not healthy and will be disabled!")
    template = "Runner {runner} paused for {interval|an hour} on {host|?host} ({nothing})"
    assert render_message(template, {"runner": "x", "interval": ""}, rec) == \
        "Runner x paused for an hour on ci1 (?)"
    assert render_message(template, {"runner": "x", "interval": "30m"}, rec).startswith("Runner x paused for 30m on")


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


def _storm(tmp_path, hosts):
    """Matches of one rule on `hosts` (one line each), every line its own host."""
    lines = "\n".join(
        f"2024-03-10T12:{i // 60 % 60:02d}:{i % 60:02d}+0000 ci1 gitlab-runner[811]: WARNING: Checking for jobs... "
        f"failed   status=dial tcp: lookup {h} on 127.0.0.53:53: no such host" for i, h in enumerate(hosts))
    rules = make_rules(tmp_path, RULE)
    return list(Correlator().run(Engine(rules, "python").match_records(short_iso(lines))))


def test_a_rule_past_max_distinct_folds_into_one_finding_counting_everything(tmp_path):
    hosts = [f"host-{i % 37}.example.com" if i % 2 else f"host-{i}.example.com" for i in range(400)]
    ms = _storm(tmp_path, hosts)
    agg = Aggregator(evidence_limit=3, max_distinct=50)
    for m in ms:
        agg.add(m)
    (f,) = agg.findings()
    assert f.count == 400  # nothing dropped
    distinct = len({h.lower() for h in hosts})
    assert f"[{distinct:,} distinct values of host, resolver, top 20 shown (of the first 50 tracked): " in f.message
    # The most frequent value among the first 50 tracked comes first (the earliest on a tie).
    tracked = list(dict.fromkeys(hosts))[:50]
    counts = collections.Counter(h for h in hosts if h in tracked)
    best = max(tracked, key=lambda h: (counts[h], -tracked.index(h)))
    shown = f.message.split("tracked): ", 1)[1].rstrip("]").split("; ")
    assert shown[0] == f"{best}, 127.0.0.53:53 ({counts[best]}x)" and len(shown) == 20
    assert [e.line for e in f.evidence] == [1, 2, 3]
    assert f.variables == {"host": f"<{distinct:,} distinct values>", "resolver": f"<{distinct:,} distinct values>"}


def test_folding_survives_merge_and_keeps_counts(tmp_path):
    ms = _storm(tmp_path, [f"h{i}.example.com" for i in range(120)])
    parts = [Aggregator(max_distinct=50) for _ in range(3)]
    for i, m in enumerate(ms):
        parts[i % 3].add(m)
    (f,) = parts[0].merge(parts[1]).merge(parts[2]).findings()
    assert f.count == 120 and "120 distinct values" in f.message
    under = Aggregator(max_distinct=200)
    for m in ms:
        under.add(m)
    assert len(under.findings()) == 120  # below the cap every value keeps its own finding


def test_a_storm_of_distinct_values_is_one_incident_too(tmp_path, monkeypatch):
    from logsleuth.findings import incidents as incidents_module
    from logsleuth.findings.incidents import IncidentBuilder

    monkeypatch.setattr(incidents_module, "MAX_DISTINCT", 30)
    ms = _storm(tmp_path, [f"h{i}.example.com" for i in range(100)])
    builder = IncidentBuilder()
    for m in ms:
        builder.add(m)
    (incident,) = builder.incidents()
    assert len(builder._all) == 1  # 30 incidents folded into the shared one, not kept
    # Its facts are its Aggregator's findings: one per value below the Aggregator's own cap (1,000).
    assert len(incident.facts) == 100 and sum(f.count for f in incident.facts) == 100
    again = builder.incidents()[0]
    assert sum(f.count for f in again.facts) == 100  # asking twice counts nothing twice


def test_folded_incident_tracks_the_earliest_values(tmp_path, monkeypatch):
    from logsleuth.findings import incidents as incidents_module
    from logsleuth.findings.incidents import IncidentBuilder

    monkeypatch.setattr(incidents_module, "MAX_DISTINCT", 10)
    ms = _storm(tmp_path, [f"h{chr(97 + i // 26)}{chr(97 + i % 26)}.example.com" for i in range(60)])
    monkeypatch.setattr(incidents_module, "Aggregator", lambda limit: Aggregator(limit, max_distinct=20))
    builder = IncidentBuilder()
    for m in ms:
        builder.add(m)
    (incident,) = builder.incidents()
    (f,) = incident.facts
    assert f.count == 60 and "60 distinct values" in f.message
    assert "tracked): haa.example.com, 127.0.0.53:53 (1x); hab.example.com" in f.message  # the first lines' values
