"""Rule files: schema, located errors (path:line:col in the YAML file), all errors at once, selection."""
from __future__ import annotations

import textwrap

import pytest

from logsleuth import ruleset
from logsleuth.errors import RuleErrors

GOOD = """\
id: {id}
title: Runner cannot resolve the GitLab host
severity: critical
category: dns
tags: [network]
match: 'message ~ /lookup (?P<host>\\S+) on \\S+: no such host/'
message: "cannot resolve {{host}}"
diagnosis: run dig
fix: fix resolv.conf
why: DNS
references: [https://example.com]
examples:
  match:
    - "dial tcp: lookup gitlab.example.com on 127.0.0.53:53: no such host"
  no-match:
    - "lookup ok"
"""


def write(tmp_path, name, text):
    p = tmp_path / f"{name}.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def load_errors(tmp_path):
    with pytest.raises(RuleErrors) as info:
        ruleset.load([str(tmp_path)], builtin=False)
    return info.value.errors


def test_a_good_rule_loads(tmp_path):
    write(tmp_path, "dns-x", GOOD.format(id="dns-x"))
    (rule,) = ruleset.load([str(tmp_path)], builtin=False)
    assert rule.id == "dns-x" and rule.info.category == "dns" and rule.expr.captures == ("host",)
    assert rule.examples_match[0].lines == ("dial tcp: lookup gitlab.example.com on 127.0.0.53:53: no such host",)


# (name, file text, expected line, column, message start): each error must point into the YAML file.
MALFORMED = [
    ("typo-in-expression", "id: typo-in-expression\ntitle: t\nseverity: major\ncategory: dns\nmatch: 'message ~ /x/ adn host == \"a\"'\n",
     5, 23, "match: unexpected 'adn'"),
    ("unknown-field", "id: unknown-field\ntitle: t\nseverity: major\ncategory: dns\nmatch: mesage ~ /x/\n",
     5, 8, "match: unknown field 'mesage'"),
    ("bad-regex", "id: bad-regex\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /(x/\n",
     5, 19, "match: invalid regex"),
    ("block-scalar", "id: block-scalar\ntitle: t\nseverity: major\ncategory: dns\nmatch: |\n  message ~ /a/\n  and hots == \"x\"\n",
     7, 7, "match: unknown field 'hots'"),
    ("wrong-type", "id: wrong-type\ntitle: t\nseverity: major\ncategory: dns\nmatch: 'message > 5'\n",
     5, 19, "match: field 'message' holds text"),
    ("missing-key", "id: missing-key\ntitle: t\nseverity: major\nmatch: message ~ /abc/\n",
     1, 1, "missing required key 'category'"),
    ("unknown-key", "id: unknown-key\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /abc/\nfixx: do it\n",
     6, 1, "unknown key 'fixx' in a rule; did you mean 'fix'?"),
    ("bad-severity", "id: bad-severity\ntitle: t\nseverity: high\ncategory: dns\nmatch: message ~ /abc/\n",
     3, 11, "severity 'high' must be one of"),
    ("id-mismatch", "id: other-name\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /abc/\n",
     1, 5, "id 'other-name' must equal the file name 'id-mismatch'"),
    ("bad-yaml", "id: bad-yaml\ntitle: [unclosed\nseverity: major\n",
     3, 9, "invalid YAML"),
    ("folded", "id: folded\ntitle: t\nseverity: major\ncategory: dns\nmatch: >\n  message ~ /abc/\n",
     5, 8, "match: use a literal block"),
    ("bad-window", "id: bad-window\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /abc/\n"
                   "correlate:\n  followed_by: {match: 'message ~ /def/ or', within: 5x}\n",
     7, 43, "followed_by.match: expression ends too early"),
    ("same-entry-absence", "id: same-entry-absence\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /abc/\n"
                           "correlate:\n  not_followed_by: {match: 'message ~ /def/', within: 5m, same_entry: true}\n",
     7, 59, "unknown key 'same_entry' in not_followed_by"),
    ("same-entry-not-bool", "id: same-entry-not-bool\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /abc/\n"
                            "correlate:\n  followed_by: {match: 'message ~ /def/', within: 5m, same_entry: yes please}\n",
     7, 67, "'same_entry' must be true or false"),
    ("bad-duration", "id: bad-duration\ntitle: t\nseverity: major\ncategory: dns\nmatch: message ~ /abc/\n"
                     "correlate:\n  threshold: {count: 3, within: soon}\n",
     7, 33, "'soon' is not a duration"),
    ("double-quoted", 'id: double-quoted\ntitle: t\nseverity: major\ncategory: dns\nmatch: "host == \\"a\\" and pidd == 1"\n',
     5, 25, "match: unknown field 'pidd'"),
]


@pytest.mark.parametrize("name, text, line, col, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_error_locations(tmp_path, name, text, line, col, message):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    errors = load_errors(tmp_path)
    assert [str(e.location.path) for e in errors][:1] == [str(path)]
    err = errors[0]
    assert (err.location.line, err.location.col, err.message[: len(message)]) == (line, col, message)
    rendered = str(err)
    assert rendered.startswith(f"{path}:{line}:{col}: ")
    assert rendered.splitlines()[-1].index("^") - 4 == col - 1  # the caret sits under the column


def test_every_error_in_every_file_is_reported_at_once(tmp_path):
    for name, text, *_ in MALFORMED:
        (tmp_path / f"{name}.yaml").write_text(text)
    errors = load_errors(tmp_path)
    files = {e.location.path.rsplit("/", 1)[-1][:-5] for e in errors}
    assert files == {m[0] for m in MALFORMED}


def test_duplicate_ids_and_unknown_supersedes(tmp_path):
    text = "rules:\n" + textwrap.indent(GOOD.format(id="dup"), "  ").replace("  id:", "- id:", 1)
    text += textwrap.indent(GOOD.format(id="dup"), "  ").replace("  id:", "- id:", 1)
    (tmp_path / "pack.yaml").write_text(text)
    errors = load_errors(tmp_path)
    assert any("duplicate rule id 'dup'" in e.message for e in errors)


def test_select_by_id_tag_and_category(tmp_path):
    write(tmp_path, "dns-a", GOOD.format(id="dns-a"))
    write(tmp_path, "dns-b", GOOD.format(id="dns-b").replace("tags: [network]", "tags: [special]"))
    loaded = ruleset.load([str(tmp_path)], builtin=False)
    assert [r.id for r in ruleset.select(loaded, only=["special"])] == ["dns-b"]
    assert [r.id for r in ruleset.select(loaded, only=["dns"], skip=["dns-a"])] == ["dns-b"]
    assert [r.id for r in ruleset.select(loaded, skip=["network"])] == ["dns-b"]


def test_bundled_rules_ship_in_the_package():
    sources = ruleset.rule_sources([], builtin=True)
    assert sources and all(path.startswith("rules/") for path, _ in sources)
