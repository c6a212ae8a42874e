"""A throttling reverse proxy in front of moto: API Gateway's account-level control-plane quotas.

moto does not throttle. This proxy keeps one token bucket per operation (capacity = the quota's
request count, refilled over its period) plus the account-wide total (10 requests per second, burst
40), all from the Developer Guide page "Amazon API Gateway quotas", section "API Gateway quotas for
creating, deploying and managing an API" (see `reconciler/emulators/fidelity/aws.md`). The operation
of a request is found from botocore's own apigateway model (method + requestUri), not from the
adapter's table. A request over a bucket gets AWS's throttle answer: 429, `x-amzn-ErrorType:
TooManyRequestsException`, body `{"message": "Too Many Requests"}`; it is not forwarded.
`scale` multiplies every period, so tests run fast.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import botocore.session
import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}

#: operation -> (requests, per seconds): the documented table (CreateRestApi/ImportRestApi: Regional/private).
QUOTAS: dict[str, tuple[int, float]] = {
    "CreateApiKey": (5, 1.0), "CreateDeployment": (1, 5.0), "CreateDocumentationVersion": (1, 20.0),
    "CreateDomainName": (1, 30.0), "CreateResource": (5, 1.0), "CreateRestApi": (1, 3.0),
    "DeleteApiKey": (5, 1.0), "DeleteDomainName": (1, 30.0), "DeleteResource": (5, 1.0),
    "DeleteRestApi": (1, 30.0), "GetResources": (5, 2.0), "ImportDocumentationParts": (1, 30.0),
    "ImportRestApi": (1, 3.0), "PutRestApi": (1, 1.0), "UpdateAccount": (1, 20.0),
    "UpdateDomainName": (1, 30.0), "UpdateUsagePlan": (1, 20.0),
}
#: "Total operations: 10 requests per second with a burst quota of 40 requests per second".
TOTAL = (10.0, 40)


def _routes() -> list[tuple[str, re.Pattern[str], str | None, str]]:
    """(method, path regex, required query, operation) for every operation of botocore's model."""
    model = botocore.session.get_session().get_service_model("apigateway")
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri, _, query = str(http["requestUri"]).partition("?")
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(uri)) + "/?")
        out.append((literal, str(http["method"]), pattern, query or None, name))
    out.sort(key=lambda r: (-(r[3] is not None), -r[0]))  # query-specific and longer literals first
    return [(method, pattern, query, name) for _, method, pattern, query, name in out]


_ROUTES = _routes()


def operation_of(method: str, path: str, query: str) -> str | None:
    for verb, pattern, required, name in _ROUTES:
        if verb == method and pattern.fullmatch(path) and (required is None or required in query.split("&")):
            return name
    return None


@dataclass
class Bucket:
    capacity: float
    rate: float
    """Tokens per second."""
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ThrottleProxy(Emulator):
    gateway_type = "aws-throttle-proxy"

    def __init__(self, upstream: str, *, scale: float = 1.0) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.scale = scale
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {
            op: Bucket(float(n), n / (period * scale)) for op, (n, period) in QUOTAS.items()}
        self._total = Bucket(float(TOTAL[1]), TOTAL[0] / scale)
        self.throttled: list[tuple[str, str, str]] = []
        """(operation, method, path) of every request answered 429."""
        self.forwarded: list[tuple[str | None, str, str]] = []

    def routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]

    def _admit(self, op: str | None) -> bool:
        with self._lock:
            now = time.monotonic()
            bucket = self._buckets.get(op or "")
            if bucket is not None and not bucket.take(now):
                return False
            return self._total.take(now)

    async def _forward(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        op = operation_of(method, path, request.url.query)
        if not self._admit(op):
            self.throttled.append((op or "?", method, path))
            return Response('{"message":"Too Many Requests"}', status_code=429, media_type="application/json",
                            headers={"x-amzn-ErrorType": "TooManyRequestsException"})
        self.forwarded.append((op, method, path))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(method, self.upstream + path, params=request.query_params,
                                          headers=headers, content=await request.body())
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS | {"content-encoding"}}
        return Response(answer.content, status_code=answer.status_code, headers=out)
