"""Notifications (Argo CD notifications, Flux alerts): a generic JSON webhook and Slack.

Three parts, so that each can be tested alone:

- `Alerts` turns reconcile results into events *on change of state* (pure): drift found once per
  drifted set of objects, healed once when it is gone, an apply failure once per distinct error, an
  invalid commit once per commit. A drift check every five minutes does not page every five minutes.
- `generic_payload` / `slack_payload` render one event (pure). Slack's is an incoming-webhook message
  (https://api.slack.com/messaging/webhooks): `text` is the fallback shown in notifications when
  `blocks` are given (https://api.slack.com/reference/block-kit/blocks), and `&`, `<`, `>` are
  escaped as Slack's formatting rules require (https://api.slack.com/reference/surfaces/formatting#escaping).
- `Notifier` delivers in the background: one queue and task per receiver, so a slow or dead receiver
  never blocks a reconcile nor the other receiver. 5xx, 429 and connection errors are retried with
  exponential backoff (bounded attempts; `Retry-After` honoured, capped: Slack sends it with 429,
  https://api.slack.com/docs/rate-limits); other 4xx are dropped at once.

The receiver URLs are secrets (a Slack webhook URL is a credential): they come from the
environment or a file, are never logged, and every text of a payload goes through the daemon's
`Scrubber` (the gateway errors in it were already scrubbed by the run's own scrubber).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx

from reconciler.model.scrub import Scrubber

log = logging.getLogger("reconciler.daemon.notify")

MAX_OBJECTS = 50
"""Objects listed in one payload (the count is always complete)."""
MAX_SLACK_LINES = 20
SLACK_SECTION_LIMIT = 3000
"""Characters of a section block's text (Block Kit reference)."""
QUEUE_SIZE = 200
MAX_RETRY_AFTER = 300.0


class Event(StrEnum):
    DRIFT_FOUND = "drift_found"
    DRIFT_HEALED = "drift_healed"
    APPLY_FAILED = "apply_failed"
    INVALID_COMMIT = "invalid_commit"
    SYNC_SUCCEEDED = "sync_succeeded"
    """Opt-in: an apply that changed something."""


DEFAULT_EVENTS = (Event.DRIFT_FOUND, Event.DRIFT_HEALED, Event.APPLY_FAILED, Event.INVALID_COMMIT)

_TITLES = {
    Event.DRIFT_FOUND: "Drift found", Event.DRIFT_HEALED: "Drift healed", Event.APPLY_FAILED: "Apply failed",
    Event.INVALID_COMMIT: "Invalid commit", Event.SYNC_SUCCEEDED: "Synced",
}
_EMOJI = {
    Event.DRIFT_FOUND: ":warning:", Event.DRIFT_HEALED: ":white_check_mark:", Event.APPLY_FAILED: ":x:",
    Event.INVALID_COMMIT: ":no_entry:", Event.SYNC_SUCCEEDED: ":arrows_counterclockwise:",
}


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    op: str = ""
    """What the plan would do (`update`, `create`, `delete`), or what failed."""


@dataclass(frozen=True)
class Notification:
    event: Event
    gateway: str | None
    """None for a source event (invalid commit)."""
    commit: str | None
    message: str
    objects: tuple[ObjectRef, ...] = ()
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


# ---------------------------------------------------------------------------------------- dedup
@dataclass
class _GatewayAlerts:
    drifted: frozenset[ObjectRef] | None = None
    """The drifted objects last alerted (None: in sync, or never alerted)."""
    failure: str | None = None
    """The error of the last apply-failed alert (None: the last reconcile succeeded)."""


