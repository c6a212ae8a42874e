"""One scrubber per run: every secret value of the run, removed from every message that leaves it.

The runner creates it, the adapters' credentials and the consumers' resolved keys are added to it,
and it is shared by the HTTP layer (error messages built from gateway answers), the adapters, the
executor and the log handlers. A gateway that echoes a key in an error body, a traceback that
carries a header, a warning from another gateway's adapter: none of them can print a secret of the
run, whichever component the secret belongs to.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from reconciler.model.errors import sanitize

MIN_LENGTH = 4
"""Shorter values are not scrubbed: replacing `abc` everywhere would garble messages, not protect."""


def encodings(value: str) -> set[str]:
    """A secret as it may appear in a message: raw, and escaped the ways a gateway's answer or our own
    message may carry it (a JSON string, a Python repr of a parsed body, a URL path or query)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
             quote(value, safe=""), quote_plus(value, safe="")}
    return {form for form in forms if len(form) >= MIN_LENGTH}


class Scrubber:
    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._ordered: tuple[str, ...] = ()
        self.add(*values)

    def add(self, *values: str | None) -> None:
        """Remember more secret values (thread-safe, idempotent)."""
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH}
        if new <= self._values:
            return
        with self._lock:
            self._values = self._values | new
            forms = {form for value in self._values for form in encodings(value)}
            # Longest first, so a secret that contains another is removed whole.
            self._ordered = tuple(sorted(forms, key=lambda v: (-len(v), v)))

    @property
    def values(self) -> tuple[str, ...]:
        return self._ordered

    def __call__(self, text: str) -> str:
        return sanitize(text, secrets=self._ordered)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)


class ScrubbingFilter(logging.Filter):
    """A log filter that renders each record's message and scrubs it (and its traceback text)."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrubber(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrubber(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install(scrubber: Scrubber) -> ScrubbingFilter:
    """Scrub every record that reaches the root logger's handlers (and the reconciler's own)."""
    flt = ScrubbingFilter(scrubber)
    loggers = [logging.getLogger(), logging.getLogger("reconciler")]
    for logger in loggers:
        for handler in logger.handlers:
            handler.addFilter(flt)
        logger.addFilter(flt)
    return flt


def uninstall(flt: ScrubbingFilter) -> None:
    for logger in (logging.getLogger(), logging.getLogger("reconciler")):
        for handler in logger.handlers:
            handler.removeFilter(flt)
        logger.removeFilter(flt)
