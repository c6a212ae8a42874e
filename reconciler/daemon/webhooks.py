"""Push webhooks from GitHub (`X-Hub-Signature-256`) and GitLab (`X-Gitlab-Token`), checked in constant time.

A verified delivery only *triggers a fetch*: the payload is never trusted for content (a forged or
replayed body can at worst cause one extra fetch of what the remote really holds). Pure functions:
the HTTP layer passes headers and the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

MAX_BODY = 1024 * 1024
"""Bigger deliveries are refused before the signature is computed."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    provider: str
    """github | gitlab | unknown"""
    reason: str = ""
    event: str = ""


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` (also used by tests and benchmarks)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Verdict:
    """Check a delivery against the shared secret. Header names must be lower-case."""
    if "x-hub-signature-256" in headers:
        expected = github_signature(secret, body)
        given = headers["x-hub-signature-256"].strip()
        ok = hmac.compare_digest(expected.encode(), given.encode())
        return Verdict(ok, "github", "" if ok else "bad signature", headers.get("x-github-event", ""))
    if "x-gitlab-token" in headers:
        ok = hmac.compare_digest(secret.encode(), headers["x-gitlab-token"].encode())
        return Verdict(ok, "gitlab", "" if ok else "bad token", headers.get("x-gitlab-event", ""))
    return Verdict(False, "unknown", "no X-Hub-Signature-256 or X-Gitlab-Token header")


def wants_fetch(verdict: Verdict) -> bool:
    """Pings and other non-push events are acknowledged without a fetch."""
    return verdict.ok and verdict.event.lower() not in ("ping", "system hook")
