"""The shared pieces of `reconciler comment`: the marker, Retry-After, error bodies, foreign pagination links."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest

from reconciler.comment.api import MAX_WAIT, CommentError, _retry_after, error_text, marker_of
from reconciler.comment.github import GitHubTarget, GitHubThread
from reconciler.output.render import markdown_marker
from tests.comment.platforms import serve


def test_the_marker_is_the_one_render_writes() -> None:
    for path in ("repo", "envs/prod", None, "odd-->path"):
        marker = markdown_marker(path)
        assert marker_of(f"{marker}\r\n## plan\n") == marker
    with pytest.raises(CommentError, match="marker"):
        marker_of("## plan\n<!-- stoa-reconciler plan: repo -->\n")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert _retry_after("7") == 7.0
    assert 25 <= _retry_after(formatdate(time.time() + 30, usegmt=True)) <= 30
    assert _retry_after(formatdate(time.time() - 30, usegmt=True)) == 0.0
    assert _retry_after("soon") == MAX_WAIT


def test_error_text_reads_both_documented_shapes() -> None:
    github = httpx.Response(422, json={"message": "Validation Failed", "documentation_url": "x", "errors": [
        {"resource": "IssueComment", "code": "missing_field", "field": "body"}]})
    assert error_text(github) == "Validation Failed: body missing_field"
    gitlab = httpx.Response(400, json={"message": {"note": ["is too long (maximum is 1000000 characters)"]}})
    assert error_text(gitlab) == "note is too long (maximum is 1000000 characters)"
    assert error_text(httpx.Response(502, text="<html>bad gateway</html>")) == "Bad Gateway"


def test_a_next_page_on_another_host_is_not_followed_with_the_token() -> None:
    token = "ghp_tokenForThisHostOnly"
    with serve(token) as state:
        state.seed_github("acme/gw", 1, "a", "b", "c")
        own = state.base_url
        state.base_url = own.replace("127.0.0.1", "localhost")  # the server's Link now names another origin
        thread = GitHubThread(GitHubTarget(api_url=own, repository="acme/gw", number=1), token)
        try:
            with pytest.raises(CommentError, match="another host") as exc:
                list(thread.comments())
        finally:
            thread.close()
        assert token not in str(exc.value) and len(state.seen) == 1
