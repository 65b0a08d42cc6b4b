"""Hostile rule files end in bounded time and memory with a located rule error (exit 2), never a traceback.

Each attack runs the real CLI in a child process under an address-space limit, with a timeout;
the child's own peak RSS (os.wait4) is checked too.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import MEMORY_CEILING, run_bounded

from logsleuth.errors import RuleError
from logsleuth.ruleset import dsl, loader

LOG = "2024-03-10T12:00:05+0000 ci1 kernel: abc0 happened\n"


def _rule_file(d: Path, rule_id: str, match: str, extra: str = "") -> Path:
    d.mkdir(exist_ok=True)
    path = d / f"{rule_id}.yaml"
    path.write_text(f"id: {rule_id}\ntitle: t\nseverity: major\ncategory: test\nmatch: {match}\n{extra}")
    return path


def _attack(tmp_path: Path, rules: Path, command: str = "scan") -> str:
    log = tmp_path / "x.log"
    log.write_text(LOG)
    args = ("scan", "--rules", str(rules), str(log)) if command == "scan" else ("rules", "lint", str(rules))
    status, err, seconds, rss = run_bounded(*args)
    assert status == 2, err
    assert "Traceback" not in err and "Error:" not in err.split(":", 1)[0], err
    assert seconds < 10 and rss < MEMORY_CEILING // 2, (seconds, rss)
    return err


@pytest.mark.parametrize("command", ["scan", "lint"])
def test_deep_not_nesting_is_a_located_rule_error(tmp_path, command):
    expr = "not (" * 500 + 'message contains "abc"' + ")" * 500
    _rule_file(tmp_path / "r", "deep", f"'{expr}'")
    err = _attack(tmp_path, tmp_path / "r", command)
    assert "deep.yaml:5:" in err and f"nests more than {dsl.MAX_DEPTH} levels" in err


@pytest.mark.parametrize("command", ["scan", "lint"])
def test_too_many_alternatives_is_a_located_rule_error(tmp_path, command):
    expr = " or ".join(f"pid=={i}" for i in range(300))
    _rule_file(tmp_path / "r", "wide", f"'{expr}'")
    err = _attack(tmp_path, tmp_path / "r", command)
    assert "wide.yaml:5:" in err and f"more than {dsl.MAX_TERMS} tests" in err


def test_many_alternatives_under_the_cap_compile_flat():
    expr = dsl.compile(" or ".join(f'message contains "abc{i}"' for i in range(dsl.MAX_TERMS)))
    assert len(expr.tree.items) == dsl.MAX_TERMS  # one flat Or, not a chain nesting 256 deep


def test_expression_and_regex_size_caps():
    with pytest.raises(RuleError, match="at most 10,000"):
        dsl.compile('message contains "' + "a" * dsl.MAX_EXPRESSION_CHARS + '"')
    with pytest.raises(RuleError, match="regex of 2,001 characters") as info:
        dsl.compile("pid == 1 and message ~ /" + "a" * 2001 + "/")
    assert info.value.location.col == 24
    with pytest.raises(RuleError, match="regex groups nest more than 32"):
        dsl.compile("message ~ /" + "(" * 900 + "a" + ")" * 900 + "/")
    # Brackets inside a character class or escaped are not groups.
    assert dsl.group_depth(r"[(]\(([()])") == 1


def test_yaml_alias_bomb_is_refused_at_the_alias(tmp_path):
    items = ['&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij"):
        items.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    _rule_file(tmp_path / "r", "bomb", "'message contains \"abc\"'", "tags: [" + ", ".join(items) + ", *j]\n")
    err = _attack(tmp_path, tmp_path / "r")
    assert "bomb.yaml:6:" in err and "aliases (&name, *name) are not allowed" in err


def test_deep_yaml_is_refused(tmp_path):
    _rule_file(tmp_path / "r", "deepyaml", "'message contains \"abc\"'", "tags: " + "[" * 500 + "]" * 500 + "\n")
    err = _attack(tmp_path, tmp_path / "r")
    assert "deepyaml.yaml:6:" in err and "nests more than 64 levels" in err


@pytest.mark.parametrize("command", ["scan", "lint"])
@pytest.mark.parametrize("tag", ["!!python/object:os.system", "!!python/name:os.system", "!custom"])
def test_a_yaml_tag_other_than_a_plain_value_is_a_located_rule_error(tmp_path, command, tag):
    """SafeConstructor refused these with a ConstructorError traceback (found by the fuzz test)."""
    _rule_file(tmp_path / "r", "tagged", "'message contains \"abc\"'", f"tags: [{tag} x]\n")
    err = _attack(tmp_path, tmp_path / "r", command)
    assert "tagged.yaml:6:8:" in err and "is not allowed in rule files" in err


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_rule_file_that_never_ends_is_refused(tmp_path, target):
    d = tmp_path / "r"
    d.mkdir()
    if target == "fifo":
        os.mkfifo(d / "pipe.yaml")
    else:
        (d / "zero.yaml").symlink_to(target)
    err = _attack(tmp_path, d)
    assert "not a regular file" in err
    err = _attack(tmp_path, next(d.iterdir()))  # named directly too
    assert "not a regular file" in err


def test_an_oversized_rule_file_is_refused(tmp_path):
    path = _rule_file(tmp_path / "r", "big", "'message contains \"abc\"'", "description: |\n" + "  x\n" * 400_000)
    with pytest.raises(RuleError, match="larger than 1 MiB") as info:
        loader.load([str(path)], builtin=False)
    assert info.value.location.path == str(path)


def test_a_control_character_in_a_rule_file_is_located(tmp_path):
    path = _rule_file(tmp_path / "r", "nul", "'message contains \"abc\"'", "title2: a\x00b\n")
    with pytest.raises(RuleError) as info:
        loader.load([str(path)], builtin=False)
    (err,) = info.value.errors
    assert (err.location.line, err.location.col) == (6, 10) and "'\\x00' is not allowed" in err.message
