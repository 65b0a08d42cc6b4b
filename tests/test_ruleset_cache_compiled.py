"""The whole compiled rule set, the Vectorscan databases and the report templates kept between runs
(ruleset/compiled.py, match/scanner.py, report/render.py): a warm run uses them and compiles
nothing, an edited rule file is compiled again, a damaged or foreign entry is ignored and rebuilt
(and never unpickled into running code), and warm findings equal cold ones."""
from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from logsleuth.ruleset import cache, compiled, loader
from logsleuth.ruleset.expr import And, Expression, Node, Not, Or
from tests.conftest import CACHE_PROBE_RULE as RULE, ROOT, needs_hyperscan

# Real wordings (gitlab-runner's network errors, as in the bundled rules' examples).
LINES = [
    "2024-03-10T14:00:01+0000 build-host gitlab-runner[812]: ERROR: Checking for jobs... forbidden                "
    "runner=ab12cd34 status=403 Forbidden",
    "2024-03-10T14:00:02+0000 build-host gitlab-runner[812]: WARNING: Checking for jobs... failed                 "
    "runner=ab12cd34 status=couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: "
    "Post \"https://gitlab.example.com/api/v4/jobs/request\": dial tcp: lookup gitlab.example.com on 127.0.0.53:53: "
    "no such host",
]


def _entries(cache_dir: Path, kind: str) -> list[Path]:
    return sorted(cache_dir.glob(f"{kind}-*"))