class Alerts:
    """Reconcile results in, notifications out, only when a gateway's state changes (pure)."""

    def __init__(self) -> None:
        self._gateways: dict[str, _GatewayAlerts] = {}
        self._invalid: str | None = None

    def _of(self, gateway: str) -> _GatewayAlerts:
        return self._gateways.setdefault(gateway, _GatewayAlerts())

    def drift(self, gateway: str, commit: str, objects: Sequence[ObjectRef], *, healed: bool = False,
              note: str = "") -> list[Notification]:
        """A drift check (or any successful reconcile) saw `objects` differ from `commit`.

        `healed`: they were applied by this run (heal mode, an apply): the gateway is in sync now.
        """
        state = self._of(gateway)
        out: list[Notification] = []
        state.failure = None  # a successful reconcile: the next failure alerts again
        current = frozenset(objects)
        suffix = f" ({note})" if note else ""
        if current and not healed:
            if state.drifted != current:
                state.drifted = current
                out.append(Notification(Event.DRIFT_FOUND, gateway, commit,
                                        f"{len(current)} object(s) on {gateway} differ from {commit[:12]}{suffix}",
                                        _sorted(current)))
            return out
        if current and healed:  # heal mode: found and re-applied in one run
            state.drifted = None
            out.append(Notification(Event.DRIFT_HEALED, gateway, commit,
                                    f"{len(current)} drifted object(s) on {gateway} re-applied from "
                                    f"{commit[:12]}{suffix}", _sorted(current)))
            return out
        was = state.drifted
        if was is not None:
            state.drifted = None
            out.append(Notification(Event.DRIFT_HEALED, gateway, commit,
                                    f"{gateway} is in sync with {commit[:12]} again{suffix}", _sorted(was)))
        return out

    def failed(self, gateway: str, commit: str, error: str, objects: Sequence[ObjectRef]) -> list[Notification]:
        state = self._of(gateway)
        if state.failure == error:
            return []
        state.failure = error
        return [Notification(Event.APPLY_FAILED, gateway, commit, f"apply to {gateway} failed: {error}",
                             tuple(objects))]

    def invalid(self, commit: str, message: str, objects: Sequence[ObjectRef] = ()) -> list[Notification]:
        if self._invalid == commit:
            return []
        self._invalid = commit
        return [Notification(Event.INVALID_COMMIT, None, commit, message, tuple(objects))]

    def valid(self, commit: str) -> None:
        """A valid commit arrived: the next invalid one alerts again (even if it is a re-push)."""
        self._invalid = None

    def forget(self, gateway: str) -> None:
        self._gateways.pop(gateway, None)


def _sorted(objects: Iterable[ObjectRef]) -> tuple[ObjectRef, ...]:
    return tuple(sorted(objects, key=lambda o: (o.kind, o.name, o.op)))


# ---------------------------------------------------------------------------------------- payloads
def generic_payload(note: Notification, scrub: Scrubber, *, source: str = "stoa-reconciler") -> dict[str, Any]:
    """The JSON webhook body: flat, stable keys (`event`, `gateway`, `commit`, `objects`, `message`, `time`)."""
    return {
        "event": str(note.event),
        "gateway": note.gateway,
        "commit": note.commit,
        "objects": [{"kind": o.kind, "name": scrub(o.name), "op": o.op} for o in note.objects[:MAX_OBJECTS]],
        "object_count": len(note.objects),
        "message": scrub(note.message),
        "time": note.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "source": source,
    }


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(note: Notification, scrub: Scrubber) -> dict[str, Any]:
    """An incoming-webhook message: `text` (fallback and notification line) plus `blocks`."""
    title = _TITLES[note.event]
    where = f" on {note.gateway}" if note.gateway else ""
    message = slack_escape(scrub(note.message))
    text = f"{title}{where}: {message}"
    lines = [f"• `{slack_escape(o.kind)}/{slack_escape(scrub(o.name))}`" + (f" ({o.op})" if o.op else "")
             for o in note.objects[:MAX_SLACK_LINES]]
    if len(note.objects) > MAX_SLACK_LINES:
        lines.append(f"… and {len(note.objects) - MAX_SLACK_LINES} more")
    body = f"{_EMOJI[note.event]} *{title}*{slack_escape(where)}\n{message}"
    if lines:
        body += "\n" + "\n".join(lines)
    if len(body) > SLACK_SECTION_LIMIT:
        body = body[: SLACK_SECTION_LIMIT - 1] + "…"
    context = [f"commit `{note.commit[:12]}`" if note.commit else "no commit",
               note.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), "stoa-reconciler"]
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ],
    }


# ---------------------------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class Receiver:
    name: str
    """`webhook` or `slack`: what logs and metrics call it (never the URL)."""
    url: str
    render: str
    """`generic` | `slack`"""


@dataclass
class DeliveryStats:
    delivered: int = 0
    attempts: int = 0
    dropped: int = 0
    last_error: str | None = None


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        return None


