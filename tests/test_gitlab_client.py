"""The GitLab client against real HTTP servers on 127.0.0.1: pagination, redirects, limits, messages."""
from __future__ import annotations

import time

import pytest
from gitlab_fake import ME, SOMEONE, TOKEN, Server, State

from logsleuth.gitlab.client import Client, GitLabError

NOTES = "projects/1/merge_requests/7/notes"


@pytest.fixture
def state():
    s = State()
    for i in range(7):
        s.add_note(f"comment {i}", SOMEONE)
    return s


@pytest.fixture
def gitlab(state):
    with Server(state) as server:
        yield server


def client(api: str, **kw) -> Client:
    return Client(api, TOKEN, sleep=lambda s: None, **kw)


@pytest.mark.parametrize("link_only", [False, True], ids=["x-next-page", "link"])
def test_pagination_reads_every_page(gitlab, state, link_only):
    state.link_only = link_only
    bodies = [n["body"] for n in client(gitlab.api).paginate(NOTES)]
    assert bodies == [f"comment {i}" for i in range(7)]
    assert len([c for c in state.log if c["path"].endswith("/notes")]) == 4  # 2 a page


def test_a_redirect_to_another_host_never_carries_the_token(gitlab, state):
    other_state = State()
    with Server(other_state) as other:
        state.redirects["/api/v4/projects/1/jobs/5/trace"] = f"{other.api}/projects/1/jobs/5/trace"
        other_state.traces[5] = "the trace"
        # A GET (a trace in object storage) goes on without the token; the other host got no credential.
        with pytest.raises(GitLabError, match="401"):
            client(gitlab.api).get_text("projects/1/jobs/5/trace")
        (request,) = other_state.log
        assert not {"private-token", "authorization", "job-token"} & set(request["headers"])
        assert TOKEN.encode() not in repr(request).encode()
        # A write is refused outright.
        state.redirects["/api/v4/" + NOTES] = f"{other.api}/{NOTES}"
        with pytest.raises(GitLabError, match=r"redirected POST .* to another host \(http://127\.0\.0\.1:\d+\); "
                                              "not sending the token there"):
            client(gitlab.api).send_json("POST", NOTES, {"body": "x"})
        assert len(other_state.log) == 1


def test_a_redirect_to_a_local_file_is_refused(gitlab, state):
    state.redirects["/api/v4/user"] = "file:///etc/passwd"
    with pytest.raises(GitLabError, match="redirected GET /api/v4/user to a non-HTTP URL"):
        client(gitlab.api).get_json("user")


def test_a_redirect_on_the_same_host_keeps_the_token(gitlab, state):
    state.redirects["/api/v4/old/user"] = gitlab.api + "/user"
    assert client(gitlab.api).get_json("old/user")["id"] == ME
    assert state.log[-1]["headers"]["private-token"] == TOKEN


def test_non_json_and_unexpected_shapes_are_clear_errors(gitlab, state):
    state.queue[("GET", "/api/v4/user")] = [(200, {}, "<html>sign in</html>")]
    with pytest.raises(GitLabError, match=r"GET /api/v4/user with application/json, not JSON .*/api/v4"):
        client(gitlab.api).get_json("user")
    state.queue[("GET", "/api/v4/" + NOTES)] = [(200, {}, {"id": 1})]
    with pytest.raises(GitLabError, match="with dict, not a list"):
        list(client(gitlab.api).paginate(NOTES))


def test_retries_are_bounded_and_honour_retry_after(gitlab, state):
    waits: list[float] = []
    state.queue[("GET", "/api/v4/user")] = [(429, {"Retry-After": "3"}, {}), (503, {}, {}), (200, {}, {"id": 9})]
    c = Client(gitlab.api, TOKEN, sleep=waits.append)
    assert c.get_json("user") == {"id": 9}
    assert waits == [3.0, 1.0]  # Retry-After, then the backoff of a second attempt
    state.queue[("GET", "/api/v4/user")] = [(503, {}, {"message": "down"})] * 10
    with pytest.raises(GitLabError, match=r"GitLab answered 503 to GET /api/v4/user: down \(after 3 attempts\)"):
        Client(gitlab.api, TOKEN, retries=2, sleep=lambda s: None).get_json("user")
    # A Retry-After longer than the request's deadline is not waited for.
    state.queue[("GET", "/api/v4/user")] = [(429, {"Retry-After": "3600"}, {})]
    started = time.monotonic()
    with pytest.raises(GitLabError, match="429"):
        Client(gitlab.api, TOKEN, deadline=5).get_json("user")
    assert time.monotonic() - started < 5


def test_answers_are_capped_in_size(gitlab, state):
    state.traces[5] = "x" * (3 * 1024 * 1024)
    with pytest.raises(GitLabError, match="larger than 1 MiB"):
        client(gitlab.api).get_text("projects/1/jobs/5/trace", limit=1024 * 1024)
    assert len(client(gitlab.api).get_text("projects/1/jobs/5/trace")) == 3 * 1024 * 1024


def test_userinfo_is_dropped_and_never_shown():
    c = Client("https://bot:Pa55w0rd@gitlab.example.com/api/v4/", TOKEN)
    assert c.api == "https://gitlab.example.com/api/v4"
    with pytest.raises(GitLabError) as bad:
        Client("ftp://bot:Pa55w0rd@gitlab.example.com/api/v4", TOKEN)
    assert "Pa55w0rd" not in str(bad.value) and "ftp://gitlab.example.com/api/v4" in str(bad.value)


def test_error_messages_never_carry_the_token(gitlab, state):
    state.queue[("GET", "/api/v4/user")] = [(400, {}, {"message": f"bad token {TOKEN} in PRIVATE-TOKEN: {TOKEN}"})]
    with pytest.raises(GitLabError) as err:
        client(gitlab.api).get_json("user")
    assert TOKEN not in str(err.value) and "GitLab answered 400 to GET /api/v4/user" in str(err.value)


@pytest.mark.parametrize("url", ["http://bot:Pa55w0rd@gitlab.example.com:notaport/api/v4",
                                 "http://[::1/api/v4", "gitlab.example.com/api/v4"])
def test_malformed_api_urls_are_clear_errors(url):
    with pytest.raises(GitLabError, match="must be http\\(s\\)://host\\[:port\\]/api/v4") as bad:
        Client(url, TOKEN)
    assert "Pa55w0rd" not in str(bad.value)


def test_a_connection_cut_is_retried_but_a_refused_one_is_not(gitlab, state):
    import socket as socket_mod

    waits: list[float] = []
    with socket_mod.socket() as s:  # a port that is closed: refused at once, no waiting
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(GitLabError, match="cannot reach GitLab for GET /api/v4/user"):
        Client(f"http://127.0.0.1:{closed}/api/v4", TOKEN, sleep=waits.append).get_json("user")
    assert waits == []
    # The server drops the connection without an answer once: a GET tries again.
    state.queue[("GET", "/api/v4/user")] = [(-1, {}, None)]
    assert Client(gitlab.api, TOKEN, sleep=waits.append).get_json("user")["id"] == ME
    assert waits == [0.5]
