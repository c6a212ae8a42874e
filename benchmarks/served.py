"""An emulator (and its delaying proxy) served from a child process, as a remote gateway would be.

In the benchmark's own process the emulator's and the proxy's HTTP stacks share one interpreter
lock with the client: each request then costs the client the server's CPU too, four HTTP stacks per
request with a proxy, and the figures measure the harness rather than the reconciler. Here the
client's process runs only the reconciler; the child answers over a pipe for its URL, environment
and request counts (by method, counted at the proxy when there is one, or when the emulator keeps
no log of its own, as moto).
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any


def _serve(conn: Connection, gateway_type: str, credentials: dict[str, str], options: dict[str, str],
           delay: float, proxied: bool) -> None:
    from benchmarks.latency_proxy import DelayProxy
    from reconciler.emulators import emulator_class

    try:
        emulator = emulator_class(gateway_type).from_credentials(credentials, options).start()
    except ImportError as exc:
        conn.send(("skipped", f"its emulator needs {(exc.name or 'an extra package').split('.')[0]}"))
        return
    proxy = DelayProxy(emulator.url, delay).start() if proxied else None
    counter = proxy or emulator
    conn.send(("ready", (proxy or emulator).url, emulator.environment()))
    try:
        while True:
            command = conn.recv()
            if command == "clear":
                counter.clear_log()
                conn.send(None)
            elif command == "counts":
                with counter._lock:
                    conn.send(Counter(r.method for r in counter.requests))
            else:
                break
    finally:
        if proxy is not None:
            proxy.stop()
        emulator.stop()


class Served:
    """`with Served(...) as served:` the gateway's URL, its environment, `clear()` and `counts()`."""

    def __init__(self, gateway_type: str, credentials: dict[str, str], options: dict[str, str], *,
                 delay: float = 0.0, proxied: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, gateway_type, credentials, options, delay,
                                                               proxied or delay > 0), daemon=True)
        self.url = ""
        self.environment: dict[str, str] = {}
        self.skipped: str | None = None

    def __enter__(self) -> Served:
        self._process.start()
        answer: tuple[Any, ...] = self._conn.recv()
        if answer[0] == "skipped":
            self.skipped = str(answer[1])
        else:
            _, self.url, self.environment = answer
        return self

    def __exit__(self, *exc: object) -> None:
        if self.skipped is None:
            self._conn.send("stop")
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()

    def clear(self) -> None:
        self._conn.send("clear")
        self._conn.recv()

    def counts(self) -> Counter[str]:
        self._conn.send("counts")
        counts: Counter[str] = self._conn.recv()
        return counts
