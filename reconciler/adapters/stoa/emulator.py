"""Emulator of the STOA Rust gateway's admin API (`stoa-gateway/src/handlers/admin/`).

Written from the gateway's router and data types (no OpenAPI file exists), not from the adapter:

- Bearer auth on every `/admin/*` route, token compared in constant time. No token configured →
  503 "Admin API disabled - no admin_api_token configured"; a missing or wrong token → 401.
- `/admin/apis`: POST is an upsert keyed by `id` (201 created / 200 updated →
  `{id, status: "ok", deployment_id}`); the stored `ApiRoute` keeps only its own fields (serde drops
  unknown ones such as `api_id` or `openapi_spec`), fills defaults and forces `trusted_backend`.
  Validation: empty fields → 400 `{status: "error", errors: [...]}`; a loopback / private /
  link-local IP literal or `localhost` as backend host → 400 `{error, detail}` (SSRF guard).
- `/admin/policies`: same upsert; GET lists by API then priority.
- `/admin/consumer-credentials`: the only consumer state the gateway has: one credential per
  (route_id, consumer_id). Choices where the source is silent, kept deliberately strict:
  an unknown `route_id` → 404 `{status: "error", message: "Route not found"}` (catches a client that
  provisions consumers before their APIs); deleting an API leaves its policies and credentials in
  place (the stores are independent maps in the gateway, nothing cascades).
- Body decoding behaves like axum's `Json` extractor: malformed JSON → 400 text, a missing or
  mistyped required field → 422 text ("Failed to deserialize the JSON body ...").
- State is in memory only; `restart()` wipes it, as a real restart does. `inject_failure()` makes the
  next requests answer an error (429 with Retry-After, 502, ...) to exercise client retries.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.emulators.server import Emulator

VERSION = "0.9.0-emulator"

#: ApiRoute fields (src/routes/registry.rs): name -> (required, default, expected type).
_ROUTE_FIELDS: dict[str, tuple[bool, Any, type | tuple[type, ...]]] = {
    "id": (True, None, str),
    "name": (True, None, str),
    "tenant_id": (True, None, str),
    "path_prefix": (True, None, str),
    "backend_url": (True, None, str),
    "methods": (False, [], list),
    "spec_hash": (False, "", str),
    "activated": (False, True, bool),
    "classification": (False, None, (str, type(None))),
    "contract_key": (False, None, (str, type(None))),
    "upstream_http_version": (False, "auto", str),
    "upstreams": (False, [], list),
    "load_balancer": (False, "round_robin", str),
    "trusted_backend": (False, False, bool),
}
_POLICY_FIELDS: dict[str, tuple[bool, Any, type | tuple[type, ...]]] = {
    "id": (True, None, str),
    "name": (True, None, str),
    "policy_type": (True, None, str),
    "config": (False, None, (dict, list, str, int, float, bool, type(None))),
    "priority": (False, 0, int),
    "api_id": (True, None, str),
}
_CREDENTIAL_FIELDS: dict[str, tuple[bool, Any, type | tuple[type, ...]]] = {
    "route_id": (True, None, str),
    "consumer_id": (True, None, str),
    "auth_type": (True, None, str),
    "header_name": (True, None, str),
    "header_value": (True, None, str),
}
AUTH_TYPES = ("api_key", "bearer", "basic")
HTTP_VERSIONS = ("auto", "h1", "h2")


class _Rejection(Exception):
    """A request the gateway refuses before the handler runs (auth, body decoding)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: str | None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def _decode(raw: bytes, fields: dict[str, tuple[bool, Any, type | tuple[type, ...]]]) -> dict[str, Any]:
    """Deserialize like serde + axum Json: drop unknown fields, fill defaults, reject bad types."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise _Rejection(PlainTextResponse(
            f"Failed to parse the request body as JSON: {exc}", status_code=400)) from None
    if not isinstance(body, dict):
        raise _Rejection(PlainTextResponse(
            "Failed to deserialize the JSON body into the target type: expected a JSON object", status_code=422))
    out: dict[str, Any] = {}
    for name, (required, default, kind) in fields.items():
        if name not in body:
            if required:
                raise _Rejection(PlainTextResponse(
                    f"Failed to deserialize the JSON body into the target type: missing field `{name}`",
                    status_code=422))
            out[name] = json.loads(json.dumps(default))
            continue
        value = body[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _Rejection(PlainTextResponse(
                f"Failed to deserialize the JSON body into the target type: {name}: invalid type", status_code=422))
        out[name] = value
    return out


def ssrf_reason(url: str) -> str | None:
    """Why a backend URL is refused (loopback, private, link-local host or not a URL), else None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "backend_url is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "backend_url must be an absolute http(s) URL"
    if host == "localhost" or host.endswith(".localhost"):
        return f"backend host {host} resolves to loopback"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified:
        return f"backend address {host} is private, loopback or link-local"
    return None


