"""Run a gateway emulator (an ASGI app) on 127.0.0.1, in a thread or in the foreground.

Every emulator subclasses `Emulator`: it builds a Starlette app from its routes, and the base class
records every request (method, path, query, JSON body) so tests can count writes. Emulators are
written from the vendor's contract in `../shared/specs`; they never import from `reconciler.adapters`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Recorder:
    """ASGI middleware that appends each request (with its body and response status) to a list."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], log: list[RecordedRequest],
                 lock: threading.Lock) -> None:
        self.app = app
        self.log = log
        self.lock = lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        record = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode(),
            body=body,
            headers={k.decode().lower(): v.decode() for k, v in scope.get("headers", [])},
        )
        with self.lock:
            self.log.append(record)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = int(message["status"])
            await send(message)

        await self.app(scope, replay, capture)


class Emulator:
    """Base class: subclasses implement `routes()` and keep their state in memory."""

    gateway_type = "emulator"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> Emulator:
        """Build an emulator that accepts these credentials (token / username / password).

        `reconciler demo` resolves a gateway manifest's credential references to generated values
        and starts the emulator with them, so the demo needs no configuration. Override it when the
        constructor takes other arguments.
        """
        return cls()

    def environment(self) -> dict[str, str]:
        """Environment variables a client of this emulator needs (none by default; moto names AWS's)."""
        return {}

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def asgi(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        return _Recorder(Starlette(routes=self.routes()), self.requests, self._lock)

    # ---------------------------------------------------------------- request log
    @property
    def writes(self) -> list[RecordedRequest]:
        """Recorded requests that may change state (not GET/HEAD/OPTIONS)."""
        with self._lock:
            return [r for r in self.requests if r.method not in READ_METHODS]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # ---------------------------------------------------------------- serving
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("emulator is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> Emulator:
        """Serve on 127.0.0.1 in a daemon thread; returns once the port accepts connections."""
        # IPPROTO_TCP explicitly: with protocol 0 asyncio does not set TCP_NODELAY, and every response
        # waits ~40 ms for the delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.asgi(), log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, name=f"emulator-{self.gateway_type}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.gateway_type} emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start() if self.port is None or self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self, port: int) -> None:
        """Foreground mode for `reconciler emulate TYPE --port N` (Ctrl-C stops it)."""
        uvicorn.run(self.asgi(), host="127.0.0.1", port=port, log_level="info", lifespan="off")
