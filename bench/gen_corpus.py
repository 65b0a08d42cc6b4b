#!/usr/bin/env python3
"""Benchmark corpus: a deterministic (seeded) journal of a busy CI runner host, as journalctl prints it.

Healthy background in real shapes (systemd, logind, sshd, CRON, kernel, dockerd, containerd,
gitlab-runner's polling lifecycle, resolved, kubelet, certbot) with benign near-misses
(`timeout=50s`, `code=202`, `level=info`, `Certificate not yet due`), and about 0.1% failure lines
(x509, 403 forbidden, no such host, connection refused, i/o timeout, OOM, ENOSPC, toml errors,
job timeout, exit code 137, 502 Bad Gateway ...).

    python bench/gen_corpus.py                 # 200 MB of `journalctl -o short-iso` to bench/out/
    python bench/gen_corpus.py --json --mb 100 # `journalctl -o json` records instead

Formats follow ../shared/formats.md: short-iso is `2026-11-20T08:00:00+0000 host ident[pid]: msg`
with ANSI removed (journalctl strips CSI in short modes); in json mode every value is a string,
and a MESSAGE holding a control character (every gitlab-runner line: the runner always emits
colour codes) is an array of byte values.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

OUT = Path(__file__).resolve().parent / "out"
START = datetime(2026, 11, 20, tzinfo=timezone.utc).timestamp()
HOSTS = ["ci-runner-01", "ci-runner-02", "ci-runner-03", "build-07"]
USERS = ["deploy", "gitlab-runner", "alice", "bob", "ansible"]
TOKENS = ["abcd12345", "9f3c2a1b", "t1_Xy7Qw3", "zK81mPq0a"]
RESET, YELLOW, RED = "\x1b[0;m", "\x1b[0;33m", "\x1b[31;1m"

Msg = tuple[str, str, str]  # (identifier, systemd unit, raw message: may hold ANSI escapes)
Template = Callable[[random.Random], Msg]


def _ip(r: random.Random) -> str:
    return f"{r.choice((10, 172, 192, 203))}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _hex(r: random.Random, n: int) -> str:
    return f"{r.getrandbits(4 * n):0{n}x}"


def _runner(r: random.Random, level: str, text: str, fields: dict[str, object]) -> Msg:
    """gitlab-runner's default `runner` format: prefix+message padded to 50 columns, coloured keys."""
    color, prefix = {"info": ("", ""), "warning": (YELLOW, "WARNING: "), "error": (RED, "ERROR: "),
                     "fatal": (RED, "FATAL: ")}[level]
    head = f"{color}{prefix}{text:<{50 - len(prefix)}}{RESET} "
    tail = "".join(f" {color}{k}{RESET}={v}" for k, v in sorted(fields.items()))
    return "gitlab-runner", "gitlab-runner.service", head + tail


def _job_fields(r: random.Random) -> dict[str, object]:
    return {"job": r.randint(100000, 999999), "project": r.randint(10, 900), "runner": r.choice(TOKENS)}


def _poll_failed(tail: str) -> Template:
    status = ("couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: "
              'Post "https://gitlab.example.com/api/v4/jobs/request": ' + tail)
    return lambda r: _runner(r, "warning", "Checking for jobs... failed",
                             {"runner": r.choice(TOKENS), "runner_name": "ci-shared-1", "status": status})


