"""What a gateway would refuse, or could not store exactly, found before any request.

A `Problem` names the object and the field; the runner turns it into a validation error with the
manifest's file and line, so `validate` and `plan` stop before a half-applied run (a 409 on the
third of ten APIs) or a silent loss (a backend URL the gateway keeps only part of).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    kind: str
    name: str
    field: str
    """Dotted path under the document, e.g. `spec.backend`."""
    message: str
    other: tuple[str, str] | None = None
    """(kind, name) of the other object of a conflict, named in the message with its place."""


def no_checks(records: object, options: object) -> list[Problem]:
    """For gateway types with nothing to refuse before a request (named in their table row)."""
    return []
