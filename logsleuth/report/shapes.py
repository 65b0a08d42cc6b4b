"""The secret shapes redaction masks (render stage): one regex per shape, each with a `secret` group.

Each shape keeps the part that says *what* was there (the token prefix, the header or variable
name, the URL user) and names only the secret as the `secret` group. A shape also lists literal
hints (lower case): when none is in the lower-cased line, its regex does not run, so a line holding
no hint of a secret costs a few `in` tests. tests/data/secret_shapes.yaml holds one example each.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any


@dataclass(frozen=True)
class Shape:
    name: str
    pattern: re.Pattern[str]
    hints: frozenset[str] = frozenset()  # the regex runs when one is in the line; empty: see `gate`
    also: str = ""  # ... and this is in it too
    gate: Callable[[str], bool] | None = None  # for a shape without literals: worth running on this line?
    accept: Callable[[str], bool] | None = None  # a last look at the secret the regex found


def _shape(name: str, regex: str, *hints: str, flags: int = 0, also: str = "",
           gate: Callable[[str], bool] | None = None, accept: Callable[[str], bool] | None = None) -> Shape:
    return Shape(name, re.compile(regex, flags), frozenset(hints), also, gate, accept)


def _has_long_word(text: str) -> bool:
    """Whether `text` holds a run of 40 non-space characters: `re.search(r"\\S{40}")`, told by
    str.split (the same whitespace as the regex's \\s) three times faster on evidence lines."""
    return len(text) >= 40 and max(map(len, text.split()), default=0) >= 40


_I = re.IGNORECASE
# A value: what a quote opened, up to the closing quote; else up to the next space, quote, comma,
# semicolon, backslash or `&` (a query string's next pair). A value never starts with `-` (the next flag).
# Quotes may be backslash-escaped: JSON inside a logrus `msg="..."` or inside another JSON string.
_VALUE = r"(?P<secret>(?<=\")[^\"\n\\]+(?=\\*\")|(?<=')[^'\n\\]+(?=\\*')|(?!-)[^\s\"',;&\\]+)"
# Names of variables, keys and flags whose value is a password-like secret (the name stays).
# Not `pwd` (sudo logs the working directory as PWD=) nor `credentials` (Kubernetes says
# "setting up credentials: secrets is forbidden").
_SECRET_WORDS = (r"pass(?:word|wd|phrase)|secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key"
                 r"|private[_-]?key|account[_-]?key|shared[_-]?access[_-]?key|client[_-]?secret|jwt")

SHAPES: tuple[Shape, ...] = (
    # `user:password@` inside any URL, and a bare token used as the URL user (`https://<token>@host`).
    _shape("url-password", r"\b([a-z][a-z0-9+.\-]{0,30}://[^/\s:@\"']*:)(?P<secret>[^@\s/\"']+)@", "://", also="@", flags=_I),
    _shape("url-token-user", r"\b([a-z][a-z0-9+.\-]{0,30}://)(?P<secret>[0-9A-Za-z_\-]{20,})@", "://", also="@", flags=_I),
    # git's `gitlab-ci-token:<job token>@host`, with or without a scheme.
    _shape("ci-token-user", r"\b(gitlab-ci-token:)(?P<secret>[^@\s/\"']+)@", "gitlab-ci-token"),
    # HTTP auth headers as curl -v, the runner's debug output or a JSON dump of headers log them.
    # Without a scheme word the value must be long: "may require authorization: server message" is prose.
    _shape("authorization-header",
           r"\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|negotiate|digest)\s+)"
           r"(?P<secret>[^\s\"',;]+)", "authorization", flags=_I),
    _shape("authorization-bare",
           r"\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?!(?:bearer|basic|token|negotiate|digest)\b)"
           r"(?P<secret>[^\s\"',;]{12,})", "authorization", flags=_I),
    _shape("token-header", r"\b((?:private|job|deploy)-token[\"']?\s*[:=]\s*[\"']?)(?P<secret>[^\s\"',;]+)",
           "-token", flags=_I),
    # GitLab token prefixes (doc/security/tokens "Token prefixes"): runner authentication (glrt-,
    # glrtr-), personal/project/group access (glpat-), CI job (glcbt-), deploy (gldt-), trigger
    # (glptt-), feed (glft-), incoming mail (glimt-), agent (glagent-), SCIM/OAuth (glsoat-, gloas-),
    # feature flags client (glffct-), workspace (glwt-). Routable tokens add `.` and `_` to the body.
    _shape("gitlab-prefixed",
           r"\b(gl(?:rtr?|pat|cbt|dt|ptt|ft|imt|agent|soat|oas|ffct|wt)-)(?P<secret>[0-9A-Za-z_.\-]{8,})", "gl"),
    # Runner registration tokens since GitLab 13.x start with GR1348941; the runner logs the prefix
    # and 8 more characters as its short token (`runner=GR1348941xXzhePNZ`), which stays.
    _shape("gitlab-registration", r"\b(GR1348941)(?P<secret>[0-9A-Za-z_\-]{12,})", "gr1348941"),
    # CI/CD variables that always hold a credential, whatever its length or shape.
    _shape("ci-secret-variable",
           r"\b((?:CI_JOB_TOKEN|CI_JOB_JWT(?:_V[12])?|CI_REGISTRY_PASSWORD|CI_DEPENDENCY_PROXY_PASSWORD"
           r"|CI_DEPLOY_PASSWORD|CI_BUILD_TOKEN|LOGSLEUTH_GITLAB_TOKEN)[\"']?\s*[:=]\s*[\"']?)" + _VALUE, "ci_",
           "logsleuth_gitlab_token"),
    # A legacy (pre-glrt, 20-character) runner or registration token is only recognisable by the
    # name in front of it: `--token X`, `--registration-token=X`, `token = "X"` in config.toml,
    # `?private_token=X`, `"identitytoken": "X"`. Values shorter than 12 characters are kept on
    # purpose: the runner logs its 8-9 character *short token* as an identifier (`runner=abcd1234`),
    # which operators grep for and which grants nothing. Only a `--flag` takes its value after a
    # space: in prose, "access token authentication" is not a secret.
    _shape("named-token",
           r"(?<![0-9A-Za-z_-])(--(?:[a-z]+-)*token(?:=|[ \t]+)[\"']?"
           r"|(?:[a-z0-9]+[_-])*[a-z]*token[\"']?[ \t]*[:=][ \t]*[\"']?)(?P<secret>[0-9A-Za-z_\-]{12,})",
           "token", flags=_I),
    # `gitlab-runner register -r X` / `-t X`; `-r` alone is too common (`cp -r dir`) to mask anywhere.
    _shape("register-short-flag", r"(?<!\S)(-[rt][ \t]+[\"']?|-[rt]=[\"']?)(?P<secret>[0-9A-Za-z_\-]{12,})",
           "register", "verify"),
    # `key=value`, `key: value`, `"key": "value"` for password-like names: DB_PASSWORD=,
    # AWS_SECRET_ACCESS_KEY=, "client_secret": ..., AccountKey= in an Azure connection string.
    _shape("secret-key-value",
           r"(?<![0-9A-Za-z/._-])((?:[a-z0-9]+[_.-])*(?:" + _SECRET_WORDS + r")(?:[_.-][a-z0-9]+)*\\*[\"']?"
           r"[ \t]*[:=][ \t]*\\*[\"']?)" + _VALUE,
           "pass", "secret", "key", "jwt", flags=_I),
    # `--password X`, `--password=X` (not docker's "Using --password via the CLI is insecure"),, `--docker-password X`, `--client-secret X`, `--aws-secret-access-key X`.
    _shape("secret-flag",
           r"(?<!using )(?<!\S)(--?(?:[a-z0-9]+-)*(?:password|passwd|secret|api-?key|(?:secret-)?access-key|secret-key)"
           r"(?:=|[ \t]+)[\"']?)" + _VALUE,
           "-pass", "secret", "key", flags=_I),
    # `docker login -u user -p X registry` (also podman, buildah, helm registry login).
    _shape("login-password-flag", r"(?<!\S)(-p[ \t]*[\"']?|-p=[\"']?)" + _VALUE, "login"),
    # netrc: `machine host login user password X`, or a `password X` line of a multi-line entry.
    _shape("netrc-password", r"(\b(?:login|machine)[ \t]+\S+[ \t]+password[ \t]+)(?P<secret>\S+)", "password",
           flags=_I),
    _shape("netrc-password-line", r"^([ \t]*password[ \t]+)(?P<secret>\S+)[ \t]*$", "password", flags=_I),
    # .docker/config.json and DOCKER_AUTH_CONFIG: `"auth": "<base64 user:password>"`, also JSON
    # escaped inside another string (`{\"auth\":\"...\"}`), and the identity/registry tokens beside it.
    _shape("docker-auth", r"((?<![0-9A-Za-z_])\\*[\"']?auth\\*[\"']?\s*:\s*\\*[\"'])(?P<secret>[A-Za-z0-9+/=_\-]+)",
           "auth", flags=_I),
    # AWS access key ids (IAM user AKIA, temporary ASIA, and the other unique-id prefixes).
    _shape("aws-access-key-id", r"\b((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA))"
           r"(?P<secret>[A-Z0-9]{16})\b", "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva",
           "apka", "aroa", "asca"),
    # GCP API keys and OAuth client secrets; Google OAuth access tokens.
    _shape("gcp-api-key", r"\b(AIza)(?P<secret>[0-9A-Za-z_\-]{35})", "aiza"),
    _shape("gcp-oauth-secret", r"\b(GOCSPX-)(?P<secret>[0-9A-Za-z_\-]{20,})", "gocspx"),
    _shape("google-access-token", r"\b(ya29\.)(?P<secret>[0-9A-Za-z_\-]{20,})", "ya29"),
    # Azure: AD client secrets (`abc8Q~…`), and the SAS signature of a storage URL (`&sig=…`).
    _shape("azure-client-secret", r"(?<![0-9A-Za-z_~.\-])(?P<secret>[0-9A-Za-z_~.]{3}\dQ~[0-9A-Za-z_~.\-]{31,34})",
           "q~"),
    _shape("azure-sas-signature", r"([?&;]sig=)(?P<secret>[^&\s\"';]+)", "sig=", flags=_I),
    # GitHub and Slack tokens, which job traces carry as often as GitLab's.
    _shape("github-token", r"\b(gh[pousr]_|github_pat_)(?P<secret>[0-9A-Za-z_]{20,})", "gh", "github_pat_"),
    _shape("slack-token", r"\b(xox[abpors]-)(?P<secret>[0-9A-Za-z\-]{10,})", "xox"),
    # JWTs: three base64url parts, the first two JSON objects (`eyJ` is base64 of `{"`).
    _shape("jwt", r"(?P<secret>\beyJ[0-9A-Za-z_\-]{4,}\.eyJ[0-9A-Za-z_\-]{4,}\.[0-9A-Za-z_\-]*)", "eyj"),
    # A PEM private key on one line (a JSON string with `\n`, a one-line env value): all of its body.
    _shape("pem-inline", r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)(?P<secret>.+?)(?=-----END |$)",
           "private key"),
    # A bare base64 blob of 40+ characters mixing upper case, lower case and digits: a PEM body line
    # whose BEGIN line is out of view, an AWS secret key, an Azure storage key. Hex digests (git,
    # image ids) have no upper case and stay; so do paths and URLs (a leading `/`, or no 20 characters
    # between two slashes).
    _shape("base64-blob", r"(?<![0-9A-Za-z+/=_\-])(?!/)(?P<secret>(?=[0-9A-Za-z+/]*[A-Z])(?=[0-9A-Za-z+/]*[a-z])"
           r"(?=[0-9A-Za-z+/]*[0-9])[0-9A-Za-z+/]{40,}={0,2})(?![0-9A-Za-z+/=_\-])",
           gate=_has_long_word, accept=lambda blob: max(map(len, blob.split("/"))) >= 20),
)