class StoaEmulator(Emulator):
    """In-memory STOA gateway admin API; `restart()` loses everything, like the real one."""

    gateway_type = "stoa"

    def __init__(self, admin_token: str | None = "stoa-admin-token") -> None:
        super().__init__()
        self.admin_token = admin_token
        self._state_lock = threading.Lock()
        self.apis: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.credentials: dict[tuple[str, str], dict[str, Any]] = {}
        self.started_at = time.monotonic()
        self._faults: list[_Fault] = []

    @classmethod
    def from_credentials(cls, credentials: dict[str, str], options: dict[str, Any]) -> StoaEmulator:
        return cls(admin_token=credentials.get("token"))

    # ------------------------------------------------------------------ test controls
    def restart(self) -> None:
        """Simulate a gateway restart: every route, policy and credential is gone (the log stays)."""
        with self._state_lock:
            self.apis.clear()
            self.policies.clear()
            self.credentials.clear()
            self._faults.clear()
            self.started_at = time.monotonic()

    def inject_failure(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` authenticated requests with `status` (e.g. 429 + Retry-After)."""
        with self._state_lock:
            self._faults.append(_Fault(status, times, retry_after))

    # ------------------------------------------------------------------ plumbing
    def _authorize(self, request: Request) -> None:
        if not self.admin_token:
            raise _Rejection(_error(503, "Admin API disabled - no admin_api_token configured"))
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.admin_token.encode()):
            raise _Rejection(_error(401, "Unauthorized"))
        with self._state_lock:
            if self._faults:
                fault = self._faults[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.pop(0)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                message = "Admin API rate limit exceeded" if fault.status == 429 else "Injected failure"
                raise _Rejection(JSONResponse({"status": "error", "message": message},
                                              status_code=fault.status, headers=headers))

    def routes(self) -> list[BaseRoute]:
        def endpoint(handler: Any) -> Any:
            async def run(request: Request) -> Response:
                try:
                    self._authorize(request)
                    body = await request.body()
                    with self._state_lock:
                        result: Response = handler(request, body)
                    return result
                except _Rejection as rejection:
                    return rejection.response
            return run

        return [
            Route("/admin/health", endpoint(self._health), methods=["GET"]),
            Route("/admin/apis", endpoint(self._list_apis), methods=["GET"]),
            Route("/admin/apis", endpoint(self._upsert_api), methods=["POST"]),
            Route("/admin/apis/{id}", endpoint(self._get_api), methods=["GET"]),
            Route("/admin/apis/{id}", endpoint(self._delete_api), methods=["DELETE"]),
            Route("/admin/policies", endpoint(self._list_policies), methods=["GET"]),
            Route("/admin/policies", endpoint(self._upsert_policy), methods=["POST"]),
            Route("/admin/policies/{id}", endpoint(self._delete_policy), methods=["DELETE"]),
            Route("/admin/consumer-credentials", endpoint(self._list_credentials), methods=["GET"]),
            Route("/admin/consumer-credentials", endpoint(self._upsert_credential), methods=["POST"]),
            Route("/admin/consumer-credentials/{route_id}/{consumer_id}", endpoint(self._delete_credential),
                  methods=["DELETE"]),
        ]

    # ------------------------------------------------------------------ handlers (state lock held)
    def _health(self, request: Request, body: bytes) -> Response:
        return JSONResponse({
            "status": "ok",
            "version": VERSION,
            "routes_count": len(self.apis),
            "policies_count": len(self.policies),
            "contracts_count": 0,
            "skills_count": 0,
            "uptime_seconds": int(time.monotonic() - self.started_at),
            "git_provider": None,
        })

    def _list_apis(self, request: Request, body: bytes) -> Response:
        return JSONResponse([self.apis[k] for k in sorted(self.apis)])

    def _get_api(self, request: Request, body: bytes) -> Response:
        route = self.apis.get(request.path_params["id"])
        return JSONResponse(route) if route is not None else _error(404, "API not found")

    def _upsert_api(self, request: Request, body: bytes) -> Response:
        route = _decode(body, _ROUTE_FIELDS)
        errors = [f"{name} must not be empty" for name in ("id", "name", "tenant_id", "path_prefix", "backend_url")
                  if not route[name].strip()]
        if route["path_prefix"] and not route["path_prefix"].startswith("/"):
            errors.append("path_prefix must start with '/'")
        if not all(isinstance(m, str) for m in route["methods"]):
            errors.append("methods must be strings")
        if route["upstream_http_version"] not in HTTP_VERSIONS:
            errors.append("upstream_http_version must be one of auto, h1, h2")
        if errors:
            return JSONResponse({"status": "error", "errors": errors}, status_code=400)
        reason = ssrf_reason(route["backend_url"])
        if reason is not None:
            return JSONResponse({"error": "Invalid backend URL", "detail": reason}, status_code=400)
        route["trusted_backend"] = True  # forced on admin upsert: the admin is trusted
        created = route["id"] not in self.apis
        self.apis[route["id"]] = route
        return JSONResponse({"id": route["id"], "status": "ok", "deployment_id": str(uuid.uuid4())},
                            status_code=201 if created else 200)

    def _delete_api(self, request: Request, body: bytes) -> Response:
        # Policies and credentials of the route are kept: the gateway's stores do not cascade.
        if self.apis.pop(request.path_params["id"], None) is None:
            return _error(404, "API not found")
        return Response(status_code=204)

    def _list_policies(self, request: Request, body: bytes) -> Response:
        ordered = sorted(self.policies.values(), key=lambda p: (p["api_id"], p["priority"], p["id"]))
        return JSONResponse(ordered)

    def _upsert_policy(self, request: Request, body: bytes) -> Response:
        policy = _decode(body, _POLICY_FIELDS)
        errors = [f"{name} must not be empty" for name in ("id", "name", "policy_type", "api_id")
                  if not policy[name].strip()]
        if errors:
            return JSONResponse({"status": "error", "errors": errors}, status_code=400)
        created = policy["id"] not in self.policies
        self.policies[policy["id"]] = policy
        return JSONResponse({"id": policy["id"], "status": "ok"}, status_code=201 if created else 200)

    def _delete_policy(self, request: Request, body: bytes) -> Response:
        if self.policies.pop(request.path_params["id"], None) is None:
            return _error(404, "Policy not found")
        return Response(status_code=204)

    def _list_credentials(self, request: Request, body: bytes) -> Response:
        return JSONResponse([self.credentials[k] for k in sorted(self.credentials)])

    def _upsert_credential(self, request: Request, body: bytes) -> Response:
        credential = _decode(body, _CREDENTIAL_FIELDS)
        errors = [f"{name} must not be empty" for name in _CREDENTIAL_FIELDS if not credential[name].strip()]
        if credential["auth_type"] and credential["auth_type"] not in AUTH_TYPES:
            errors.append("auth_type must be one of api_key, bearer, basic")
        if errors:
            return JSONResponse({"status": "error", "errors": errors}, status_code=400)
        if credential["route_id"] not in self.apis:
            return _error(404, "Route not found")
        key = (credential["route_id"], credential["consumer_id"])
        created = key not in self.credentials
        self.credentials[key] = credential
        return JSONResponse({"route_id": key[0], "consumer_id": key[1], "status": "ok"},
                            status_code=201 if created else 200)

    def _delete_credential(self, request: Request, body: bytes) -> Response:
        key = (request.path_params["route_id"], request.path_params["consumer_id"])
        if self.credentials.pop(key, None) is None:
            return _error(404, "Credential not found")
        return Response(status_code=204)
