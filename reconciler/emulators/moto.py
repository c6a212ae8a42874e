"""moto's API Gateway in server mode, behind the `Emulator` interface (AWS gateways).

moto is a real third-party emulator of AWS; this only starts it on a free loopback port, resets its
process-wide state and names the environment the AWS SDK credentials chain needs.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import httpx
from starlette.routing import BaseRoute

from reconciler.emulators.server import Emulator


class MotoServer(Emulator):
    gateway_type = "aws_apigateway"

    def __init__(self, region: str = "us-east-1") -> None:
        super().__init__()
        self.region = region
        self._moto: Any = None
        self._url: str | None = None

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> Emulator:
        return cls(region=str(options.get("region", "us-east-1")))

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region}

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError("moto serves its own WSGI application")

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("moto is not running")
        return self._url

    def start(self, port: int = 0) -> Emulator:
        from moto.server import ThreadedMotoServer

        for key, value in self.environment().items():
            os.environ.setdefault(key, value)
        # werkzeug logs one access line per request (coloured when it thinks it may): the other emulators
        # run uvicorn with access_log=False, and every request is in `writes`/the adapters' counts anyway.
        quiet = logging.getLogger("werkzeug")
        if quiet.level < logging.WARNING:
            quiet.setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._moto.start()
        host, bound = self._moto.get_host_and_port()
        self.port = int(bound)
        self._url = f"http://{host}:{bound}"
        # moto keeps its backends in module-level state shared by every server in this process:
        # start from an empty AWS account, whatever ran before in the same process.
        httpx.post(f"{self._url}/moto-api/reset", timeout=10).raise_for_status()
        return self

    def stop(self) -> None:
        if self._moto is not None:
            self._moto.stop()
        self._moto = None
        self._url = None

    def serve_forever(self, port: int) -> None:
        """Foreground mode for `reconciler emulate aws_apigateway --port N` (Ctrl-C stops it)."""
        self.start(port)
        logging.getLogger("werkzeug").setLevel(logging.INFO)  # in the foreground, the access log is the point
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
