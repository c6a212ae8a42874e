"""The HTTP layer every adapter shares: pooled httpx.AsyncClient, timeouts, bounded retries.

Retries 429, 502, 503, 504 and connection errors with exponential backoff and full jitter, honours
`Retry-After` (seconds or HTTP date), and gives up when the next wait would pass the deadline.
A connect error is always retried (nothing reached the server); a read error only for idempotent
methods. An optional pace (requests per second) keeps to control-plane quotas such as AWS's, and an
optional adaptive limit bounds the writes in flight: halved on a 429, grown back by one after as many
successes as the limit (AIMD), never above the configured ceiling.
Every request is counted by method, so callers and benchmarks can report what they sent.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from reconciler.model.errors import TemporaryError, error_for_status
from reconciler.model.scrub import Scrubber

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class RetryPolicy:
    """Backoff settings: base * 2**attempt with full jitter, capped, within a total deadline."""

    def __init__(
        self,
        *,
        attempts: int = 5,
        base: float = 0.2,
        cap: float = 10.0,
        deadline: float = 60.0,
        read_attempts: int | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.attempts = attempts
        self.read_attempts = attempts if read_attempts is None else read_attempts
        """Reads (GET/HEAD) may retry more: a plan reads hundreds of pages, and one page failing five
        times must not make a whole gateway unreadable when the next attempt would succeed."""
        self.base = base
        self.cap = cap
        self.deadline = deadline
        self.rng = rng

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return float(min(retry_after, self.cap))
        return float(self.rng() * min(self.cap, self.base * (2**attempt)))


class Pacer:
    """Spaces requests at most `per_second` apart (a token bucket of size one)."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


class AdaptiveLimit:
    """Writes in flight at once, adapted to the gateway's answers: a 429 (the gateway asking to slow
    down) halves the limit; `limit` successes in a row raise it by one, up to `ceiling`."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.in_flight = 0
        self._streak = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self, status: int | None) -> None:
        async with self._changed:
            self.in_flight -= 1
            if status == 429:
                self.limit, self._streak = max(1, self.limit // 2), 0
            elif status is not None and status < 400:
                self._streak += 1
                if self._streak >= self.limit and self.limit < self.ceiling:
                    self.limit, self._streak = self.limit + 1, 0
            self._changed.notify_all()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), built once per
    process: building it loads the CA bundle, about 50 ms of CPU, and a daemon makes a client per
    gateway per cycle."""
    return httpx.create_ssl_context()


class GatewayHttp:
    """A thin client around httpx.AsyncClient; one per adapter instance."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        pace_per_second: float | None = None,
        secrets: Iterable[str] | Scrubber = (),
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        write_concurrency: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy(read_attempts=8)
        self.pacer = Pacer(pace_per_second)
        self.write_limit = AdaptiveLimit(write_concurrency) if write_concurrency else None
        """Bounds writes in flight (None: unbounded); reads are bounded by their callers."""
        self.scrubber = secrets if isinstance(secrets, Scrubber) else Scrubber(secrets)
        self.counts: Counter[str] = Counter()
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            verify=default_ssl_context() if transport is None else True,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of the run this client scrubs from its messages (credentials and consumer keys)."""
        return self.scrubber.values

    @property
    def writes(self) -> int:
        """Requests that may change the gateway (anything but GET/HEAD/OPTIONS)."""
        return sum(n for method, n in self.counts.items() if method not in ("GET", "HEAD", "OPTIONS"))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | str | None = None,
        files: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send with retries. Returns the response when its status is 2xx or listed in `ok`.

        Raises TemporaryError when retries are exhausted and PermanentError/ConflictError for other
        statuses, with a sanitized message that names the method, path, status and gateway message.
        """
        method = method.upper()
        started = time.monotonic()
        attempt = 0
        while True:
            await self.pacer.wait()
            gate = self.write_limit if method not in ("GET", "HEAD", "OPTIONS") else None
            if gate is not None:
                await gate.acquire()
            self.counts[method] += 1
            retry_after: float | None = None
            status: int | None = None
            try:
                response = await self._client.request(
                    method, path, json=json, params=params, content=content, files=files, data=data,
                    headers=headers,
                )
                status = response.status_code
            except httpx.ConnectError as exc:
                error: Exception = exc
                retryable = True
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.TimeoutException) as exc:
                error = exc
                retryable = method in IDEMPOTENT or isinstance(exc, httpx.ConnectTimeout)
            finally:
                if gate is not None:
                    await gate.release(status)
            if status is not None:
                if response.is_success or response.status_code in ok:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self._status_error(method, path, response)
                error = self._status_error(method, path, response)
                retryable = True
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            attempt += 1
            wait = self.retry.delay(attempt - 1, retry_after)
            elapsed = time.monotonic() - started
            limit = self.retry.read_attempts if method in ("GET", "HEAD") else self.retry.attempts
            if not retryable or attempt >= limit or elapsed + wait > self.retry.deadline:
                if isinstance(error, TemporaryError):
                    raise error
                detail = self.scrubber(f"{type(error).__name__}: {error}")
                raise TemporaryError(f"{method} {path}: {detail} (after {attempt} attempt(s))") from None
            await asyncio.sleep(wait)

    def _status_error(self, method: str, path: str, response: httpx.Response) -> Exception:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        message = self.scrubber(f"{method} {path} -> HTTP {response.status_code}: {_summarize(body)}")
        return error_for_status(response.status_code, message, body)

    async def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        response = await self.request("GET", path, params=params)
        return response.json() if response.content else None

    async def get_or_none(self, path: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """GET one JSON object; None when the gateway answers 404 (it is gone) or sends no object."""
        response = await self.request("GET", path, params=params, ok=(404,))
        if response.status_code == 404 or not response.content:
            return None
        body = response.json()
        return body if isinstance(body, dict) else None


def _summarize(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "errorMessage", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                extra = body.get("errors") or body.get("details") or body.get("fields")
                return value + (f" {str(extra)[:300]}" if extra else "")
        return str(body)[:400]
    return str(body)[:400]
