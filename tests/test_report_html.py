"""`--format html`: one self-contained page, escaped everywhere, opened in a real headless Chromium
(Debian's `chromium`; .ci/run installs it, so CI always runs these; skipped only where it is missing)."""
from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
ARTIFACTS = ROOT / ".ci" / "artifacts"
# A runner line with markup where the host and the message are; the rule still matches it (DNS).
HOSTILE = ('2024-03-10T12:07:30+0000 <i>evil</i> gitlab-runner[812]: WARNING: Checking for jobs... failed   '
           'runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp: lookup '
           'gitlab.example.com on 127.0.0.53:53: no such host <script>document.title="pwned"</script>'
           '<img src=x onerror="document.title=\'pwned\'">\n')


class _Page(html.parser.HTMLParser):
    """Tags, ids and the URLs a page would load, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("src", "href") and value and not value.startswith("#"):
                self.urls.append(value)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _html(cmd: list[str], tmp_path: Path, *inputs: Path) -> Path:
    out = tmp_path / "report.html"
    run = subprocess.run([*cmd, "scan", *map(str, inputs), "--format", "html", "-o", str(out), "--fail-on", "none",
                          "-j", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 3), run.stderr
    assert "Traceback" not in run.stderr
    return out


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", *args], capture_output=True, text=True,
                          timeout=90, env={**os.environ, "HOME": str(tmp_path)})


def test_one_self_contained_page_with_every_section(logsleuth_cmd: list[str], tmp_path: Path, tree: Path) -> None:
    text = _html(logsleuth_cmd, tmp_path, tree).read_text(encoding="utf-8")
    page = _parse(text)
    assert {"verdict", "timeline", "incidents", "hosts", "categories", "problems", "inputs"} <= page.ids
    assert page.urls == []  # only in-page links: nothing to fetch, works offline
    assert "script" not in page.tags and "link" not in page.tags and "http://www.w3.org/2000/svg" in text
    assert page.tags.count("rect") >= 6  # one bar per category per day with matches
    assert "ci-runner-1x-export.tar.gz" in text and "ci-runner-1/syslog.1:2" in text  # problems, path:line
    assert "Content-Security-Policy" in text  # no script would run even if something slipped through


def test_log_text_is_escaped_everywhere(logsleuth_cmd: list[str], tmp_path: Path) -> None:
    log = tmp_path / "hostile.log"
    log.write_text(HOSTILE)
    text = _html(logsleuth_cmd, tmp_path, log).read_text(encoding="utf-8")
    page = _parse(text)
    assert "script" not in page.tags and "img" not in page.tags and "i" not in page.tags
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in text
    assert "<td>&lt;i&gt;evil&lt;/i&gt;</td>" in text  # the host column of the per-host table


@needs_chromium
def test_chromium_renders_the_report(logsleuth_cmd: list[str], tmp_path: Path, tree: Path) -> None:
    report = _html(logsleuth_cmd, tmp_path, tree)
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = _parse(dom.stdout)
    assert {"verdict", "timeline", "incidents", "hosts", "problems"} <= page.ids
    assert page.tags.count("rect") >= 6 and page.tags.count("section") >= 7  # verdict + 6 incidents
    assert "6 incidents" in dom.stdout and "ci-runner-2" in dom.stdout
    shot = tmp_path / "report.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1100,1800", "--hide-scrollbars",
                    report.as_uri())
    assert run.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if ARTIFACTS.is_dir():
        shutil.copy(shot, ARTIFACTS / "report-html.png")


@needs_chromium
def test_chromium_runs_no_log_script(logsleuth_cmd: list[str], tmp_path: Path) -> None:
    log = tmp_path / "hostile.log"
    log.write_text(HOSTILE)
    dom = _chromium(tmp_path, "--dump-dom", _html(logsleuth_cmd, tmp_path, log).as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = _parse(dom.stdout)
    # the page's title is the report's, not the one the log's script or onerror would have set
    assert "script" not in page.tags and "img" not in page.tags
    assert "<title>logsleuth report" in dom.stdout and "pwned</title>" not in dom.stdout
    assert "&lt;script&gt;" in dom.stdout
