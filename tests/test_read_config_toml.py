"""config.toml as records: syntax errors located, key positions, schema facts, secrets masked, certificates read."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logsleuth import ruleset
from logsleuth.authoring.examples import findings_for
from logsleuth.read import config_index, config_toml, formats
from logsleuth.read.config_files import certificate_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "config"
CONFIG_RULES = [r for r in ruleset.load() if r.input == "config"]
SECRETS = ("S3cr3tPassw0rd", "glrt-RealSecretToken12345", "glrt-AnotherSecretToken678", "AKIAQX7EXAMPLE2R4WZT",
           "k9Vb2Qe7rT1yU5iO3pA8sD6fG4hJ0lZxCvBnM2qW", "Pr0xyPassw0rd")
LEAKY = """concurrent = 1
[[runners]]
  name = "leaky"
  url = "https://deploy:S3cr3tPassw0rd@gitlab.con/"
  token = "glrt-RealSecretToken12345"
  tokn = "glrt-AnotherSecretToken678"
  executor = "docker"
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      AccessKey = "AKIAQX7EXAMPLE2R4WZT"
      SecretKey = "k9Vb2Qe7rT1yU5iO3pA8sD6fG4hJ0lZxCvBnM2qW"
      Insecure = true
  [runners.docker.helper_image_opts]
    HTTPS_PROXY = "http://proxyuser:Pr0xyPassw0rd@proxy.example.com:3128"
"""


def records(text: str, path: str = "config.toml", files: bool = False):
    return config_toml.records(text, path, check_files=files)


def settings(text: str) -> dict[str, object]:
    return {r.fields["setting"]: r for r in records(text) if r.fields["kind"] == "setting"}


@pytest.mark.parametrize("text, line, col, words", [
    ('concurrent = 1\n[[runners]]\n  url = "https://gitlab.example.com/\n', 3, 37, "closing quote"),
    ('[[runners]]\n  executor = docker\n', 2, 14, "Invalid value"),
    ('[[runners]]\n  name = "a"\n  name = "b"\n', 3, 13, "Cannot overwrite a value"),
])
def test_a_syntax_error_is_one_record_at_its_line_and_column(text, line, col, words):
    (rec,) = records(text)
    assert rec.fields["kind"] == "syntax" and rec.origin.line == line and rec.fields["col"] == col
    assert words in str(rec.fields["error"])
    caret = config_toml.snippet(text, line, col).splitlines()[1]
    assert caret.index("^") == col + 1  # two spaces of indent, then the column


def test_keys_sit_at_their_lines_through_tables_arrays_and_strings():
    text = (FIXTURES / "bad.toml").read_text()
    lines = text.split("\n")
    got = settings(text)
    for setting, key in [("runners[0].docker.privilegd", "privilegd"), ("runners[1].executor", "executor"),
                         ("runners[0].cache.s3.Insecure", "Insecure"), ("log_level", "log_level")]:
        rec = got[setting]
        assert lines[rec.origin.line - 1].strip().startswith(key), setting
    positions = config_index.index('a = """\n[[runners]]\nb = 1\n"""\nc = [\n  "]",\n]\n[[r]]\n[[r]]\n"d.e" = 1\n')
    assert positions[("a",)] == (1, 1) and positions[("c",)] == (5, 1) and ("runners", 0) not in positions
    assert positions[("r", 1)] == (9, 1) and positions[("r", 1, "d.e")] == (10, 1)


def test_schema_facts_known_keys_hints_and_types():
    got = settings('[[runners]]\n  executor = "docker"\n  [runners.docker]\n    privilegd = true\n    cpus = 2\n'
                   '  [runners.feature_flags]\n    FF_ANYTHING = true\n')
    assert got["runners[0].docker.privilegd"].fields["known"] == "false"
    assert got["runners[0].docker.privilegd"].fields["did_you_mean"] == "did you mean `privileged`?"
    assert got["runners[0].docker.cpus"].fields["type_ok"] == "false"
    assert got["runners[0].docker.cpus"].fields["expected"] == "string"
    assert got["runners[0].feature_flags.FF_ANYTHING"].fields["known"] == "true"  # a free-form map
    assert got["runners[0].docker.cpus"].fields["executor"] == "docker"


def test_no_secret_reaches_any_record():
    texts = [f"{r.message} {r.raw} {r.fields}" for r in records(LEAKY)]
    assert not [s for s in SECRETS if any(s in t for t in texts)]
    assert settings('[[runners]]\n  token = "YOUR_RUNNER_TOKEN"\n')["runners[0].token"].fields["value"] == "YOUR_RUNNER_TOKEN"
    assert settings('[[runners]]\n  token = "glrt-abcdefgh12345"\n')["runners[0].token"].fields["value"] == "[MASKED]"


def test_a_syntax_error_on_a_secret_line_masks_it():
    (rec,) = records('[[runners]]\n  token = "glrt-RealSecretToken12345\n')
    assert "glrt-RealSecretToken12345" not in rec.raw and "[MASKED]" in rec.raw
    assert "glrt-RealSecretToken12345" not in config_toml.snippet('[[runners]]\n  token = "glrt-RealSecretToken12345\n', 2, 40)


def _pem(tmp_path: Path, name: str, days: float) -> Path:
    """A certificate file expiring `days` from now, minted the way fixtures/config/certs/make_certs.py does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_certs", FIXTURES / "certs" / "make_certs.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    now = datetime.now(timezone.utc)
    path = tmp_path / name
    path.write_bytes(mod.certificate(name, now - timedelta(days=365), now + timedelta(days=days)))
    return path


