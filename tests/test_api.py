"""The public library API: the names in `logsleuth.__all__`, and the README's library example, run as written."""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import logsleuth

ROOT = Path(__file__).resolve().parent.parent


def test_all_names_resolve_to_the_documented_objects():
    from logsleuth.model import Finding, Report
    from logsleuth.pipeline import ScanOptions, analyze
    from logsleuth.ruleset import load

    assert sorted(logsleuth.__all__) == ["Finding", "Report", "ScanOptions", "analyze", "load_rules"]
    assert (logsleuth.Finding, logsleuth.Report, logsleuth.ScanOptions, logsleuth.analyze, logsleuth.load_rules) == (
        Finding, Report, ScanOptions, analyze, load)
    assert set(logsleuth.__all__) <= set(dir(logsleuth))


def test_an_unknown_name_is_an_attribute_error():
    try:
        logsleuth.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "nothing_here" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_the_readme_library_example_runs_and_prints_findings(monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## As a library"):readme.index("## Development")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines and all(line.split()[0] in ("info", "minor", "major", "critical", "blocker") for line in lines)
    assert any("runner-jobs-forbidden" in line or "critical" in line for line in lines), os.linesep.join(lines)
