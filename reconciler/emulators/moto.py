"""moto's API Gateway in server mode, behind the `Emulator` interface (AWS gateways).

moto is a real third-party emulator of AWS; this only starts it on a free loopback port, resets its
process-wide state and names the environment the AWS SDK credentials chain needs, and adds one rule moto
lacks (`install_tagging`, ledger aws.md row 16): TagResource / UntagResource / GetTags on REST API,
usage plan and API key ARNs, which AWS documents as taggable and moto serves only for stage ARNs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from starlette.routing import BaseRoute

from reconciler.emulators.server import Emulator

_TAGGED = re.compile(r"^/tags/arn:[^:/]+:apigateway:(?P<region>[^:/]+)::/(?P<kind>restapis|usageplans|apikeys)/(?P<id>[^/]+)$")
_TAG_ROUTE = ("{0}/tags/arn:(?P<partition>[^/]+):apigateway:(?P<region_name>[^/]+)::/"
              "(?P<collection>restapis|usageplans|apikeys)/(?P<resource_id>[^/]+)$")


def _tags_of_resource(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """GetTags (GET), TagResource (PUT, merges; 204) and UntagResource (DELETE `tagKeys`; 204) on the
    ARN of a RestApi, UsagePlan or ApiKey (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    apigateway-tagging-supported-resources.html; shapes: botocore's apigateway model)."""
    from moto.apigateway.models import apigateway_backends
    from moto.core.models import DEFAULT_ACCOUNT_ID

    parts = urlsplit(full_url)
    match = _TAGGED.match(unquote(parts.path))
    json_type = {"Content-Type": "application/json"}
    if match is None:
        return 404, json_type, json.dumps({"message": "Invalid resource ARN"})
    backend: Any = apigateway_backends[DEFAULT_ACCOUNT_ID][match["region"]]
    store: dict[str, Any] = {"restapis": backend.apis, "usageplans": backend.usage_plans,
                             "apikeys": backend.keys}[match["kind"]]
    resource: Any = store.get(match["id"])
    if resource is None:
        error = {**json_type, "x-amzn-ErrorType": "NotFoundException"}
        return 404, error, json.dumps({"message": f"Invalid resource identifier specified: {match['id']}"})
    method = str(getattr(request, "method", "GET")).upper()
    if method == "GET":
        return 200, json_type, json.dumps({"tags": dict(resource.tags or {})})
    if method == "PUT":
        body = getattr(request, "data", b"") or b"{}"
        tags = json.loads(body.decode() if isinstance(body, bytes) else body).get("tags") or {}
        resource.tags = {**dict(resource.tags or {}), **{str(k): str(v) for k, v in tags.items()}}
        return 204, {}, ""
    if method == "DELETE":
        keys = set(parse_qs(parts.query).get("tagKeys") or [])
        resource.tags = {k: v for k, v in dict(resource.tags or {}).items() if k not in keys}
        return 204, {}, ""
    return 405, json_type, json.dumps({"message": f"{method} is not supported on tags"})


def install_tagging() -> None:
    """Serve tags on REST API, usage plan and API key ARNs in every moto server started after this call
    (moto builds its routes when a server first sees the service). Idempotent."""
    from moto.apigateway import urls

    urls.url_paths.setdefault(_TAG_ROUTE, _tags_of_resource)


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
        install_tagging()
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
