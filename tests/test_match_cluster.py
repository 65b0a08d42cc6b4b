"""The scan on a Dask cluster (match/cluster.py, read/remote.py): a real LocalCluster of two worker
processes and a real S3-compatible server (moto in server mode on 127.0.0.1) holding a fixture
tree; every report must be the one a local `-j 1` scan of the same tree gives."""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install -e '.[dask]')")
pytest.importorskip("s3fs", reason="the dask extra is not installed (pip install -e '.[dask]')")
moto_server = pytest.importorskip("moto.server", reason="moto[server] (a test dependency) is not installed")

from distributed import Client, LocalCluster  # noqa: E402

from logsleuth import ruleset  # noqa: E402
from logsleuth.errors import Diagnostics  # noqa: E402
from logsleuth.pipeline import ScanOptions, analyze, analyze_dask  # noqa: E402
from logsleuth.match import cluster  # noqa: E402
from logsleuth.read import formats, remote  # noqa: E402
from logsleuth.read.inputs import ReadOptions  # noqa: E402
from logsleuth.report.options import RenderOptions  # noqa: E402
from logsleuth.report.render import render  # noqa: E402

BUCKET = "runner-logs"
RANGE = 64 << 10  # small ranges, so a 300 KB file is cut in five

# Real wordings: fixtures/sample/runner-outage.log (gitlab-runner, sshd, kernel).
SSH = "sshd[30112]: Accepted publickey for ops from 10.20.0.14 port 51544 ssh2: ED25519 SHA256:3n1bZQ7mR0"
PAM = "sshd[30112]: pam_unix(sshd:session): session opened for user ops(uid=1001) by (uid=0)"
FAILED = ("gitlab-runner[812]: WARNING: Checking for jobs... failed                 runner=xY7pQ2mK9 "
          "status=POST https://gitlab.example.com/api/v4/jobs/request: 404 Not Found")
RECEIVED = ("gitlab-runner[812]: Checking for jobs... received                       job=48211 "
            "repo_url=https://gitlab.example.com/platform/api.git runner=xY7pQ2mK9")
X509 = ("gitlab-runner[812]: WARNING: Checking for jobs... failed                 runner=xY7pQ2mK9 status=couldn't "
        "execute POST against https://gitlab.example.com/api/v4/jobs/request: Post \"https://gitlab.example.com/api/v4/"
        "jobs/request\": tls: failed to verify certificate: x509: certificate signed by unknown authority")
OOM = ("kernel: Memory cgroup out of memory: Killed process 23817 (java) total-vm:6312440kB, anon-rss:2093112kB, "
       "file-rss:21504kB, shmem-rss:0kB, UID:0 pgtables:4560kB oom_score_adj:0")


def _lines(host: str, start: int, messages: list[str]) -> bytes:
    t0 = 1710072000 + start  # 2024-03-10T12:00:00Z
    out = []
    for i, msg in enumerate(messages):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(t0 + i))
        out.append(f"{ts} {host} {msg}\n")
    return "".join(out).encode()


def _big(host: str) -> bytes:
    """~330 KB of one host's log whose five job-poll failures (a threshold of five in ten minutes)
    straddle the first range cut."""
    filler = [SSH if i % 2 else PAM for i in range(2600)]
    width = 24 + 1 + len(host) + 1 + 1  # timestamp, host, spaces and newline around each message

    def first_line_past(limit: int) -> tuple[int, int]:  # the line a range cut at `limit` starts, and its offset
        pos = 0
        for i, msg in enumerate(filler):
            if pos > limit:
                return i, pos
            pos += width + len(msg)
        raise AssertionError("the file is too short")

    for k in (12, 8, 4):
        filler[first_line_past(RANGE)[0] - k] = FAILED
    cut, at = first_line_past(RANGE)
    filler[cut + 3] = filler[cut + 8] = FAILED
    # The recovery just past the next cut: only a worker that knew of the failures before it would
    # look for it there (the driver asks for it: cluster.recover).
    filler[first_line_past(at + RANGE)[0] + 1] = RECEIVED
    filler[1900] = OOM
    return _lines(host, 0, filler)


