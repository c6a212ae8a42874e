"""Structured JSON logs: one object per line on stderr, so log shippers need no parsing rules.

Fields passed with `extra={...}` (commit, gateway, trigger, duration…) become top-level keys. Every
message goes through `sanitize` with the daemon's own secrets, so a token can never be logged even
if a library puts it in an exception text.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from reconciler.model.errors import sanitize

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Render a LogRecord as one JSON object (ts, level, logger, msg, extras, exc)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": sanitize(record.getMessage(), secrets=self.secrets),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | bool | type(None)) else \
                    sanitize(str(value), secrets=self.secrets)
        if record.exc_info:
            out["exc"] = sanitize(self.formatException(record.exc_info), secrets=self.secrets)
        return json.dumps(out, separators=(",", ":"))


def configure_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    """Install the JSON handler on the root logger (idempotent: SIGHUP calls it again)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_reconciler_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    handler._reconciler_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "apscheduler", "httpx", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
