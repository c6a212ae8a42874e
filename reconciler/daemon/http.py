"""The daemon's HTTP endpoints (Starlette, served by uvicorn in the daemon's own event loop).

    GET  /health    public: `{"status": ok|degraded|failing}`, 503 when the daemon cannot do its job;
                    with the bearer token also the version, problems, source and per-gateway health
    GET  /livez     public: 200 while the event loop answers (liveness probe)
    GET  /metrics   public: Prometheus text
    POST /webhook   GitHub / GitLab push: rate-limited per source address, HMAC or token checked in
                    constant time, then a fetch (debounced: one per window however many deliveries)
    GET  /status    bearer token: last plan per gateway
    POST /sync      bearer token: force a fetch and a reconcile (`?wait=true` returns the results)
    POST /suspend   bearer token: pause applies, daemon-wide or `?gateway=NAME` (drift is still detected)
    POST /resume    bearer token: lift the pause (all, or `?gateway=NAME`) and reconcile

Without `RECONCILER_WEBHOOK_SECRET` the webhook answers 404, without `RECONCILER_API_TOKEN`
/status and /sync answer 404 and /health gives its status only: a feature that is not configured
is not exposed, and the repository location or a gateway's error text is not public.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.daemon.metrics import CONTENT_TYPE, Metrics
from reconciler.daemon.modes import Trigger
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.webhooks import MAX_BODY, Debouncer, RateLimiter, verify, wants_fetch


class DaemonControl(Protocol):
    """What the HTTP endpoints need from the daemon: a narrow view, so this module does not import it."""

    settings: DaemonSettings
    metrics: Metrics

    def health(self) -> tuple[int, dict[str, Any]]: ...

    def status_json(self) -> dict[str, Any]: ...

    def trigger_fetch(self, reason: Trigger) -> Any: ...

    async def sync(self, *, wait: bool, timeout: float = 120.0) -> dict[str, Any]: ...

    def suspend(self, gateway: str | None) -> dict[str, Any]: ...

    def resume(self, gateway: str | None) -> dict[str, Any]: ...

log = logging.getLogger("reconciler.daemon.http")


def _bearer_ok(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _token_ok(request: Request, daemon: DaemonControl) -> bool:
    token = daemon.settings.api_token
    return token is not None and _bearer_ok(request, token.get_secret_value())


def pause_endpoint(daemon: DaemonControl, action: str, guarded: Callable[[Request], Response | None]) -> Any:
    """`POST /suspend` or `/resume` (`?gateway=NAME`: one gateway; none: the whole daemon)."""
    async def endpoint(request: Request) -> Response:
        denied = guarded(request)
        if denied is not None:
            return denied
        gateway = request.query_params.get("gateway") or None
        try:
            body = daemon.suspend(gateway) if action == "suspend" else daemon.resume(gateway)
        except LookupError as exc:
            return JSONResponse({"error": str(exc).strip("'\"")}, status_code=404)
        return JSONResponse(body)
    return endpoint


def _webhook_handler(daemon: DaemonControl, debouncer: Debouncer,
                     limiter: RateLimiter) -> Callable[[Request], Awaitable[Response]]:
    """POST /webhook: rate limit per source, size cap, signature, then one debounced fetch."""

    async def webhook(request: Request) -> Response:
        secret = daemon.settings.webhook_secret
        if secret is None:
            return JSONResponse({"error": "webhook not configured"}, status_code=404)
        client = request.client.host if request.client else "unknown"
        wait = limiter.allow(client, daemon.settings.webhook_rate_limit)
        if wait > 0:
            daemon.metrics.webhooks.labels("unknown", "rate_limited").inc()
            return JSONResponse({"error": "too many deliveries from this address"}, status_code=429,
                                headers={"Retry-After": str(math.ceil(wait))})
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            daemon.metrics.webhooks.labels("unknown", "too_large").inc()
            return JSONResponse({"error": "payload too large"}, status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                daemon.metrics.webhooks.labels("unknown", "too_large").inc()
                return JSONResponse({"error": "payload too large"}, status_code=413)
        verdict = verify({k.lower(): v for k, v in request.headers.items()}, body, secret.get_secret_value())
        if not verdict.ok:
            daemon.metrics.webhooks.labels(verdict.provider, "rejected").inc()
            log.warning("webhook rejected: %s", verdict.reason, extra={"provider": verdict.provider, "client": client})
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if not wants_fetch(verdict):
            daemon.metrics.webhooks.labels(verdict.provider, "ignored").inc()
            return JSONResponse({"status": "ignored", "event": verdict.event})
        if debouncer.submit(daemon.settings.webhook_debounce):
            daemon.metrics.webhooks.labels(verdict.provider, "accepted").inc()
            return JSONResponse({"status": "fetch queued"}, status_code=202)
        daemon.metrics.webhooks.labels(verdict.provider, "coalesced").inc()
        return JSONResponse({"status": "coalesced: one fetch at the end of the window"}, status_code=202)

    return webhook


def build_app(daemon: DaemonControl) -> Starlette:
    debouncer = Debouncer(lambda: daemon.trigger_fetch(Trigger.WEBHOOK))
    limiter = RateLimiter()

    async def health(request: Request) -> Response:
        code, body = daemon.health()
        return JSONResponse(body if _token_ok(request, daemon) else {"status": body["status"]}, status_code=code)

    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def metrics(request: Request) -> Response:
        return Response(daemon.metrics.render(), media_type=CONTENT_TYPE)

    webhook = _webhook_handler(daemon, debouncer, limiter)

    def guarded(request: Request) -> Response | None:
        token = daemon.settings.api_token
        if token is None:
            return JSONResponse({"error": "set RECONCILER_API_TOKEN to enable this endpoint"}, status_code=404)
        if not _bearer_ok(request, token.get_secret_value()):
            return JSONResponse({"error": "unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="reconciler"'})
        return None

    async def status(request: Request) -> Response:
        return guarded(request) or JSONResponse(daemon.status_json())

    async def sync(request: Request) -> Response:
        denied = guarded(request)
        if denied is not None:
            return denied
        wait = request.query_params.get("wait", "").lower() in ("1", "true", "yes")
        try:
            result = await daemon.sync(wait=wait)
        except TimeoutError:
            return JSONResponse({"error": "sync did not finish in time; it continues in the background"},
                                status_code=504)
        except Exception as exc:  # noqa: BLE001 - WorkerClosed during shutdown
            return JSONResponse({"error": f"sync refused: {type(exc).__name__}"}, status_code=503)
        ok = all(g.get("ok") for g in result.get("gateways", [])) and not result.get("fetch_error") \
            and not result.get("invalid")
        return JSONResponse(result, status_code=202 if not wait else (200 if ok else 409))

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/webhook", webhook, methods=["POST"]),
        Route("/status", status, methods=["GET"]),
        Route("/sync", sync, methods=["POST"]),
        Route("/suspend", pause_endpoint(daemon, "suspend", guarded), methods=["POST"]),
        Route("/resume", pause_endpoint(daemon, "resume", guarded), methods=["POST"]),
    ])
