"""Push webhooks from GitHub (`X-Hub-Signature-256`) and GitLab (`X-Gitlab-Token`), checked in constant time.

A verified delivery only *triggers a fetch*: the payload is never trusted for content (a forged or
replayed body can at worst cause one extra fetch of what the remote really holds). Verification is
pure functions: the HTTP layer passes headers and the raw body.

Floods are cheap to answer: `RateLimiter` refuses a source address past its per-minute budget
before the body is read, and `Debouncer` turns any number of verified deliveries into at most one
fetch at once and one at the end of each window (a burst of pushes, a CI retrying a delivery).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

MAX_BODY = 1024 * 1024
"""Bigger deliveries are refused before the signature is computed."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    provider: str
    """github | gitlab | unknown"""
    reason: str = ""
    event: str = ""


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` (also used by tests and benchmarks)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Verdict:
    """Check a delivery against the shared secret. Header names must be lower-case."""
    if "x-hub-signature-256" in headers:
        expected = github_signature(secret, body)
        given = headers["x-hub-signature-256"].strip()
        ok = hmac.compare_digest(expected.encode(), given.encode())
        return Verdict(ok, "github", "" if ok else "bad signature", headers.get("x-github-event", ""))
    if "x-gitlab-token" in headers:
        ok = hmac.compare_digest(secret.encode(), headers["x-gitlab-token"].encode())
        return Verdict(ok, "gitlab", "" if ok else "bad token", headers.get("x-gitlab-event", ""))
    return Verdict(False, "unknown", "no X-Hub-Signature-256 or X-Gitlab-Token header")


def wants_fetch(verdict: Verdict) -> bool:
    """Pings and other non-push events are acknowledged without a fetch."""
    return verdict.ok and verdict.event.lower() not in ("ping", "system hook")


Clock = Callable[[], float]


class Debouncer:
    """Leading and trailing edge: the first delivery of a quiet period fetches at once; the deliveries
    within `window` seconds after it cause one more fetch when the window ends (what they announce may
    have landed after the first fetch read the branch), which opens the next window. A steady flood
    therefore costs one fetch per window, however many deliveries it holds."""

    def __init__(self, fire: Callable[[], object], clock: Clock = time.monotonic) -> None:
        self._fire = fire
        self._clock = clock
        self._window_end: float | None = None
        self._pending = False
        self._timer: asyncio.TimerHandle | None = None
        self.fired = 0

    def submit(self, window: float) -> bool:
        """One verified delivery; True when it fetched at once, False when it joined the window's fetch."""
        now = self._clock()
        if window > 0 and self._window_end is not None and now < self._window_end:
            self._pending = True
            return False
        self._fetch()
        if window > 0:
            self._open(window)
        return True

    def _fetch(self) -> None:
        self.fired += 1
        self._fire()

    def _open(self, window: float) -> None:
        self._window_end = self._clock() + window
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(window, self._close, window)

    def _close(self, window: float) -> None:
        self._timer = None
        if self._pending:
            self._pending = False
            self._fetch()
            self._open(window)
        else:
            self._window_end = None

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass
class RateLimiter:
    """A token bucket per source address: `per_minute` deliveries in a burst, refilled at that rate."""

    clock: Clock = time.monotonic
    max_sources: int = 4096
    """Addresses remembered at most; idle ones (full buckets) are forgotten first."""
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, source: str, per_minute: int) -> float:
        """0.0 when the delivery may proceed, else the seconds until the next one would (Retry-After)."""
        if per_minute <= 0:
            return 0.0
        now = self.clock()
        rate = per_minute / 60.0
        tokens, last = self._buckets.get(source, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[source] = (tokens - 1.0, now)
            self._forget_idle(per_minute, now)
            return 0.0
        self._buckets[source] = (tokens, now)
        return (1.0 - tokens) / rate

    def _forget_idle(self, per_minute: int, now: float) -> None:
        if len(self._buckets) <= self.max_sources:
            return
        full = [k for k, (tokens, last) in self._buckets.items() if tokens + (now - last) * per_minute / 60 >= per_minute]
        for key in full or sorted(self._buckets, key=lambda k: self._buckets[k][1])[: len(self._buckets) // 2]:
            del self._buckets[key]
