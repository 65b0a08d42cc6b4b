"""Every failure the rule-library issue lists, one line each, in the wordings the runner and the
systems around it print: each must produce its category (and only that one, beside the job's
verdict when the line is one)."""
from __future__ import annotations

import re

import pytest

from logsleuth import ruleset
from logsleuth.read import formats
from logsleuth.authoring.examples import findings_for
from logsleuth.read.formats import ParseContext

BUNDLED = ruleset.load()
CASES = [
    ('auth-token', 'ERROR: Checking for jobs... forbidden               runner=abcd1234 status=POST https://gitlab.example.com/api/v4/jobs/request: 403 Forbidden'),
    ('auth-token', 'ERROR: Verifying runner... is removed               runner=abcd1234'),
    ('auth-token', 'Verifying runner... is not valid                    runner=abcd12345'),
    ('auth-token', 'ERROR: Registering runner... forbidden (check registration token)  runner=GR13489'),
    ('auth-token', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=POST https://gitlab.example.com/api/v4/jobs/request: 401 Unauthorized'),
    ('auth-token', 'remote: HTTP Basic: Access denied. The provided password or token is incorrect or your account has 2FA enabled.'),
    ('auth-token', 'ERROR: Runner "https://gitlab.example.com/abcd1234" is unhealthy and will be disabled for 1h0m0s seconds!  unhealthy_requests=3 unhealthy_requests_limit=3'),
    ('tls-x509', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=couldn\'t execute POST against https://gitlab.example.com/api/v4/jobs/request: Post "https://gitlab.example.com/api/v4/jobs/request": x509: certificate signed by unknown authority'),
    ('tls-x509', "WARNING: Checking for jobs... failed                runner=abcd1234 status=couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: Post https://gitlab.example.com/api/v4/jobs/request: x509: certificate has expired or is not yet valid"),
    ('tls-x509', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": x509: certificate is valid for a.example.com, not gitlab.example.com'),
    ('tls-x509', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": tls: failed to verify certificate: x509: certificate signed by unknown authority'),
    ('tls-x509', "fatal: unable to access 'https://gitlab.example.com/g/p.git/': SSL certificate problem: unable to get local issuer certificate"),
    ('tls-x509', "fatal: unable to access 'https://gitlab.example.com/g/p.git/': SSL certificate problem: self signed certificate in certificate chain"),
    ('tls-x509', "fatal: unable to access 'https://gitlab.example.com/g/p.git/': server certificate verification failed. CAfile: /etc/ssl/certs/ca-certificates.crt CRLfile: none"),
    ('tls-x509', 'WARNING: Failed to load system CertPool: crypto/x509: system root pool is not available on Windows'),
    ('tls-x509', 'ERROR: Failed to parse PEM in /etc/gitlab-runner/certs/ca.crt'),
    ('dns', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp: lookup gitlab.example.com on 127.0.0.53:53: no such host'),
    ('dns', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp: lookup gitlab.example.com on 10.0.0.2:53: server misbehaving'),
    ('dns', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp: lookup gitlab.example.com on 127.0.0.53:53: read udp 127.0.0.1:45678->127.0.0.53:53: read: connection refused'),
    ('dns', "fatal: unable to access 'https://gitlab.example.com/g/p.git/': Could not resolve host: gitlab.example.com"),
    ('dns', 'ssh: Could not resolve hostname gitlab.example.com: Temporary failure in name resolution'),
    ('connection-refused', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp 10.0.0.5:443: connect: connection refused'),
    ('connection-refused', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post https://gitlab.example.com/api/v4/jobs/request: dial tcp 10.0.0.5:443: getsockopt: connection refused'),
    ('connection-refused', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp 10.0.0.5:443: connect: no route to host'),
    ('connection-refused', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp 10.0.0.5:443: connect: network is unreachable'),
    ('connection-refused', 'curl: (7) Failed to connect to gitlab.example.com port 443 after 3 ms: Connection refused'),
    ('network-timeout', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp 10.0.0.5:443: i/o timeout'),
    ('network-timeout', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": net/http: TLS handshake timeout'),
    ('network-timeout', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": context deadline exceeded'),
    ('network-timeout', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": net/http: request canceled (Client.Timeout exceeded while awaiting headers)'),
    ('network-timeout', "fatal: unable to access 'https://gitlab.example.com/g/p.git/': Failed to connect to gitlab.example.com port 443: Connection timed out"),
    ('network-timeout', 'WARNING: Appending trace to coordinator... failed   code=-1 job=1 runner=abcd1234 status=Patch "https://gitlab.example.com/api/v4/jobs/1/trace": read tcp 10.0.0.9:51234->10.0.0.5:443: read: connection reset by peer'),
    ('proxy', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=Post "https://gitlab.example.com/api/v4/jobs/request": proxyconnect tcp: dial tcp 10.1.1.1:3128: connect: connection refused'),
    ('proxy', "fatal: unable to access 'https://gitlab.example.com/g/p.git/': Received HTTP code 407 from proxy after CONNECT"),
    ('api-server-error', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=POST https://gitlab.example.com/api/v4/jobs/request: 502 Bad Gateway'),
    ('api-server-error', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=500 Internal Server Error'),
    ('api-server-error', 'WARNING: Checking for jobs... GitLab instance currently unavailable  runner=abcd1234 status=503 Service Unavailable'),
    ('disk-full', 'ERROR: Job failed (system failure): prepare environment: write /builds/x: no space left on device'),
    ('disk-full', 'Error: ENOSPC: no space left on device, write (errno 28)'),
    ('oom-kill', 'kernel: Out of memory: Killed process 1234 (java) total-vm:8123456kB, anon-rss:4012345kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0'),
    ('oom-kill', 'kernel: Memory cgroup out of memory: Killed process 1234 (java) total-vm:8123456kB, anon-rss:4012345kB, file-rss:0kB, shmem-rss:0kB'),
    ('oom-kill', 'kernel: Out of memory: Kill process 1234 (java) score 900 or sacrifice child'),
    ('oom-kill', 'kernel: java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0'),
    ('oom-kill', 'systemd[1]: gitlab-runner.service: A process of this unit has been killed by the OOM killer.'),
    ('oom-kill', "systemd[1]: gitlab-runner.service: Failed with result 'oom-kill'."),
    ('oom-kill', 'systemd-oomd[512]: Killed /system.slice/docker-abc.scope due to memory pressure for /system.slice being 62.50% > 50.00% for > 20s with reclaim activity'),
    ('oom-kill', "Error in container build: exit code: 137, reason: 'OOMKilled'"),
    ('oom-kill', 'ERROR: Job failed: exit code 137'),
    ('resource-exhaustion', 'ERROR: Job failed: too many open files'),
    ('resource-exhaustion', 'fork/exec /usr/bin/git: resource temporarily unavailable'),
    ('resource-exhaustion', 'kernel: INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.'),
    ('resource-exhaustion', 'kernel: watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [java:1234]'),
    ('config-toml', 'ERROR: Failed to load config stat /etc/gitlab-runner/config.toml: no such file or directory  builds=0'),
    ('config-toml', "FATAL: Near line 26 (last key parsed 'runners.docker.sysctls'): bare keys cannot contain '.'"),
    ('config-toml', 'FATAL: Service run failed                           error=decoding configuration file: toml: line 2 (last key "runners.docker"): expected \'.\' or \'=\', but got \'(\' instead'),
    ('docker-daemon', 'ERROR: Job failed (system failure): Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'),
    ('docker-daemon', 'ERROR: Preparation failed: permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/info": dial unix /var/run/docker.sock: connect: permission denied'),
    ('docker-daemon', 'error during connect: Get "http://docker:2375/v1.24/info": dial tcp: lookup docker on 10.0.0.2:53: no such host'),
    ('job-timeout', 'ERROR: Job failed: execution took longer than 1h0m0s seconds'),
    ('job-cancelled', 'ERROR: Job failed: canceled'),
    ('job-cancelled', 'ERROR: Job failed: script canceled externally (UI, API)'),
    ('job-failed', 'ERROR: Job failed (system failure): unable to upload artifacts'),
    ('runner-connectivity', 'WARNING: Checking for jobs... failed                runner=abcd1234 status=POST https://gitlab.example.com/api/v4/jobs/request: 429 Too Many Requests'),
]


# The runner's verdict on the job (unless the verdict is itself the timeout or the cancel) or on
# its own service is reported beside its cause (the `outcome` rules).
_VERDICT = re.compile(r"(?:Job|Build) failed")


def outcome(category: str, line: str) -> set[str]:
    if "Service run failed" in line:
        return {"runner-health"}
    return {"job-failed"} if _VERDICT.search(line) and category not in ("job-timeout", "job-cancelled") else set()


@pytest.mark.parametrize("category, line", CASES, ids=[f"{i:02d}-{c}" for i, (c, _) in enumerate(CASES, 1)])
def test_each_listed_failure_is_recognised(category, line):
    raw = [line.encode()]
    fmt, _ = formats.detect(raw)
    records = list(fmt.parse(raw, ParseContext("<case>")))
    assert {f.category for f in findings_for(BUNDLED, records)} == {category} | outcome(category, line)