def build_tree(root: Path) -> dict[str, bytes]:
    """A tree of two hosts: a rotated set (oldest gzipped) whose failures span a rotation, a big
    plain file cut in ranges, a tar.gz of another runner's logs and a truncated .gz."""
    a = "ci-runner-1"
    files = {
        f"{a}/syslog.2.gz": gzip.compress(_lines(a, -7200, [SSH, PAM, OOM, PAM]), mtime=0),
        f"{a}/syslog.1": _lines(a, -600, [PAM, SSH, FAILED, FAILED, FAILED]),
        f"{a}/syslog": _lines(a, -595, [FAILED, FAILED, PAM, RECEIVED, SSH]),
        "ci-runner-2/runner.log": _big("ci-runner-2"),
        "broken.log.gz": gzip.compress(_lines(a, 0, [X509] * 50), mtime=0)[:300],
    }
    member = _lines("ci-runner-3", 100, [X509, X509, SSH, X509])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("var/log/gitlab-runner.log")
        info.size, info.mtime = len(member), 0
        tar.addfile(info, io.BytesIO(member))
    files["archive/runner-logs-2024.tar.gz"] = buf.getvalue()
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """moto's S3 on 127.0.0.1 (a free port) holding the fixture tree under s3://runner-logs/tree/."""
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    tree = tmp_path_factory.mktemp("cluster") / "tree"
    files = build_tree(tree)
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for rel, data in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"tree/{rel}", Body=data)
    yield tree, endpoint, {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    server.stop()


@pytest.fixture(scope="module")
def client(store):
    _tree, endpoint, _opts = store
    # The CLI test's subprocess and these workers find the store from the environment, as a
    # deployment would (s3fs reads FSSPEC_S3_* through fsspec's config, boto the AWS_* keys).
    env = {"FSSPEC_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def rules():
    return ruleset.load()


@pytest.fixture(scope="module")
def local_json(store, rules):
    """The report of a local `-j 1` scan of the tree: what every cluster scan must give."""
    return _json(analyze([str(store[0])], rules, ScanOptions(jobs=1)))


def _json(report, replace: tuple[str, str] | None = None) -> str:
    text = render(dataclasses.replace(report, generated_at=None), "json", options=RenderOptions())
    return text.replace(*replace) if replace else text


def test_an_s3_tree_on_the_cluster_gives_the_local_j1_report(store, client, rules, local_json):
    tree, _endpoint, opts = store
    parts: list[tuple[int, int]] = []
    report = analyze_dask([f"s3://{BUCKET}/tree"], rules, client, ScanOptions(), storage_options=opts,
                          on_part=lambda done, total: parts.append((done, total)), range_size=RANGE)
    assert _json(report, (f"s3://{BUCKET}/tree", str(tree))) == local_json
    assert parts[-1][0] == parts[-1][1] > 6  # every task's result was used; the big file was cut in ranges
    failing = {f.rule.id: f for f in report.findings}["runner-jobs-failing-repeatedly"]
    # The threshold (five failures in ten minutes, on one host) is met across the rotation syslog.1 -> syslog.
    assert [Path(e.path).name for e in failing.evidence] == ["syslog.1"] * 3 + ["syslog"] * 2
    assert any("broken.log.gz" in p.path for p in report.problems)  # an input with problems, as locally
    assert any(i.path.endswith("runner-logs-2024.tar.gz!var/log/gitlab-runner.log") for i in report.inputs)


def test_a_threshold_window_across_a_range_cut(store, client, rules):
    tree, _endpoint, opts = store
    big = tree / "ci-runner-2" / "runner.log"
    data = big.read_bytes()
    spans = cluster.cuts(lambda size, offset: data[offset:offset + size], len(data), formats.get("short-iso"), RANGE)
    assert len(spans) >= 4
    cut = spans[0][1]
    failures = [i for i in range(len(data)) if data.startswith(b"Checking for jobs... failed", i)]
    assert [f < cut for f in failures] == [True] * 3 + [False] * 2  # the window spans the cut
    parts: list[tuple[int, int]] = []
    report = analyze_dask([f"s3://{BUCKET}/tree/ci-runner-2/"], rules, client, ScanOptions(), storage_options=opts,
                          on_part=lambda done, total: parts.append((done, total)), range_size=RANGE)
    assert parts[-1] == (len(spans), len(spans))
    url = f"s3://{BUCKET}/tree/ci-runner-2/runner.log"
    failing = {f.rule.id: f for f in report.findings}["runner-jobs-failing-repeatedly"]
    assert failing.count == 5 and {e.path for e in failing.evidence} == {url}
    received = data.index(b"Checking for jobs... received")
    assert spans[1][1] < received < spans[1][1] + 400  # at the start of the third range
    stamp = data[data.rindex(b"\n", 0, received) + 1:][:19].decode()
    incident = {i["rule_id"]: i for i in json.loads(_json(report))["incidents"]}["runner-jobs-failing-repeatedly"]
    assert (incident["status"], incident["recovered_at"]) == ("recovered", stamp + "Z")
    local = analyze([str(big.parent)], rules, ScanOptions(jobs=1))
    assert _json(report, (f"s3://{BUCKET}/tree", str(tree))) == _json(local)


def test_local_paths_on_the_cluster_give_the_same_bytes(store, client, rules, local_json):
    tree, _endpoint, _opts = store
    report = analyze_dask([str(tree)], rules, client, ScanOptions(), range_size=RANGE)
    assert _json(report) == local_json


def test_a_worker_killed_mid_scan_changes_nothing(store, client, rules, local_json):
    tree, _endpoint, opts = store
    before = client.run(os.getpid)
    victim = sorted(before.values())[0]
    killed: list[int] = []

    def kill_once(done: int, total: int) -> None:
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    # A fresh rule set (other backend) gives new task keys: nothing is served from an earlier test.
    report = analyze_dask([f"s3://{BUCKET}/tree"], rules, client, ScanOptions(backend="stdlib"),
                          storage_options=opts, on_part=kill_once, range_size=RANGE)
    assert killed
    assert _json(report, (f"s3://{BUCKET}/tree", str(tree))) == local_json
    client.wait_for_workers(2, timeout=30)
    assert victim not in client.run(os.getpid).values()  # the nanny started a new worker process


def test_listing_keeps_the_local_walk_order(store):
    tree, _endpoint, opts = store
    local = [u.url for u in remote.list_units([str(tree)], ReadOptions(), Diagnostics())]
    s3 = [u.url.replace(f"s3://{BUCKET}/tree", str(tree))
          for u in remote.list_units([f"s3://{BUCKET}/tree/"], ReadOptions(), Diagnostics(), opts)]
    assert local == s3
    # os.walk's order: a directory's files before its subdirectories, rotated sets oldest first.
    assert [Path(p).relative_to(tree).as_posix() for p in local] == [
        "broken.log.gz", "archive/runner-logs-2024.tar.gz", "ci-runner-1/syslog.2.gz", "ci-runner-1/syslog.1",
        "ci-runner-1/syslog", "ci-runner-2/runner.log"]


def test_a_missing_bucket_is_an_input_error(store):
    _tree, _endpoint, opts = store
    diag = Diagnostics()
    assert remote.list_units(["s3://no-such-bucket/x/"], ReadOptions(), diag, opts) == []
    assert diag.failed_inputs and "s3://no-such-bucket/x/" in str(diag.input_errors[0])


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "logsleuth", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def _done(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_the_cli_scans_on_the_cluster(store, client):
    tree, _endpoint, _opts = store
    address = client.scheduler.address
    # Both at once: two cores, and each spends most of its time starting up.
    local, on_dask = _cli("scan", str(tree), "-j", "1", "--format", "json"), \
        _cli("scan", "--dask", address, f"s3://{BUCKET}/tree/", "--format", "json")
    (status, out, _err), (dask_status, dask_out, dask_err) = _done(local), _done(on_dask)
    assert dask_status == status == 1, dask_err  # major findings (and a truncated .gz, a warning)
    assert "broken.log.gz: truncated gzip stream" in dask_err and "Traceback" not in dask_err
    strip = lambda text: {k: v for k, v in json.loads(text).items() if k != "generated_at"}  # noqa: E731
    assert strip(dask_out.replace(f"s3://{BUCKET}/tree", str(tree))) == strip(out)


def test_the_cli_says_what_is_wrong_without_a_traceback(tmp_path):
    status, _out, err = _done(_cli("scan", "--dask", "tcp://127.0.0.1:9", str(tmp_path),
                                   env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}))
    assert status == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err
