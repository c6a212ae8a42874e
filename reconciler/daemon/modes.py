"""The daemon's closed vocabularies: why a worker runs, how a gateway is reconciled, why it failed.

`StrEnum`s, so a member *is* its string: `/status` JSON, log fields and Prometheus labels keep the
exact values they had as plain strings, while a typo in the code becomes a type error. A leaf
module (imports nothing of the daemon), so every layer of the daemon can use it.
"""

from __future__ import annotations

from enum import StrEnum


class Trigger(StrEnum):
    """Why a worker was asked to run (several coalesce into one run)."""

    START = "start"
    """The daemon started."""
    POLL = "poll"
    """The Git poll timer."""
    RESCAN = "rescan"
    """The local directory's rescan timer."""
    WATCH = "watch"
    """File events in the local directory."""
    WEBHOOK = "webhook"
    """A verified push webhook."""
    SYNC = "sync"
    """`POST /sync`: fetch and reconcile every gateway, even on an unchanged commit."""
    RELOAD = "reload"
    """SIGHUP reloaded the settings."""
    COMMIT = "commit"
    """The source worker found a new valid commit (gateway workers)."""
    DRIFT = "drift"
    """The drift timer, or a gateway back from down (gateway workers)."""


class Mode(StrEnum):
    """How one gateway reconcile runs (the `mode` of `/status`, logs and metrics)."""

    APPLY = "apply"
    """A new commit or a forced sync: plan and apply."""
    RETRY = "retry"
    """The current commit was never applied here (gateway down, failed item): apply, not drift."""
    DETECT = "detect"
    """Drift check that only plans and reports."""
    HEAL = "heal"
    """Drift check that applies what differs."""
    RESYNC = "resync"
    """A detect run found the gateway empty of our objects (restarted): apply everything again."""
    SKIP = "skip"
    """No valid revision yet: nothing to reconcile to."""


class Failure(StrEnum):
    """Why a gateway reconcile failed (the `reason` label of the failures counter)."""

    READ = "read"
    """The gateway could not be configured or read."""
    PLAN = "plan"
    """The plan was refused (e.g. the maxDeletes guard)."""
    APPLY = "apply"
    """Some changes failed to apply."""
    VALIDATION = "validation"
    """The commit is invalid for this run (unknown gateway, missing secret)."""
    ERROR = "error"
    """An unexpected exception."""
    LOCK = "lock"
    """Coordination refused the apply: the gateway's lock stayed taken, or this member lost its lease."""