HEALTHY: list[tuple[int, Template]] = [
    (10, lambda r: ("systemd", "init.scope", f"Started session-{r.randint(1, 9999)}.scope - Session {r.randint(1, 9999)} of User {r.choice(USERS)}.")),
    (6, lambda r: ("systemd", "init.scope", f"{r.choice(('apt-daily.service', 'man-db.service', 'logrotate.service', 'fstrim.service'))}: Deactivated successfully.")),
    (4, lambda r: ("systemd", "init.scope", "Starting apt-daily-upgrade.service - Daily apt upgrade and clean activities...")),
    (3, lambda r: ("systemd", "init.scope", f"docker-{_hex(r, 64)}.scope: Consumed {r.randint(1, 90)}.{r.randint(100, 999)}s CPU time.")),
    (6, lambda r: ("systemd-logind", "systemd-logind.service", f"New session {r.randint(1, 9999)} of user {r.choice(USERS)}.")),
    (4, lambda r: ("systemd-logind", "systemd-logind.service", f"Session {r.randint(1, 9999)} logged out. Waiting for processes to exit.")),
    (8, lambda r: ("sshd", "ssh.service", f"Accepted publickey for {r.choice(USERS)} from {_ip(r)} port {r.randint(1024, 65535)} ssh2: ED25519 SHA256:{_hex(r, 43)}")),
    (5, lambda r: ("sshd", "ssh.service", f"Received disconnect from {_ip(r)} port {r.randint(1024, 65535)}:11: disconnected by user")),
    (5, lambda r: ("sshd", "ssh.service", f"pam_unix(sshd:session): session opened for user {r.choice(USERS)}(uid=1000) by (uid=0)")),
    (3, lambda r: ("sshd", "ssh.service", f"Invalid user {r.choice(('admin', 'test', 'oracle', 'pi'))} from {_ip(r)} port {r.randint(1024, 65535)}")),
    (8, lambda r: ("CRON", "cron.service", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")),
    (8, lambda r: ("CRON", "cron.service", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")),
    (6, lambda r: ("kernel", "", f"[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:{_hex(r, 2)}:{_hex(r, 2)}:{_hex(r, 2)}:fe:ff:ff:ff:ff:ff:08:00 SRC={_ip(r)} DST={_ip(r)} LEN=40 TOS=0x00 PREC=0x00 TTL=244 ID={r.randint(1, 65535)} PROTO=TCP SPT={r.randint(1024, 65535)} DPT={r.choice((22, 23, 3389, 8080))} WINDOW=1024 RES=0x00 SYN URGP=0")),
    (5, lambda r: ("kernel", "", f"docker0: port {r.randint(1, 9)}(veth{_hex(r, 7)}) entered {r.choice(('blocking', 'forwarding', 'disabled'))} state")),
    (3, lambda r: ("kernel", "", f'audit: type=1400 audit({r.randint(1700000000, 1800000000)}.{r.randint(100, 999)}:{r.randint(1, 999)}): apparmor="STATUS" operation="profile_load" profile="unconfined" name="docker-default" pid={r.randint(100, 99999)} comm="apparmor_parser"')),
    (10, lambda r: ("dockerd", "docker.service", f'time="2026-11-20T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999999):09d}Z" level=info msg="ignoring event" container={_hex(r, 64)} module=libcontainerd namespace=moby topic=/tasks/delete type="*events.TaskDelete"')),
    (4, lambda r: ("dockerd", "docker.service", f'time="2026-11-20T08:00:00.000000000Z" level=info msg="Layer sha256:{_hex(r, 64)} cleaned up"')),
    (6, lambda r: ("containerd", "containerd.service", f'time="2026-11-20T08:00:00.000000000Z" level=info msg="shim disconnected" id={_hex(r, 64)} namespace=moby')),
    (4, lambda r: ("containerd", "containerd.service", f'time="2026-11-20T08:00:00.000000000Z" level=info msg="cleaning up after shim disconnected" id={_hex(r, 64)} namespace=moby timeout=50s')),
    (18, lambda r: _runner(r, "info", "Checking for jobs... received", {"job": r.randint(100000, 999999), "repo_url": "https://gitlab.example.com/group/project.git", "runner": r.choice(TOKENS), "runner_name": "ci-shared-1"})),
    (12, lambda r: _runner(r, "info", "Appending trace to coordinator...ok", {"code": 202, "job": r.randint(100000, 999999), "job-log": f"0-{r.randint(100, 99999)}", "job-status": "running", "runner": r.choice(TOKENS), "sent-log": f"0-{r.randint(100, 9999)}", "status": "202 Accepted", "update-interval": "3s"})),
    (8, lambda r: _runner(r, "info", "Submitting job to coordinator...ok", {"bytesize": r.randint(100, 9999), "checksum": f"crc32:{_hex(r, 8)}", "code": 200, "correlation_id": _hex(r, 26).upper(), "job": r.randint(100000, 999999), "job-status": "", "runner": r.choice(TOKENS), "update-interval": "0s"})),
    (6, lambda r: _runner(r, "info", "Job succeeded", {"duration_s": round(r.uniform(5, 3000), 6), **_job_fields(r)})),
    (6, lambda r: _runner(r, "info", "Added job to processing list", {"builds": r.randint(1, 4), "max_builds": 4, "time_in_queue_seconds": 0, **_job_fields(r)})),
    (6, lambda r: _runner(r, "info", "Removed job from processing list", {"builds": r.randint(0, 3), "duration_s": round(r.uniform(5, 3000), 6), **_job_fields(r)})),
    (3, lambda r: ("systemd-resolved", "systemd-resolved.service", "Using degraded feature set UDP instead of UDP+EDNS0 for DNS server 10.0.0.2.")),
    (3, lambda r: ("systemd-resolved", "systemd-resolved.service", "Clock change detected. Flushing caches.")),
    (5, lambda r: ("kubelet", "kubelet.service", f'I1120 08:00:00.{r.randint(0, 999999):06d}    {r.randint(100, 9999)} reconciler_common.go:245] "operationExecutor.VerifyControllerAttachedVolume started for volume" volume="kube-api-access-{_hex(r, 5)}"')),
    (2, lambda r: ("certbot", "certbot.service", "Certificate not yet due for renewal")),
    (2, lambda r: ("systemd-timesyncd", "systemd-timesyncd.service", f"Contacted time server {_ip(r)}:123 (ntp.ubuntu.com).")),
]

FAILURES: list[tuple[int, Template]] = [
    (3, _poll_failed("tls: failed to verify certificate: x509: certificate signed by unknown authority")),
    (2, lambda r: _runner(r, "error", "Checking for jobs... forbidden", {"runner": r.choice(TOKENS), "runner_name": "ci-shared-1", "status": "POST https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden"})),
    (2, _poll_failed("dial tcp: lookup gitlab.example.com on 127.0.0.53:53: no such host")),
    (2, _poll_failed("dial tcp 10.0.0.5:443: connect: connection refused")),
    (2, _poll_failed("dial tcp 10.0.0.5:443: i/o timeout")),
    (2, lambda r: _runner(r, "warning", "Checking for jobs... failed", {"runner": r.choice(TOKENS), "runner_name": "ci-shared-1", "status": "POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway"})),
    (2, lambda r: ("kernel", "", f"Out of memory: Killed process {r.randint(1000, 99999)} (java) total-vm:{r.randint(10**6, 10**7)}kB, anon-rss:{r.randint(10**6, 10**7)}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:{r.randint(1000, 9999)}kB oom_score_adj:0")),
    (1, lambda r: ("kernel", "", "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0")),
    (2, lambda r: ("dockerd", "docker.service", f'time="2026-11-20T08:00:00.000000000Z" level=error msg="Handler for POST /v1.43/containers/create returned error: write /var/lib/docker/overlay2/{_hex(r, 64)}/merged: no space left on device"')),
    (1, lambda r: _runner(r, "fatal", "Service run failed", {"error": 'decoding configuration file: toml: line 2 (last key "runners.docker"): expected a top-level item to end with a newline, comment, or EOF'})),
    (1, lambda r: _runner(r, "fatal", "Near line 26 (last key parsed 'runners.docker.sysctls'): bare keys cannot contain '.'", {})),
    (2, lambda r: _runner(r, "error", "Job failed: execution took longer than 1h0m0s seconds", {"duration_s": 3600.02, **_job_fields(r)})),
    (2, lambda r: _runner(r, "error", "Job failed: exit code 137", {"duration_s": round(r.uniform(5, 3000), 6), **_job_fields(r)})),
    (1, lambda r: _runner(r, "warning", "Appending trace to coordinator... failed", {"code": 403, "job": r.randint(100000, 999999), "runner": r.choice(TOKENS), "status": "PATCH https://gitlab.example.com/api/v4/jobs/1/trace: 403 Forbidden"})),
]

PIDS = {"systemd": 1, "kernel": None}


def _weighted(table: list[tuple[int, Template]]) -> tuple[list[Template], list[int]]:
    cum, total = [], 0
    for weight, _ in table:
        total += weight
        cum.append(total)
    return [t for _, t in table], cum


def messages(seed: int, failure_rate: float):
    """Endless (timestamp, host, pid, (ident, unit, raw message), is_failure) in time order."""
    r = random.Random(seed)
    healthy, h_cum = _weighted(HEALTHY)
    failing, f_cum = _weighted(FAILURES)
    pids: dict[str, int] = {}
    now = START
    while True:
        now += r.expovariate(1 / 0.05)
        fail = r.random() < failure_rate
        template = r.choices(failing, cum_weights=f_cum)[0] if fail else r.choices(healthy, cum_weights=h_cum)[0]
        ident, unit, msg = template(r)
        pid = PIDS.get(ident, pids.setdefault(ident, r.randint(300, 60000)))
        if ident in ("sshd", "CRON"):
            pid = r.randint(300, 60000)  # one process per connection / job
        yield now, r.choice(HOSTS), pid, (ident, unit, msg), fail


_ANSI = __import__("re").compile(r"\x1b\[[0-9;]*m")
_BOOT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
_MACHINE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


class ShortIso:
    """`journalctl -o short-iso --utc`: ANSI escapes are removed in short modes."""

    def __init__(self) -> None:
        self._sec = -1
        self._stamp = ""

    def line(self, now: float, host: str, pid: int | None, msg: Msg) -> str:
        sec = int(now)
        if sec != self._sec:
            self._sec = sec
            self._stamp = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")
        ident, _unit, raw = msg
        text = _ANSI.sub("", raw) if "\x1b" in raw else raw
        who = f"{ident}[{pid}]" if pid is not None else ident
        return f"{self._stamp} {host} {who}: {text}\n"


class JournalJson:
    """`journalctl -o json`: one object per line, every value a string, control chars -> byte array."""

    def __init__(self) -> None:
        self._seq = 0

    def line(self, now: float, host: str, pid: int | None, msg: Msg) -> str:
        ident, unit, raw = msg
        self._seq += 1
        usec = int(now * 1_000_000)
        mono = usec - int(START * 1_000_000) + 5_000_000
        rec: dict[str, object] = {
            "__CURSOR": f"s=8d4f0b6a1c2e4f3aa1b2c3d4e5f60718;i={self._seq:x};b={_BOOT};m={mono:x};t={usec:x};x={self._seq * 2654435761 % 2**64:016x}",
            "__REALTIME_TIMESTAMP": str(usec), "__MONOTONIC_TIMESTAMP": str(mono), "_BOOT_ID": _BOOT,
            "_MACHINE_ID": _MACHINE, "_HOSTNAME": host, "SYSLOG_IDENTIFIER": ident,
            "PRIORITY": "3" if "Out of memory" in raw or "oom-killer" in raw else "6",
            "SYSLOG_FACILITY": "0" if ident == "kernel" else "3",
            "_TRANSPORT": "kernel" if ident == "kernel" else "stdout",
        }
        if pid is not None:
            rec.update({"_PID": str(pid), "_UID": "0", "_GID": "0", "_COMM": ident, "_EXE": f"/usr/bin/{ident}",
                        "_CMDLINE": f"/usr/bin/{ident} --config /etc/{ident}/config", "_CAP_EFFECTIVE": "1ffffffffff",
                        "_SYSTEMD_CGROUP": f"/system.slice/{unit}", "_SYSTEMD_UNIT": unit,
                        "_SYSTEMD_SLICE": "system.slice", "_SYSTEMD_INVOCATION_ID": f"{pid * 7919:032x}",
                        "_STREAM_ID": f"{pid * 104729:032x}"})
        else:
            rec["_SOURCE_MONOTONIC_TIMESTAMP"] = str(mono - 1200)
        rec["MESSAGE"] = _message_value(raw)
        return json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n"


def _message_value(raw: str) -> str | list[int]:
    if any(ord(c) < 32 and c not in "\n\t" for c in raw):
        return list(raw.encode("utf-8"))
    return raw


def corpus_path(mb: int, as_json: bool, seed: int) -> Path:
    return OUT / f"corpus-{'json' if as_json else 'short-iso'}-{mb}mb-seed{seed}.{'json' if as_json else 'log'}"


def generate(path: Path, mb: int, as_json: bool, seed: int, failure_rate: float = 0.001) -> tuple[int, int, int]:
    """Write at least `mb` MB (10^6 bytes); returns (bytes, lines, failure lines)."""
    writer = JournalJson() if as_json else ShortIso()
    target, size, lines, failures = mb * 1_000_000, 0, 0, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        chunk: list[str] = []
        for now, host, pid, msg, fail in messages(seed, failure_rate):
            line = writer.line(now, host, pid, msg)
            chunk.append(line)
            size += len(line.encode("utf-8")) if not line.isascii() else len(line)
            lines += 1
            failures += fail
            if len(chunk) >= 10_000 or size >= target:
                out.write("".join(chunk))
                chunk.clear()
                if size >= target:
                    break
    tmp.replace(path)
    return size, lines, failures


def ensure_corpus(mb: int, as_json: bool = False, seed: int = 1) -> Path:
    """The corpus file for these settings, generated on first use (it is deterministic)."""
    path = corpus_path(mb, as_json, seed)
    if not path.exists():
        size, lines, failures = generate(path, mb, as_json, seed)
        print(f"generated {path}: {size / 1e6:.1f} MB, {lines:,} lines, {failures:,} failure lines "
              f"({100 * failures / lines:.3f}%)", file=sys.stderr)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="size in MB (10^6 bytes), default 200")
    ap.add_argument("--json", action="store_true", help="journalctl -o json records instead of short-iso lines")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--failure-rate", type=float, default=0.001)
    ap.add_argument("-o", "--output", type=Path, help="default: bench/out/corpus-<mode>-<mb>mb-seed<seed>.<ext>")
    args = ap.parse_args()
    path = args.output or corpus_path(args.mb, args.json, args.seed)
    size, lines, failures = generate(path, args.mb, args.json, args.seed, args.failure_rate)
    print(f"{path}: {size / 1e6:.1f} MB, {lines:,} lines, {failures:,} failure lines ({100 * failures / lines:.3f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