def _child(code: str, env: dict[str, str] | None = None) -> str:
    """Run `code` in a fresh interpreter (nothing imported yet) and return its stdout."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=env or dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


_COMPILERS = ("yaml", "lark", "logsleuth.ruleset.dsl", "logsleuth.ruleset.yamlnodes")


def _scan_modules(path: Path) -> set[str]:
    """What a real `logsleuth scan` of `path` compiled: the rule compilers it imported, and
    `template` when Jinja compiled a template (the child reports both on stderr at exit)."""
    probe = ",".join(repr(m) for m in _COMPILERS)
    code = ("import atexit, sys, jinja2\n"  # jinja2 comes with every report: importing it early changes nothing
            "compiled = []\n"
            "_compile = jinja2.Environment.compile\n"
            "def counting(self, *a, **k):\n"
            "    compiled.append(1)\n"
            "    return _compile(self, *a, **k)\n"
            "jinja2.Environment.compile = counting\n"
            f"atexit.register(lambda: sys.stderr.write('\\nCOMPILED: ' + ' '.join([m for m in ({probe},) "
            "if m in sys.modules] + ['template'] * bool(compiled)) + '\\n'))\n"
            f"sys.argv = ['logsleuth', 'scan', '-j1', {str(path)!r}]\n"
            "from logsleuth.cli import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert "dns-no-such-host" in proc.stdout  # the report, rendered
    return set(proc.stderr.rpartition("COMPILED:")[2].split())


def test_a_warm_scan_compiles_no_rule_and_no_template(cache_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "runner.log"
    log.write_text("\n".join(LINES) + "\n")
    cold = _scan_modules(log)
    assert {"yaml", "lark", "template"} <= cold  # the first run compiles (the YAML and the expressions) and fills the cache
    assert _entries(cache_dir, "rules") and _entries(cache_dir, "expr") and _entries(cache_dir, "template")
    warm = _scan_modules(log)
    assert warm == set(), f"a warm scan imported {warm}"  # rules unpickled, the template's code loaded


def _shape(value: object) -> object:
    """A compiled rule as comparable values: every field, with each expression's closure left out
    (closures compare by identity). Trees compare their regexes as compiled programs."""
    if isinstance(value, Expression):
        return ("expr", value.text, value.tree, value.literals, value.captures)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, *(_shape(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, tuple):
        return tuple(_shape(v) for v in value)
    return value


def test_warm_rules_equal_cold_ones(cache_dir: Path) -> None:
    cold = loader.load()
    assert len(_entries(cache_dir, "rules")) == 1
    warm = loader.load()
    assert len(warm) == len(cold) > 50
    for c, w in zip(cold, warm):
        assert w is not c
        assert _shape(w) == _shape(c)
    config = [r for r in warm if r.input == "config"]
    assert config and all(type(r.expr.predicate).__name__ == "_OnConfig" for r in config)


def _regexes(node: Node) -> list:
    if isinstance(node, (And, Or)):
        return [rx for n in node.items for rx in _regexes(n)]
    if isinstance(node, Not):
        return _regexes(node.item)
    return [node.regex] if node.regex is not None else []


def test_restored_regexes_are_re_compile_s_patterns(cache_dir: Path) -> None:
    import re

    loader.load()
    warm = loader.load()
    patterns = [rx for r in warm for rx in _regexes(r.expr.tree)]
    assert len(patterns) > 100
    for rx in patterns:
        fresh = re.compile(rx.pattern, rx.flags)
        assert rx == fresh and rx.groupindex == fresh.groupindex and rx.groups == fresh.groups
    # and they behave as compiled ones on a real line: same match, same groups
    line = LINES[1].split(": ", 1)[1]
    for rx in patterns:
        a, b = rx.search(line), re.compile(rx.pattern, rx.flags).search(line)
        assert (a and (a.span(), a.groupdict())) == (b and (b.span(), b.groupdict()))


def test_warm_predicates_decide_every_example_as_cold_ones(cache_dir: Path) -> None:
    from logsleuth.authoring.examples import example_records

    cold = loader.load()
    warm = loader.load()
    decided = 0
    for c, w in zip(cold, warm):
        for example in (*c.examples_match, *c.examples_no_match):
            for record in example_records(example):
                caps_c: dict[str, str] = {}
                caps_w: dict[str, str] = {}
                assert (w.expr.predicate(record, caps_w), caps_w) == (c.expr.predicate(record, caps_c), caps_c)
                decided += 1
    assert decided > 300


def test_an_edited_rule_file_is_compiled_again_in_its_entry(cache_dir: Path, tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "cache-probe.yaml").write_text(RULE.format(regex="runner token expired"))
    first = loader.load([str(rules_dir)], builtin=False)
    (entry,) = _entries(cache_dir, "rules")
    assert loader.load([str(rules_dir)], builtin=False)[0].expr.literals == frozenset({b"runner token expired"})
    (rules_dir / "cache-probe.yaml").write_text(RULE.format(regex="certificate has expired"))
    second = loader.load([str(rules_dir)], builtin=False)
    assert first[0].expr.literals == frozenset({b"runner token expired"})
    assert second[0].expr.literals == frozenset({b"certificate has expired"})
    assert _entries(cache_dir, "rules") == [entry]  # the set's entry was replaced, not added to


def test_a_rule_error_is_reported_every_time_and_never_stored(cache_dir: Path, tmp_path: Path) -> None:
    from logsleuth.errors import RuleErrors

    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "cache-probe.yaml").write_text(RULE.format(regex="unclosed (group"))
    for _ in range(2):
        with pytest.raises(RuleErrors, match="invalid regex"):
            loader.load([str(rules_dir)], builtin=False)
    assert not _entries(cache_dir, "rules")


def _bad_pickle(marker: Path) -> bytes:
    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))
    return pickle.dumps([Exploit()])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "foreign-key", "foreign-format",
                                    "hostile-pickle", "group-writable"])
def test_a_damaged_or_foreign_entry_is_ignored_and_rebuilt(cache_dir: Path, tmp_path: Path, damage: str) -> None:
    cold = loader.load()
    (path,) = _entries(cache_dir, "rules")
    data = path.read_bytes()
    head, _, payload = data.partition(b"\n")
    marker = tmp_path / "ran"
    if damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":  # one byte of the payload changed, the hash not
        i = len(head) + 1 + len(payload) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    elif damage == "foreign-key":
        fmt, _key, digest = head.split(b" ")
        path.write_bytes(b" ".join([fmt, b"0" * 64, digest]) + b"\n" + payload)
    elif damage == "foreign-format":
        _fmt, key, digest = head.split(b" ")
        path.write_bytes(b" ".join([b"other-tool/1", key, digest]) + b"\n" + payload)
    elif damage == "hostile-pickle":  # a whole, hashed entry naming a global no rule set holds
        _, key = compiled.keys("rules", loader.rule_sources([], True))
        cache.write_blob(path.name, key, _bad_pickle(marker))
        assert cache.read_blob(path.name, key) is not None  # whole and hashed: only the unpickler stands in the way
    else:  # someone else may have written it
        path.chmod(0o666)
    again = loader.load()
    assert not marker.exists()
    assert [(r.id, r.expr.tree) for r in again] == [(r.id, r.expr.tree) for r in cold]
    (rebuilt,) = _entries(cache_dir, "rules")
    assert rebuilt.read_bytes() != data or damage == "group-writable"
    if damage != "group-writable":  # (an entry others may write is never read, so never trusted again)
        assert cache.read_blob(rebuilt.name, compiled.keys("rules", loader.rule_sources([], True))[1]) is not None


def test_changed_compiler_code_makes_entries_foreign(cache_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    loader.load()
    before = compiled.keys("rules", loader.rule_sources([], True))
    other = tmp_path / "changed.py"  # one more source file of the compiler: other code
    other.write_text("X = 1\n")
    monkeypatch.setattr(compiled, "_CODE", (*compiled._CODE, other))
    after = compiled.keys("rules", loader.rule_sources([], True))
    assert after[0] == before[0] and after[1] != before[1]  # same entry name, another key: rebuilt in place


def test_no_cache_writes_no_entry(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGSLEUTH_NO_CACHE", "1")
    assert loader.load()
    assert not cache_dir.exists()


def test_warm_and_cold_cli_reports_are_identical(cache_dir: Path, tmp_path: Path) -> None:
    sample = ROOT / "fixtures" / "sample"
    cmd = [sys.executable, "-m", "logsleuth", "scan", "-j1", "--format", "json", str(sample)]
    out = []
    for env_extra in ({"LOGSLEUTH_NO_CACHE": "1"}, {}, {}):  # uncached, cold (fills), warm
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env_extra}, cwd=ROOT)
        doc = json.loads(proc.stdout)
        doc.pop("generated_at", None)
        out.append((proc.returncode, doc))
    assert out[0] == out[1] == out[2] and out[0][1]["findings"]
    text = [subprocess.run([*cmd[:5], str(sample)], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "NO_COLOR": "1", **extra}).stdout
            for extra in ({"LOGSLEUTH_NO_CACHE": "1"}, {})]  # the text report: compiled, then from its cached code
    assert text[0] == text[1] and "runner" in text[0]


# --- Vectorscan databases -----------------------------------------------------------------

def _literals() -> list[bytes]:
    """The bundled rules' literals: a set big enough to be stored (scanner._CACHE_MIN_LITERALS)."""
    lits = sorted({lit for r in loader.load() for lit in (r.expr.literals or ())})
    assert b": no such host" in lits and len(lits) > 100
    return lits