def test_certificates_expiry_is_read_from_the_earliest_of_a_bundle(tmp_path):
    soon = _pem(tmp_path, "soon.pem", 10.5)
    later = _pem(tmp_path, "later.pem", 400)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(later.read_bytes() + soon.read_bytes())
    facts = certificate_file(str(bundle))
    assert facts.state == "ok" and facts.certificates == 2 and facts.days_left == 10 and "soon.pem" in facts.subject
    assert certificate_file(str(tmp_path / "none.pem")).state == "missing"
    assert certificate_file(str(FIXTURES / "certs" / "not-a-cert.pem")).state == "not-pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert certificate_file(str(garbage)).state == "not-pem"


def test_the_expiry_rule_fires_within_30_days_and_not_beyond(tmp_path):
    for days, fires in ((10.5, True), (45, False)):
        pem = _pem(tmp_path, f"ca-{days}.pem", days)
        config = tmp_path / "config.toml"
        config.write_text(f'[[runners]]\n  token = "glrt-abcdefgh12345"\n  tls-ca-file = "{pem.name}"\n')
        found = findings_for(CONFIG_RULES, records(config.read_text(), str(config), files=True))
        assert ("config-tls-cert-expiring" in {f.rule_id for f in found}) is fires, days


def test_relative_file_paths_are_read_from_the_config_files_directory():
    text = (FIXTURES / "good.toml").read_text()
    rec = {r.fields["setting"]: r for r in records(text, str(FIXTURES / "good.toml"), True)}
    facts = rec["runners[0].tls-ca-file"].fields
    assert facts["file_state"] == "ok" and facts["cert_subject"] == "CN=Example CA"


def test_detection_by_content_and_by_name():
    sample = (FIXTURES / "good.toml").read_bytes().split(b"\n")[:40]
    assert formats.detect(sample)[0].name == config_toml.NAME
    trace = [b"Running with gitlab-runner 17.0.0 (44feccdf)", b"$ cat /etc/gitlab-runner/config.toml", b"concurrent = 4",
             b"[[runners]]", b'  name = "x"']
    assert formats.detect(trace)[0].name != config_toml.NAME
    assert config_toml.named("/etc/gitlab-runner/config.toml") and config_toml.named("backup.tgz!etc/config.toml")
    assert not config_toml.named("pyproject.toml") and not config_toml.named("config.toml.log")


def test_memory_sizes_read_as_docker_does():
    assert config_toml.ram_in_bytes("2g") == 2 << 30 and config_toml.ram_in_bytes("512m") == 512 << 20
    assert config_toml.ram_in_bytes("1.5GiB") == 3 << 29 and config_toml.ram_in_bytes("4096") == 4096
    assert config_toml.ram_in_bytes("2 gigs") is None and config_toml.ram_in_bytes("1,5g") is None


@pytest.mark.parametrize("text", [
    "a = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "a = {" + "b = {" * 5_000 + "}" * 5_001 + "\n",
    "x" * (2 << 20),
])
def test_hostile_documents_end_quickly_as_one_problem_record(text):
    start = time.perf_counter()
    got = list(formats.get(config_toml.NAME).parse(text.encode().split(b"\n"), formats.ParseContext("config.toml")))
    assert time.perf_counter() - start < 5
    assert len(got) == 1 and got[0].fields["kind"] == "syntax"


def test_a_config_at_the_size_cap_is_checked_in_bounded_time():
    runner = '[[runners]]\n  name = "r"\n  token = "glrt-abcdefgh12345"\n  executor = "docker"\n  docker.privileged = true\n'
    text = "concurrent = 1\n" + runner * ((config_toml.MAX_BYTES - 100) // len(runner))
    start = time.perf_counter()
    got = records(text)
    assert time.perf_counter() - start < 10
    assert len(got) > 40_000 and got[-1].fields["setting"].startswith("runners[")


def test_good_config_is_clear_and_every_config_rule_fires_on_bad_ones():
    good = FIXTURES / "good.toml"
    assert findings_for(CONFIG_RULES, records(good.read_text(), str(good), files=True)) == []
    fired = set()
    for name in ("bad.toml", "syntax-error.toml", "seed-proxy.toml"):
        path = FIXTURES / name
        fired |= {f.rule_id for f in findings_for(CONFIG_RULES, records(path.read_text(), str(path), files=True))}
    assert fired == {r.id for r in CONFIG_RULES}


def test_config_rules_never_fire_on_logs_and_cost_one_literal():
    from logsleuth.match.engine import Engine

    engine = Engine(ruleset.load())
    assert not engine.always
    marker = config_toml.MARKER.lower().encode()
    assert all(r.expr.literals == frozenset({marker}) for r in CONFIG_RULES)
    sample = Path(__file__).resolve().parent.parent / "fixtures" / "sample" / "runner-outage.log"
    records_ = list(formats.get("short-iso").parse(sample.read_bytes().split(b"\n"), formats.ParseContext(str(sample))))
    assert findings_for(CONFIG_RULES, records_) == []
    log_rules = [r for r in ruleset.load() if r.input == "logs"]
    bad = FIXTURES / "bad.toml"
    assert findings_for(log_rules, records(bad.read_text(), str(bad))) == []