# A PEM block across lines: every line from BEGIN to END is masked, the markers stay.
PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")

# Escape sequences (CSI, OSC, two-character) a job trace may put inside a secret to split it.
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")

# Every hint of every shape: a line is searched for each once, then only the shapes it hints at run.
HINTS: tuple[str, ...] = tuple(sorted({h for shape in SHAPES for h in shape.hints}))


_LINES_BEFORE_AUTOMATON = 256
_seen = [0]


def hints_in(lower: str) -> frozenset[str]:
    """The HINTS in a lower-cased line: `{h for h in HINTS if h in lower}`, in one pass of an
    Aho-Corasick automaton when pyahocorasick is installed (3.4x faster on the 200 MB bench's
    2,800 evidence lines: 41 substring tests a line were half of redaction's time)."""
    # The first lines are tested one hint at a time: a `parse` of a few lines or an error message
    # should not import pyahocorasick nor build the automaton (tests/test_cli_startup.py).
    _seen[0] += 1
    automaton = _hint_automaton() if _seen[0] > _LINES_BEFORE_AUTOMATON else None
    if automaton is None:
        return frozenset(h for h in HINTS if h in lower)
    return frozenset(map(itemgetter(1), automaton.iter(lower)))


@lru_cache(maxsize=1)
def _hint_automaton() -> Any:
    try:
        import ahocorasick
    except ImportError:
        return None
    automaton = ahocorasick.Automaton()
    for hint in HINTS:
        automaton.add_word(hint, hint)
    automaton.make_automaton()
    return automaton