@needs_hyperscan
def test_a_warm_scanner_loads_its_database_and_finds_the_same_lines(cache_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import hyperscan

    from logsleuth.match.scanner import HyperscanScanner

    block = ("\n".join(LINES) + "\n").encode()
    literals = _literals()
    cold = HyperscanScanner(literals)
    assert len(_entries(cache_dir, "vectorscan")) == 1

    class NoCompile(hyperscan.Database):  # a warm scanner must not compile
        def compile(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("compiled although the cache holds the database")

    monkeypatch.setattr(hyperscan, "Database", NoCompile)
    warm = HyperscanScanner(literals)
    assert warm.candidates(block) == cold.candidates(block) and len(cold.candidates(block)) == 2
    host = frozenset({literals.index(b": no such host")})
    assert warm.next_line(block, 0, host) == cold.next_line(block, 0, host) is not None


@needs_hyperscan
@pytest.mark.parametrize("damage", ["garbage", "other-literals"])
def test_a_bad_database_entry_is_compiled_again(cache_dir: Path, damage: str) -> None:
    import hyperscan

    from logsleuth.match import scanner

    block = ("\n".join(LINES) + "\n").encode()
    literals = _literals()
    expected = scanner.HyperscanScanner(literals).candidates(block)
    name, key = scanner._database_key(literals)
    if damage == "garbage":  # whole and hashed, but no database
        cache.write_blob(name, key, os.urandom(2048))
    else:  # a real database, for literals other than its key says: the self-test refuses it
        cache.write_blob(name, key, hyperscan.dumpb(scanner.HyperscanScanner(literals[1:]).db))
    assert scanner._load_database(name, key, literals) is None
    assert scanner.HyperscanScanner(literals).candidates(block) == expected
    assert scanner._load_database(name, key, literals) is not None  # rewritten whole


@needs_hyperscan
def test_small_literal_sets_are_compiled_not_stored(cache_dir: Path) -> None:
    from logsleuth.match.scanner import HyperscanScanner

    HyperscanScanner([b": no such host", b"certificate has expired"])  # a rule's examples: sub-millisecond to compile
    assert not _entries(cache_dir, "vectorscan")


# --- report templates ---------------------------------------------------------------------

def test_a_warm_report_loads_its_template_code(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    from logsleuth.model import Report
    from logsleuth.report import render as render_mod
    from logsleuth.report.options import RenderOptions

    render_mod._environment.cache_clear()
    cold = render_mod.render(Report((), ()), "text", options=RenderOptions())
    assert _entries(cache_dir, "template")
    render_mod._environment.cache_clear()

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although the cache holds the template's code")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compile)
    try:
        assert render_mod.render(Report((), ()), "text", options=RenderOptions()) == cold
    finally:
        render_mod._environment.cache_clear()


def test_a_damaged_template_entry_is_compiled_again(cache_dir: Path) -> None:
    from logsleuth.model import Report
    from logsleuth.report import render as render_mod
    from logsleuth.report.options import RenderOptions

    render_mod._environment.cache_clear()
    try:
        cold = render_mod.render(Report((), ()), "text", options=RenderOptions())
        (entry,) = _entries(cache_dir, "template")
        head = entry.read_bytes().partition(b"\n")[0]
        key = head.split(b" ")[1].decode()
        good = cache.read_blob(entry.name, key)
        cache.write_blob(entry.name, key, b"j2" + os.urandom(64))  # hashed, but not Jinja's code
        render_mod._environment.cache_clear()
        assert render_mod.render(Report((), ()), "text", options=RenderOptions()) == cold
        assert cache.read_blob(entry.name, key) == good  # compiled again and stored whole
    finally:
        render_mod._environment.cache_clear()
