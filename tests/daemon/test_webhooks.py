"""Webhook verification (GitHub HMAC, GitLab token, constant-time, no payload trust), debounce, rate limit."""

from __future__ import annotations

import asyncio
import time

import pytest

from reconciler.daemon.webhooks import Debouncer, RateLimiter, github_signature, verify, wants_fetch

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


async def test_debouncer_fetches_at_once_then_once_at_the_end_of_the_window() -> None:
    fired: list[float] = []
    debouncer = Debouncer(lambda: fired.append(time.monotonic()))
    start = time.monotonic()
    assert debouncer.submit(0.3) is True and len(fired) == 1
    assert [debouncer.submit(0.3) for _ in range(99)] == [False] * 99
    assert len(fired) == 1
    deadline = time.monotonic() + 10
    while len(fired) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(fired) == 2 and fired[1] - start >= 0.29  # the trailing fetch, not before the window ends
    await asyncio.sleep(0.7)  # the next window closes empty: no third fetch
    assert len(fired) == 2
    assert debouncer.submit(0.3) is True and len(fired) == 3  # quiet again: the next delivery fetches at once
    debouncer.cancel()
    assert Debouncer(lambda: fired.append(0.0)).submit(0) is True and len(fired) == 4  # 0: no debounce


def test_rate_limiter_is_a_bucket_per_address() -> None:
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.allow("10.0.0.1", 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.allow("10.0.0.1", 3)
    assert 19.9 < wait <= 20.0  # 3 a minute: one more in 20 s
    assert limiter.allow("10.0.0.2", 3) == 0.0  # another address has its own budget
    now[0] += 20.0
    assert limiter.allow("10.0.0.1", 3) == 0.0
    assert limiter.allow("10.0.0.1", 0) == 0.0  # 0: no limit
    small = RateLimiter(clock=lambda: now[0], max_sources=4)
    for i in range(10):
        small.allow(f"10.1.0.{i}", 5)
    assert len(small._buckets) <= 5
