"""A notification receiver for tests: an HTTP server on 127.0.0.1 that answers from a script.

Each request takes the next scripted answer (the last one repeats): `"drop"` closes the connection
without answering (a connection error for the client), `(status, headers)` answers with it, and
`("slow", seconds)` waits before answering 200.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = str | tuple[int, dict[str, str]] | tuple[str, float]


class Receiver:
    def __init__(self, script: list[Answer] | None = None) -> None:
        self.script: list[Answer] = list(script or [(200, {})])
        self.requests: list[dict[str, Any]] = []
        """Every request: path, headers, raw body, parsed JSON, answer given."""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    answer = receiver.script[min(len(receiver.requests), len(receiver.script) - 1)]
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw,
                                              "json": json.loads(raw or b"null"), "answer": answer})
                if answer == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                assert isinstance(answer, tuple)
                if answer[0] == "slow":
                    time.sleep(float(answer[1]))
                    status, headers = 200, {}
                else:
                    status, headers = int(answer[0]), dict(answer[1])  # type: ignore[arg-type]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/s3cr3t-path-token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The JSON bodies answered with 2xx."""
        return [r["json"] for r in self.requests
                if isinstance(r["answer"], tuple) and (r["answer"][0] == "slow" or int(r["answer"][0]) < 300)]
