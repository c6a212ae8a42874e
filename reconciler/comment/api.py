"""What the GitHub and GitLab comment clients share: the marker, one request with a bounded retry, errors.

Retries follow the platforms' rate-limit pages: a 429 (and GitHub's 403 that carries `retry-after` or
`x-ratelimit-remaining: 0`) waits what `Retry-After` / `x-ratelimit-reset` say, a 5xx backs off; at most
`MAX_ATTEMPTS` tries and never a wait above `MAX_WAIT` (a CI job fails with the wait named instead).
A POST (a new comment) is not retried after an answer that may mean it was written (500/502/504, a
connection lost mid-request): a duplicate comment is worse than a failed job.

- https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
- https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api
- https://docs.gitlab.com/api/rest/troubleshooting/#status-codes
- https://docs.gitlab.com/security/rate_limits/
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_ATTEMPTS = 4
MAX_WAIT = 60.0
"""The longest single wait: GitHub asks for "at least one minute" after a secondary limit without headers."""
MAX_PAGES = 200
"""20,000 comments at 100 a page: a thread longer than that is a loop, not a pull request."""
TIMEOUT = 30.0
MARKER = re.compile(r"<!-- stoa-reconciler plan(: .*)? -->")
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AMBIGUOUS = frozenset({500, 502, 504})


class CommentError(Exception):
    """A refusal or a failure, worded for the person reading the CI log; never carries the token."""


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    url: str | None = None


def first_line(body: str) -> str:
    return body.split("\n", 1)[0].rstrip("\r \t")


def marker_of(body: str) -> str:
    """The body's own marker: the comment to update is the one whose first line is the same."""
    line = first_line(body)
    if not MARKER.fullmatch(line):
        raise CommentError("the comment body does not start with a stoa-reconciler marker "
                           "(`<!-- stoa-reconciler plan: PATH -->`); write it with `reconciler plan --format markdown`")
    return line


def status_text(response: httpx.Response) -> str:
    """`403 Forbidden`: the status, then the body's words (GitLab's messages already start with the status)."""
    text, status = error_text(response), str(response.status_code)
    return text if text.startswith(status) else f"{status} {text}"


def error_text(response: httpx.Response) -> str:
    """The documented error body in one line: `message` (a string, or GitLab's field map) and GitHub's `errors`."""
    try:
        data: Any = response.json()
    except ValueError:
        return response.reason_phrase or "no error body"
    if not isinstance(data, Mapping):
        return str(data)[:500]
    message = data.get("message", data.get("error", ""))
    if isinstance(message, Mapping):
        message = "; ".join(f"{key} {' '.join(map(str, v)) if isinstance(v, list) else v}" for key, v in message.items())
    parts = [str(message)] if message else []
    for error in data.get("errors") or []:
        if isinstance(error, Mapping):
            parts.append(str(error.get("message") or " ".join(str(error.get(k, "")) for k in ("field", "code")).strip()))
        else:
            parts.append(str(error))
    return ": ".join(p for p in parts if p)[:1000] or response.reason_phrase


class Api:
    """One platform's HTTP client: auth headers set once, retries bounded, every message scrubbed of the token."""

    def __init__(self, platform: str, base_url: str, headers: Mapping[str, str], token: str, *,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._sleep = sleep
        self._client = httpx.Client(headers=dict(headers), timeout=TIMEOUT, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self._client.close()

    def scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def same_origin(self, url: str) -> bool:
        """A pagination link elsewhere would get the token: follow only links to the API's own origin."""
        mine, other = urlsplit(self.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (other.scheme, other.netloc)

    def request(self, method: str, url: str, *, json: Any = None,
                params: Mapping[str, str | int] | None = None) -> httpx.Response:
        target = url if url.startswith(("http://", "https://")) else self.base_url + url
        idempotent = method != "POST"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._client.request(method, target, json=json, params=params)
            except httpx.HTTPError as exc:
                if attempt == MAX_ATTEMPTS or not (idempotent or isinstance(exc, _UNSENT)):
                    raise CommentError(self.scrub(f"{self.platform}: {method} {urlsplit(target).path}: "
                                                  f"{type(exc).__name__}: {exc}")) from None
                wait = float(2 ** (attempt - 1))
            else:
                found = self._wait_for(response, attempt)
                if found is None or attempt == MAX_ATTEMPTS or (not idempotent and response.status_code in _AMBIGUOUS):
                    return response
                wait = found
            if wait > MAX_WAIT:
                raise CommentError(f"{self.platform}: rate limited; retry after {wait:.0f} s "
                                   f"(more than the {MAX_WAIT:.0f} s this command waits)")
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_for(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None: this answer is final."""
        status, headers = response.status_code, response.headers
        limited = status == 429 or (status == 403 and ("retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"))
        if not limited and status < 500:
            return None
        if "retry-after" in headers:
            return _retry_after(headers["retry-after"])
        if limited and headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
            except ValueError:
                pass
        return MAX_WAIT if limited else float(2 ** (attempt - 1))


def _retry_after(value: str) -> float:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return MAX_WAIT
