"""A delaying reverse proxy on loopback: a remote admin API's round trip, added to a local emulator.

Every request waits `delay` seconds, then is forwarded to the upstream and its answer returned as is.
It is an `Emulator` only for the plumbing (a uvicorn thread, a free port, the request log), so the
benchmark counts requests here when the upstream keeps no log of its own (moto).
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class DelayProxy(Emulator):
    gateway_type = "delay-proxy"

    def __init__(self, upstream: str, delay: float) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self._client: httpx.AsyncClient | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._forward, methods=METHODS)]

    async def _forward(self, request: Request) -> Response:
        if self._client is None:  # made on the proxy's own event loop (the uvicorn thread)
            self._client = httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=200))
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS]
        query = request.url.query
        target = self.upstream + request.url.path + (f"?{query}" if query else "")
        answer = await self._client.request(request.method, target, headers=headers, content=await request.body())
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS | {"content-encoding"}}
        return Response(answer.content, status_code=answer.status_code, headers=out)
