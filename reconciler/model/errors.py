"""Error taxonomy shared by every adapter, mapped from HTTP in one place.

    GatewayError                      any failure talking to a gateway
    ├── TemporaryError                timeouts, connection errors, 429, 502-504: retried, then reported
    ├── PermanentError                other 4xx / 5xx, invalid payloads: reported at once
    │   └── ConflictError             409, or an object we do not own in the way
    └── UnsupportedError              the gateway type cannot do this ("Not supported by <gateway>")

Adapters raise these inside their private helpers and turn them into `AdapterResult(success=False,
error=..., category=...)` at the public boundary: the contract methods never raise.
"""

from __future__ import annotations

import re

TEMPORARY = "temporary"
PERMANENT = "permanent"
CONFLICT = "conflict"
UNSUPPORTED = "unsupported"

_SECRET_QUERY = re.compile(r"([?&](?:token|key|apikey|api_key|password|secret|signature|X-Amz-[A-Za-z-]+)=)[^&\s\"']*",
                           re.IGNORECASE)
_URL_USERINFO = re.compile(r"(://)[^/@\s:]+:[^/@\s]+@")


def sanitize(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """Remove credentials from a message: URL user-info, secret-looking query values, known secrets."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    text = _SECRET_QUERY.sub(r"\1***", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class GatewayError(Exception):
    category = PERMANENT

    def __init__(self, message: str, *, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class TemporaryError(GatewayError):
    category = TEMPORARY


class PermanentError(GatewayError):
    category = PERMANENT


class ConflictError(PermanentError):
    category = CONFLICT


class UnsupportedError(GatewayError):
    category = UNSUPPORTED


def error_for_status(status: int, message: str, body: object = None) -> GatewayError:
    """Map an HTTP status to the taxonomy (kopf's check_response, in one place)."""
    if status in (408, 429, 502, 503, 504):
        return TemporaryError(message, status=status, body=body)
    if status == 409:
        return ConflictError(message, status=status, body=body)
    return PermanentError(message, status=status, body=body)
