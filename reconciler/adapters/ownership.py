"""How the reconciler marks what it owns on a gateway: one vocabulary, spelled per gateway's storage.

There is no state file: ownership is read back from the gateway. Gateways with key/value metadata
(AWS tags, Apigee labels and attributes) store `managed-by=stoa-reconciler` and `stoa-owner=<owner>`;
gateways with plain string tags (Kong tags, Gravitee labels) store the same pairs as
`managed-by:stoa-reconciler` and `stoa-owner:<owner>`. Every other marker is `stoa-<what>`. Changing
one of these strings orphans every object already on the gateways: they are part of the contract.
"""

from __future__ import annotations

MANAGED_BY = "managed-by"
"""Key of the marker that says the reconciler manages an object."""
MANAGED_VALUE = "stoa-reconciler"
OWNER = "stoa-owner"
"""Key of the owner (`settings.owner` of the repo that created the object)."""
PREFIX = "stoa-"
"""Every other marker key starts with it (`stoa-kind`, `stoa-name`, `stoa-tenant`, ...)."""


def key(what: str) -> str:
    """The marker key for one attribute: `key("tenant") == "stoa-tenant"`."""
    return PREFIX + what


def string_tag(name: str, value: str = "") -> str:
    """The string-tag spelling of a marker: `string_tag(OWNER, "platform") == "stoa-owner:platform"`."""
    return f"{name}:{value}"


MANAGED_TAG = string_tag(MANAGED_BY, MANAGED_VALUE)
"""`managed-by:stoa-reconciler`, for gateways whose tags are plain strings."""
OWNER_TAG_PREFIX = string_tag(OWNER)
"""`stoa-owner:`, followed by the owner, for gateways whose tags are plain strings."""
