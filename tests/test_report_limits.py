"""User templates (--template) render under limits: value size, output size, time and recursion.

Each limit ends the render with a located LogsleuthError (the CLI's exit 2), never a traceback,
and the sandbox stays: a template still cannot reach Python internals.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import MEMORY_CEILING, run_bounded

from logsleuth.errors import LogsleuthError
from logsleuth.model import Report
from logsleuth.report import render as render_module
from logsleuth.report.options import RenderOptions
from logsleuth.report.render import render

LOG = "2024-03-10T12:00:05+0000 ci1 kernel: Out of memory: Killed process 4242 (java)\n"


def _render(tmp_path: Path, source: str) -> str:
    path = tmp_path / "user.j2"
    path.write_text(source)
    return render(Report(findings=(), rules=()), "user", options=RenderOptions(template=str(path)))


def _cli(tmp_path: Path, source: str, timeout: float = 30.0) -> tuple[int, str, float, int]:
    """(status, stderr, seconds, peak RSS bytes) of a real scan with the template, under RLIMIT_AS."""
    (tmp_path / "t.j2").write_text(source)
    (tmp_path / "x.log").write_text(LOG)
    return run_bounded("scan", "--template", str(tmp_path / "t.j2"), str(tmp_path / "x.log"), timeout=timeout)


def test_a_huge_repeat_is_refused_before_it_is_built(tmp_path):
    status, err, seconds, rss = _cli(tmp_path, "{{ 'x' * 10**10 }}\n")
    assert status == 2 and "Traceback" not in err
    assert "t.j2:1: template error: a value of 10,000,000,000 items is over the limit" in err
    assert seconds < 15 and rss < MEMORY_CEILING // 2  # the scan's own baseline, far from 10 GB


@pytest.mark.parametrize("source, message", [
    ("{{ 2 ** 1000000 }}", r"2 \*\* 1000000 is over the limit"),
    ("{{ ('ab' * 5000000) + ('cd' * 5000000) }}", "a value of 20,000,000 items is over the limit"),
    ("{% set big = [1] * 20000000 %}", "a value of 20,000,000 items is over the limit"),
])
def test_other_value_bombs_are_refused(tmp_path, source, message):
    with pytest.raises(LogsleuthError, match=message):
        _render(tmp_path, source)


def test_output_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "MAX_OUTPUT_CHARS", 1 << 20)
    with pytest.raises(LogsleuthError, match="template output over the limit of 1 MiB") as info:
        _render(tmp_path, "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}")
    assert info.value.location.path.endswith("user.j2")


def test_an_endless_loop_is_stopped_at_the_time_budget_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "MAX_RENDER_SECONDS", 0.5)
    start = time.monotonic()
    with pytest.raises(LogsleuthError, match="still rendering after 0.5 s") as info:
        _render(tmp_path, "header\n{% for i in range(100000) %}\n{% for j in range(100000) %}{% endfor %}{% endfor %}\n")
    assert time.monotonic() - start < 5
    assert info.value.location.line == 3  # the inner loop, where it was stopped


@pytest.mark.parametrize("source", [
    "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}",
    "{% include 'user.j2' %}",
])
def test_recursion_is_a_clear_error(tmp_path, source):
    with pytest.raises(LogsleuthError, match="template recursion too deep") as info:
        _render(tmp_path, source)
    assert info.value.location.path.endswith("user.j2")


def test_the_sandbox_stays(tmp_path):
    with pytest.raises(LogsleuthError, match="unsafe|not safely callable|access to attribute"):
        _render(tmp_path, "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert _render(tmp_path, "{{ 'ab' * 3 }} {{ 2 ** 10 }}") == "ababab 1024"
