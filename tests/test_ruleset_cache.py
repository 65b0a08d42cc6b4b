"""The compile cache's literal memo: used when warm, extended when a rule changes, ignored when corrupt or
foreign, safe under concurrent runs, and never changing what the rules find.

The whole compiled rule set has its own entry in front of this memo (tests/test_ruleset_cache_compiled.py);
`_load` compiles past it, so these tests see the memo at work."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logsleuth.ruleset import cache, loader
from tests.conftest import CACHE_PROBE_RULE as RULE, ROOT


def _load(rules_dir: Path | None = None) -> tuple[list, cache._Store]:
    """Compile the rules in a memo session, bypassing the compiled-rules entry (which would answer
    before any literal is derived)."""
    sources = loader.rule_sources([str(rules_dir)] if rules_dir else [], builtin=rules_dir is None)
    with cache.session() as store:
        rules = loader._compile(sources)
    return rules, store


def _literals(rules: list) -> dict[str, object]:
    return {r.id: r.expr.literals for r in rules}


def test_cold_run_fills_the_cache_and_a_warm_run_computes_nothing(cache_dir: Path) -> None:
    cold, store = _load()
    assert store.misses > 50 and store.hits < store.misses  # hits: patterns two rules share
    files = list(cache_dir.glob("compile-*.json"))
    assert len(files) == 1
    warm, store = _load()
    assert store.misses == 0 and store.hits > 50
    assert _literals(warm) == _literals(cold)


def test_warm_results_equal_an_uncached_load(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _load()
    warm, _ = _load()
    monkeypatch.setenv("LOGSLEUTH_NO_CACHE", "1")
    plain, store = _load()
    assert store.path is None  # turned off: nothing read, nothing written
    assert _literals(warm) == _literals(plain)


def test_a_changed_rule_is_recomputed(cache_dir: Path, tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "cache-probe.yaml").write_text(RULE.format(regex="runner token expired"))
    first, _ = _load(rules_dir)
    assert first[0].expr.literals == frozenset({b"runner token expired"})
    (rules_dir / "cache-probe.yaml").write_text(RULE.format(regex="certificate has expired"))
    second, store = _load(rules_dir)
    assert store.misses == 1
    assert second[0].expr.literals == frozenset({b"certificate has expired"})


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "foreign-key", "wrong-shape"])
def test_a_damaged_cache_is_ignored_and_rebuilt(cache_dir: Path, damage: str) -> None:
    cold, _ = _load()
    path = next(cache_dir.glob("compile-*.json"))
    text = path.read_text()
    doc = json.loads(text)
    if damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "flipped":  # payload edited without its hash: not trusted
        table = doc["payload"]["required_literals"]
        key = next(iter(table))
        table[key] = ["78787878"]
        path.write_text(json.dumps(doc))
    elif damage == "foreign-key":
        doc["key"] = "0" * 24
        path.write_text(json.dumps(doc))
    else:  # valid hash over values of the wrong type: each is recomputed
        doc["payload"]["required_literals"] = {k: 7 for k in doc["payload"]["required_literals"]}
        body = json.dumps(doc["payload"], sort_keys=True, separators=(",", ":")).encode()
        import hashlib
        doc["sha256"] = hashlib.sha256(body).hexdigest()
        path.write_text(json.dumps(doc))
    again, store = _load()
    assert store.misses > 50  # nothing of the damaged file was believed
    assert _literals(again) == _literals(cold)
    _, store = _load()  # and the rewritten file is whole again
    assert store.misses == 0


def test_concurrent_runs_leave_a_whole_file(cache_dir: Path) -> None:
    code = "from logsleuth.ruleset import load; load()"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ)) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    names = sorted(p.name for p in cache_dir.iterdir())  # no temp files left: the literal memo and the rule set's entry
    assert [n.split("-")[0] for n in names] == ["compile", "rules"], names
    _, store = _load()
    assert store.misses == 0


def test_an_unwritable_cache_directory_costs_nothing_but_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("LOGSLEUTH_CACHE_DIR", str(blocker / "cache"))
    rules, store = _load()
    assert rules and store.misses > 50


def test_scan_findings_are_identical_cold_and_warm(cache_dir: Path, tmp_path: Path) -> None:
    sample = ROOT / "fixtures" / "sample"
    out = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "logsleuth", "scan", "-j1", "--format", "json", str(sample)],
                              capture_output=True, text=True, env=dict(os.environ), cwd=ROOT)
        doc = json.loads(proc.stdout)
        doc.pop("generated_at", None)
        out.append((proc.returncode, doc))
    assert out[0] == out[1] and out[0][1]["findings"]


def test_no_cache_flag_neither_reads_nor_writes(cache_dir: Path) -> None:
    sample = str(ROOT / "fixtures" / "sample")
    cmd = [sys.executable, "-m", "logsleuth", "scan", "-j1", "--format", "json"]
    subprocess.run([*cmd, "--no-cache", sample], capture_output=True, env=dict(os.environ), cwd=ROOT)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())
    subprocess.run([*cmd, sample], capture_output=True, env=dict(os.environ), cwd=ROOT)
    assert len(list(cache_dir.glob("compile-*.json"))) == 1