class Notifier:
    """Background delivery of notifications to every configured receiver, with bounded retries."""

    def __init__(self, receivers: Sequence[Receiver], scrubber: Scrubber, *, events: Iterable[Event] = DEFAULT_EVENTS,
                 retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.receivers = tuple(receivers)
        self.scrubber = scrubber
        self.events = frozenset(events)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._client = client
        self._queues: dict[str, asyncio.Queue[Notification]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stats: dict[str, DeliveryStats] = {r.name: DeliveryStats() for r in self.receivers}

    @property
    def enabled(self) -> bool:
        return bool(self.receivers)

    def start(self) -> None:
        """Start one delivery task per receiver (in the running loop)."""
        if self._tasks or not self.receivers:
            return
        if self._client is None:
            # no redirects: a receiver that redirects does not get to send our payload elsewhere
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        for receiver in self.receivers:
            queue: asyncio.Queue[Notification] = asyncio.Queue(QUEUE_SIZE)
            self._queues[receiver.name] = queue
            task = asyncio.ensure_future(self._deliver_loop(receiver, queue))
            task.set_name(f"notify:{receiver.name}")
            self._tasks.append(task)

    def send(self, notes: Iterable[Notification]) -> None:
        """Queue notifications; never blocks (a full queue drops the oldest, with a warning)."""
        for note in notes:
            if note.event not in self.events:
                continue
            for receiver in self.receivers:
                queue = self._queues.get(receiver.name)
                if queue is None:
                    continue
                if queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                        queue.task_done()
                    self.stats[receiver.name].dropped += 1
                    log.warning("notification queue of %s is full; dropped the oldest", receiver.name,
                                extra={"receiver": receiver.name})
                queue.put_nowait(note)

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until every queued notification was delivered or given up; True if all were."""
        if not self._queues:
            return True
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(q.join() for q in self._queues.values()))
            return True
        except TimeoutError:
            return False

    async def close(self, timeout: float = 5.0) -> None:
        await self.drain(timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def payload(self, receiver: Receiver, note: Notification) -> dict[str, Any]:
        return slack_payload(note, self.scrubber) if receiver.render == "slack" else \
            generic_payload(note, self.scrubber)

    async def _deliver_loop(self, receiver: Receiver, queue: asyncio.Queue[Notification]) -> None:
        while True:
            note = await queue.get()
            try:
                await self.deliver(receiver, note)
            except Exception as exc:  # noqa: BLE001 - a delivery bug must not end the loop
                log.error("notification to %s failed: %s", receiver.name, type(exc).__name__,
                          extra={"receiver": receiver.name})
            finally:
                queue.task_done()

    def _delay(self, attempt: int, hint: float | None) -> float:
        base: float = min(self.max_backoff, self.backoff * (2 ** attempt))
        delay = base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not cryptography
        return max(delay, hint) if hint is not None else delay

    async def deliver(self, receiver: Receiver, note: Notification) -> bool:
        """POST one notification, retrying 5xx / 429 / connection errors; True when accepted."""
        assert self._client is not None
        stats = self.stats[receiver.name]
        body = self.payload(receiver, note)
        for attempt in range(self.retries + 1):
            stats.attempts += 1
            hint: float | None = None
            try:
                response = await self._client.post(receiver.url, json=body,
                                                    headers={"User-Agent": "stoa-reconciler"})
            except httpx.HTTPError as exc:
                # the exception text may carry the URL (a credential): only its type is kept
                error = type(exc).__name__
            else:
                if response.status_code < 300:
                    stats.delivered += 1
                    stats.last_error = None
                    log.debug("notification %s delivered to %s", note.event, receiver.name,
                              extra={"receiver": receiver.name, "event": str(note.event), "attempt": attempt + 1})
                    return True
                error = f"HTTP {response.status_code}"
                if not _retryable(response.status_code):
                    stats.dropped += 1
                    stats.last_error = error
                    log.error("notification %s refused by %s (%s); not retried", note.event, receiver.name, error,
                              extra={"receiver": receiver.name, "event": str(note.event)})
                    return False
                hint = _retry_after(response)
            stats.last_error = error
            if attempt == self.retries:
                break
            delay = self._delay(attempt, hint)
            log.info("notification %s to %s: %s; retrying in %.1fs", note.event, receiver.name, error, delay,
                     extra={"receiver": receiver.name, "event": str(note.event), "attempt": attempt + 1})
            await asyncio.sleep(delay)
        stats.dropped += 1
        log.error("notification %s to %s given up after %d attempt(s): %s", note.event, receiver.name,
                  self.retries + 1, stats.last_error, extra={"receiver": receiver.name, "event": str(note.event)})
        return False


def receivers_from(urls: Mapping[str, str | None]) -> list[Receiver]:
    """`{"webhook": url, "slack": url}` (unset ones skipped) -> receivers."""
    out = []
    for name, url in urls.items():
        if url:
            out.append(Receiver(name, url, "slack" if name == "slack" else "generic"))
    return out
