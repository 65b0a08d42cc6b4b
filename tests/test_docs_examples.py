"""Docs that run: every rule example in README.md and docs/*.md passes `rules lint --strict` and `rules test`.

An example is a fenced ```yaml block with top-level `id:` and `match:` keys. Each is written to a
folder of its own as `<id>.yaml`, as a reader would copy it, and checked by the real command line:

- `rules lint --strict DIR` with the bundled rules loaded (what `logsleuth rules lint my-rules/`
  does): an example is what people copy, so it must pass the strictest check: match and no-match
  examples, literals, a diagnosis, fix and why, no id taken from the library and no unannounced
  overlap with a bundled rule of another category;
- `rules test DIR --no-builtin`: its own examples prove it without the library's help.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

_FENCE = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.M | re.S)
_ID = re.compile(r"""^id:[ \t]*["']?([^\s"'#]+)""", re.M)
_MATCH = re.compile(r"^match:", re.M)


def doc_rules() -> list[tuple[str, str, str]]:
    """(doc path:line, rule id, YAML text) of every rule example in the README and docs/."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            body = block.group(1)
            rule_id = _ID.search(body)
            if rule_id and _MATCH.search(body):
                line = text.count("\n", 0, block.start(1)) + 1
                out.append((f"{path.relative_to(ROOT)}:{line}", rule_id.group(1), body))
    return out


RULES = doc_rules()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOGSLEUTH_RULES"}
    return subprocess.run([sys.executable, "-m", "logsleuth", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_docs_have_rule_examples() -> None:
    where = {place.split(":")[0] for place, _id, _text in RULES}
    assert {"README.md", "docs/rule-format.md"} <= where, where
    ids = [rule_id for _place, rule_id, _text in RULES]
    assert len(ids) == len(set(ids)), f"two doc examples share an id: {sorted(ids)}"


@pytest.mark.parametrize("place, rule_id, text", RULES, ids=[f"{p}:{i}" for p, i, _ in RULES])
def test_doc_rule_example_passes_lint_and_its_examples(tmp_path: Path, place: str, rule_id: str, text: str) -> None:
    (tmp_path / f"{rule_id}.yaml").write_text(text, encoding="utf-8")
    linted = _cli("rules", "lint", "--strict", tmp_path)
    assert linted.returncode == 0, f"{place}: `rules lint --strict` fails on the example:\n{linted.stdout}{linted.stderr}"
    assert "1 rule(s) checked, 0 warning(s)" in linted.stdout
    tested = _cli("rules", "test", tmp_path, "--no-builtin")
    assert tested.returncode == 0, f"{place}: `rules test` fails on the example:\n{tested.stdout}{tested.stderr}"
    assert "NONE" not in tested.stdout and " 0 failed" in tested.stdout
