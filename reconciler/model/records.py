"""Canonical resource records: the one shape the engine diffs and every adapter speaks.

A record is a plain dict (the adapter contract returns `list[dict]`), always with these keys:

    {
        "kind":  "API" | "Policy" | "Consumer" | <extended kind>,
        "name":  "pets",                 # manifest name, ownership prefix stripped
        "id":    "<gateway-native id>" | None,   # None for a desired record not yet on the gateway
        "owner": "platform" | None,      # ownership marker read back from the gateway; None = unowned
        "spec":  {...},                  # canonical spec, see below
    }

Desired records handed to `sync_api` / `upsert_policy` / `provision_application` carry the same keys
(`id` is the live id when the object exists, so adapters update in place), plus, for consumers only,
`"secret": {"apiKey": "<value>"}`: the resolved credential, present only at apply time, never in a
plan, a log or an error message.

Canonical specs (what `list_*` must return after the adapter's own mapping):

- API: {"tenant", "version", "basePath", "backend", "methods": sorted list, "displayName"?,
  "description"?, "openapi": dict | None, "openapiHash": str | None}
- Policy: {"api": <API name>, "type": "rate_limit" | "cors",
  "config": {"requests": int, "period": "second|minute|hour|day"}  (rate_limit)
            {"origins", "methods", "headers", "exposeHeaders", "credentials", "maxAge"} (cors)}
- Consumer: {"displayName"?, "email"?, "subscriptions": sorted API names,
  "credential": {"type": "apiKey", "fingerprint": "sha256:<16 hex>"}}

The diff compares only the keys the desired spec declares, after the adapter's `desired_view`
(which drops what a gateway cannot store), so server-filled fields never show as drift.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict


class Record(TypedDict, total=False):
    kind: str
    name: str
    id: str | None
    owner: str | None
    spec: dict[str, Any]
    secret: dict[str, str]


def make_record(
    kind: str, name: str, spec: dict[str, Any], *, id: str | None = None, owner: str | None = None
) -> dict[str, Any]:
    """Build a canonical record; adapters use it in `list_*` so every record has every key."""
    return {"kind": kind, "name": name, "id": id, "owner": owner, "spec": spec}


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces): the input of every hash in the project."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(value: Any) -> str:
    """sha256 of the canonical JSON, prefixed, for spec hashes and plan fingerprints."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


def secret_fingerprint(value: str) -> str:
    """A short, salted digest of a secret: lets the diff see a changed key without holding it.

    Adapters whose gateway cannot return the key value store this fingerprint in a tag, label or
    attribute instead, and return it on read.
    """
    digest = hashlib.sha256(b"stoa-reconciler/credential\x00" + value.encode()).hexdigest()
    return "sha256:" + digest[:16]


def backend_url(value: Any) -> Any:
    """A live backend URL as the manifests spell it: pydantic's `AnyHttpUrl` gives a URL without a path
    the path `/` (`https://x.example.com` -> `https://x.example.com/`), so a gateway holding the bare
    form (an object made by hand) must read the same, or an adoption shows a change that is none."""
    if not isinstance(value, str) or "://" not in value:
        return value
    scheme, _, rest = value.partition("://")
    return value if "/" in rest or "?" in rest or "#" in rest else f"{scheme}://{rest}/"


def config_name(key: str) -> str:
    """The manifest name of a configuration key: kebab case (`errorProcessing` -> `error-processing`)."""
    key = key.replace("IPs", "Ips")  # a plural acronym stays one word: whiteListingIPs -> white-listing-ips
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", key).lower()


API_KEY = "apiKey"
"""The one consumer credential type, and the field of `secret` that carries its resolved value."""


def api_key_of(record: Mapping[str, Any]) -> str | None:
    """The consumer's resolved API key (present at apply time only), or None."""
    value = (record.get("secret") or {}).get(API_KEY)
    return None if value is None else str(value)


def api_key_credential(fingerprint: str | None) -> dict[str, Any]:
    """The canonical `credential` of a consumer: its type and the fingerprint of its key, never the key."""
    return {"type": API_KEY, "fingerprint": fingerprint}



UNKNOWN_SECRET = "(unknown: secret not available)"
"""The fingerprint of a secret the plan could not read (a PR job without production keys): the diff
shows it as unknown, "known after apply" in Terraform's words, and an apply refuses to run without it."""
