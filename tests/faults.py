"""A fault-injecting reverse proxy for tests: a real HTTP hop between an adapter and a gateway emulator.

Not a mock: requests are forwarded over loopback to the emulator and its answers returned, with
faults chosen by a seeded random generator (503, 429 with Retry-After, a connection reset after the
request was forwarded) and delays per method/path, so races and interruptions happen for real.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Faults:
    seed: int = 0
    error_rate: float = 0.0
    """Share of requests answered 503 without forwarding."""
    throttle_rate: float = 0.0
    """Share answered 429 with Retry-After: 0 without forwarding."""
    reset_rate: float = 0.0
    """Share forwarded, then the connection dropped before the answer (the write happened)."""
    delays: list[tuple[str, str, float]] = field(default_factory=list)
    """(method, path regex, seconds) added before forwarding."""
    forwarded: Callable[[str, str], None] | None = None
    """Called with (method, path) once a request was forwarded and before its answer is returned: a
    test kills the client here (`kill -9` after the gateway did the write, the answer lost)."""


def _dropped() -> Response:
    """A connection cut mid-answer: the headers promise a body that never comes, then the stream dies
    (the client sees a protocol error, not an HTTP status; the request itself was forwarded)."""

    async def body() -> AsyncIterator[bytes]:
        yield b"{"
        raise ConnectionResetError("injected reset after forwarding")

    return StreamingResponse(body(), status_code=200, headers={"content-length": "4096"},
                             media_type="application/json")


class FaultProxy(Emulator):
    gateway_type = "fault-proxy"

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.injected: list[tuple[str, str, str]] = []
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> FaultProxy:
        super().__enter__()
        return self

    def stop(self) -> None:
        if self._client is not None and self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(timeout=10)
        self._client = self._loop = None
        super().stop()

    def _upstream(self) -> httpx.AsyncClient:
        """One pooled client per proxy, made on the server's loop: a client per request costs ~50 ms of
        CPU (its TLS context), more than the emulator's answer."""
        if self._client is None:
            self._client, self._loop = httpx.AsyncClient(timeout=30), asyncio.get_running_loop()
        return self._client

    def routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]

    async def _forward(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        for m, pattern, seconds in self.faults.delays:
            if m == method and re.fullmatch(pattern, path):
                await asyncio.sleep(seconds)
        roll = self.random.random()
        f = self.faults
        if roll < f.error_rate:
            self.injected.append(("503", method, path))
            return Response('{"message": "injected"}', status_code=503, media_type="application/json")
        if roll < f.error_rate + f.throttle_rate:
            self.injected.append(("429", method, path))
            return Response('{"message": "API rate limit exceeded"}', status_code=429,
                            headers={"Retry-After": "0"}, media_type="application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        answer = await self._upstream().request(method, self.upstream + path, params=request.query_params,
                                                headers=headers, content=await request.body())
        if f.forwarded is not None:
            f.forwarded(method, path)
        if roll < f.error_rate + f.throttle_rate + f.reset_rate:
            self.injected.append(("reset", method, path))
            return _dropped()
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS | {"content-encoding"}}
        return Response(answer.content, status_code=answer.status_code, headers=out)
