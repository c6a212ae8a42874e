"""Account-level control-plane quotas of API Gateway, and a pacer per operation shared by the process.

Why: AWS limits some control-plane actions per account and Region (not per client), e.g. CreateRestApi
1 request every 3 s, DeleteRestApi 1 every 30 s (Developer Guide, "Amazon API Gateway quotas",
"API Gateway quotas for creating, deploying and managing an API"). Two adapters on one account in
one process must share the budget, so pacers live in a module table keyed by (endpoint, access key,
operation). The pacer reserves a slot under a thread lock and sleeps outside it, so it works across
event loops and threads. A 429 seen on an operation pushes its next slot one interval out, so the
shared layer's retry waits out the bucket instead of hammering it.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx

#: operation -> (requests, per seconds), from the quota table cited above. CreateRestApi/ImportRestApi
#: are the Regional/private figures (edge-optimized APIs: 1 per 30 s; the adapter creates REGIONAL ones).
QUOTAS: dict[str, tuple[int, float]] = {
    "CreateApiKey": (5, 1.0),
    "CreateDeployment": (1, 5.0),
    "CreateDocumentationVersion": (1, 20.0),
    "CreateDomainName": (1, 30.0),
    "CreateResource": (5, 1.0),
    "CreateRestApi": (1, 3.0),
    "DeleteApiKey": (5, 1.0),
    "DeleteDomainName": (1, 30.0),
    "DeleteResource": (5, 1.0),
    "DeleteRestApi": (1, 30.0),
    "GetResources": (5, 2.0),
    "ImportDocumentationParts": (1, 30.0),
    "ImportRestApi": (1, 3.0),
    "PutRestApi": (1, 1.0),
    "UpdateAccount": (1, 20.0),
    "UpdateDomainName": (1, 30.0),
    "UpdateUsagePlan": (1, 20.0),
}

_SEG = r"[^/]+"
#: (method, path regex, operation): the request URIs of botocore's apigateway model for the quota'd actions.
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern.replace("{}", _SEG) + r"/?"), op) for method, pattern, op in (
        ("POST", "/apikeys", "CreateApiKey"),
        ("DELETE", "/apikeys/{}", "DeleteApiKey"),
        ("POST", "/restapis/{}/deployments", "CreateDeployment"),
        ("POST", "/restapis/{}/documentation/versions", "CreateDocumentationVersion"),
        ("PUT", "/restapis/{}/documentation/parts", "ImportDocumentationParts"),
        ("POST", "/domainnames", "CreateDomainName"),
        ("DELETE", "/domainnames/{}", "DeleteDomainName"),
        ("PATCH", "/domainnames/{}", "UpdateDomainName"),
        ("POST", "/restapis/{}/resources/{}", "CreateResource"),
        ("DELETE", "/restapis/{}/resources/{}", "DeleteResource"),
        ("GET", "/restapis/{}/resources", "GetResources"),
        ("POST", "/restapis", "CreateRestApi"),
        ("PUT", "/restapis/{}", "PutRestApi"),
        ("DELETE", "/restapis/{}", "DeleteRestApi"),
        ("PATCH", "/account", "UpdateAccount"),
        ("PATCH", "/usageplans/{}", "UpdateUsagePlan"),
    )
]


def operation_of(method: str, path: str, query: str = "") -> str | None:
    """The quota'd operation a request is, or None (only the account-wide total applies)."""
    for verb, pattern, op in _ROUTES:
        if verb == method.upper() and pattern.fullmatch(path):
            if op == "CreateRestApi" and re.search(r"(^|&)mode=import(&|$)", query):
                return "ImportRestApi"
            return op
    return None


#: Extra spacing over the documented interval: network jitter must not make two paced calls arrive closer.
MARGIN = 1.1


class OperationPacer:
    """Spaces one operation's requests `MARGIN * period / requests` apart (never bursts, so never overdraws)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Seconds to wait before sending; the slot is taken now."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            return start - now

    def throttled(self) -> None:
        """Someone else (another process, the console) spent the bucket: wait a whole interval."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + self.interval)


_PACERS: dict[tuple[str, str, float], OperationPacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(account: str, op: str, scale: float) -> OperationPacer:
    """The process-wide pacer of `op` for an account key (endpoint + access key id) and quota scale."""
    requests, period = QUOTAS[op]
    key = (account, op, scale)
    with _PACERS_LOCK:
        pacer = _PACERS.get(key)
        if pacer is None:
            pacer = _PACERS[key] = OperationPacer(MARGIN * period * scale / requests)
        return pacer


class QuotaTransport(httpx.AsyncBaseTransport):
    """Waits on the operation's shared pacer before each attempt (retries included) and notes 429s."""

    def __init__(self, inner: httpx.AsyncBaseTransport, account: str, scale: float) -> None:
        self.inner, self.account, self.scale = inner, account, scale
        self.pacers: dict[str, OperationPacer] = {}
        """The shared pacer of each operation this transport sent (tests read it)."""
        self.waited: dict[str, float] = {}
        """Seconds slept per operation (tests read it)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        op = operation_of(request.method, request.url.path, request.url.query.decode())
        pacer = pacer_for(self.account, op, self.scale) if op is not None else None
        if pacer is not None and op is not None:
            self.pacers[op] = pacer
            wait = pacer.reserve()
            if wait > 0:
                self.waited[op] = self.waited.get(op, 0.0) + wait
                await asyncio.sleep(wait)
        response = await self.inner.handle_async_request(request)
        if pacer is not None and response.status_code == 429:
            pacer.throttled()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
