"""Webhook verification: GitHub HMAC and GitLab token, constant-time, no payload trust."""

from __future__ import annotations

import pytest

from reconciler.daemon.webhooks import github_signature, verify, wants_fetch

BODY = b'{"ref":"refs/heads/main"}'


def test_github_signature_is_checked() -> None:
    good = verify({"x-hub-signature-256": github_signature("s3cret", BODY), "x-github-event": "push"}, BODY, "s3cret")
    assert good.ok and good.provider == "github" and wants_fetch(good)
    tampered = verify({"x-hub-signature-256": github_signature("s3cret", BODY)}, BODY + b" ", "s3cret")
    assert not tampered.ok and tampered.reason == "bad signature"
    other_key = verify({"x-hub-signature-256": github_signature("other", BODY)}, BODY, "s3cret")
    assert not other_key.ok


@pytest.mark.parametrize(("headers", "ok", "provider"), [
    pytest.param({"x-gitlab-token": "s3cret", "x-gitlab-event": "Push Hook"}, True, "gitlab", id="gitlab-ok"),
    pytest.param({"x-gitlab-token": "s3cre"}, False, "gitlab", id="gitlab-prefix"),
    pytest.param({}, False, "unknown", id="no-header"),
    pytest.param({"x-hub-signature-256": "sha256=00"}, False, "github", id="github-garbage"),
])
def test_verdicts(headers: dict[str, str], ok: bool, provider: str) -> None:
    verdict = verify(headers, BODY, "s3cret")
    assert (verdict.ok, verdict.provider) == (ok, provider)
    assert wants_fetch(verdict) is ok


def test_ping_is_acknowledged_without_fetch() -> None:
    ping = verify({"x-hub-signature-256": github_signature("k", b"{}"), "x-github-event": "ping"}, b"{}", "k")
    assert ping.ok and not wants_fetch(ping)
