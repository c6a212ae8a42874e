"""Daemon logs on stderr: JSON lines for machines, short lines for people.

JSON (the default when stderr is not a terminal: containers, systemd) is one object per line, so
log shippers need no parsing rules; fields passed with `extra={...}` (commit, gateway, trigger,
duration, objects…) become top-level keys. The text format (a terminal, or `--log-format text`)
is `time level message`. Every message goes through `sanitize` with the daemon's own secrets, so a
token can never be logged even if a library puts it in an exception text.
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
                out[key] = self._value(value)
        if record.exc_info:
            out["exc"] = sanitize(self.formatException(record.exc_info), secrets=self.secrets)
        return json.dumps(out, separators=(",", ":"))

    def _value(self, value: Any) -> Any:
        if isinstance(value, int | float | bool | type(None)):
            return value
        if isinstance(value, list | tuple):
            return [self._value(v) for v in value]
        return sanitize(str(value), secrets=self.secrets)


class TextFormatter(logging.Formatter):
    """`12:00:01 INFO  reconciled stoa-dev (apply) in 0.2s: changed create API/pets` (local time)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        line = (f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname:<7} "
                f"{sanitize(record.getMessage(), secrets=self.secrets)}")
        if record.exc_info:
            line += "\n" + sanitize(self.formatException(record.exc_info), secrets=self.secrets)
        return line


def use_text(log_format: str, stream: Any = None) -> bool:
    """`auto`: text on a terminal, JSON otherwise."""
    if log_format != "auto":
        return log_format == "text"
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(level: str = "INFO", secrets: tuple[str, ...] = (), log_format: str = "auto") -> None:
    """Install the JSON or text handler on the root logger (idempotent: SIGHUP calls it again)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_reconciler_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter(secrets) if use_text(log_format) else JsonFormatter(secrets))
    handler._reconciler_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "apscheduler", "httpx", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
