"""Notifications: dedup on change of state, the payloads, and delivery to a real local receiver."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import pytest

from reconciler.daemon.notify import (
    Alerts,
    Event,
    Notification,
    Notifier,
    ObjectRef,
    Receiver,
    generic_payload,
    slack_payload,
)
from reconciler.model.scrub import Scrubber
from tests.daemon.receiver import Receiver as LocalReceiver

COMMIT = "c0ffee" + "0" * 34
PETS = ObjectRef("API", "pets", "update")
ORDERS = ObjectRef("Policy", "orders-rate", "create")


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_drift_alerts_once_per_drifted_set_and_once_when_healed() -> None:
    alerts = Alerts()
    [found] = alerts.drift("kong", COMMIT, [PETS])
    assert found.event is Event.DRIFT_FOUND and found.objects == (PETS,) and "kong" in found.message
    assert alerts.drift("kong", COMMIT, [PETS]) == []  # the next check sees the same drift: no page
    [more] = alerts.drift("kong", COMMIT, [PETS, ORDERS])
    assert more.event is Event.DRIFT_FOUND and more.objects == (PETS, ORDERS)
    [healed] = alerts.drift("kong", COMMIT, [])
    assert healed.event is Event.DRIFT_HEALED and healed.objects == (PETS, ORDERS)
    assert alerts.drift("kong", COMMIT, []) == []  # in sync stays quiet
    assert alerts.drift("stoa", COMMIT, []) == []  # never drifted: nothing to heal
    [fixed] = alerts.drift("kong", COMMIT, [PETS], healed=True)  # heal mode: found and re-applied at once
    assert fixed.event is Event.DRIFT_HEALED


def test_apply_failures_alert_once_per_error_and_again_after_a_success() -> None:
    alerts = Alerts()
    assert [n.event for n in alerts.failed("kong", COMMIT, "HTTP 500 on API pets", [PETS])] == [Event.APPLY_FAILED]
    assert alerts.failed("kong", COMMIT, "HTTP 500 on API pets", [PETS]) == []
    assert len(alerts.failed("kong", COMMIT, "connection refused", [])) == 1  # a different error is news
    alerts.drift("kong", COMMIT, [])  # a successful reconcile
    assert len(alerts.failed("kong", COMMIT, "connection refused", [])) == 1
    assert len(alerts.invalid("b" * 40, "bad")) == 1 and alerts.invalid("b" * 40, "bad") == []
    alerts.valid(COMMIT)
    assert len(alerts.invalid("b" * 40, "bad")) == 1  # reverted, then pushed again: alert again


def test_payloads_are_scrubbed_and_slack_text_is_escaped() -> None:
    scrub = Scrubber(["tok-SECRET-123"])
    note = Notification(Event.APPLY_FAILED, "kong", COMMIT, "apply failed: 401 for token tok-SECRET-123 <a&b>",
                        (PETS,), datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    generic = generic_payload(note, scrub)
    assert generic == {"event": "apply_failed", "gateway": "kong", "commit": COMMIT,
                       "objects": [{"kind": "API", "name": "pets", "op": "update"}], "object_count": 1,
                       "message": "apply failed: 401 for token *** <a&b>", "time": "2024-05-01T12:00:00Z",
                       "source": "stoa-reconciler"}
    slack = slack_payload(note, scrub)
    assert slack["text"] == "Apply failed on kong: apply failed: 401 for token *** &lt;a&amp;b&gt;"
    section, context = slack["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*Apply failed* on kong" in section["text"]["text"] and "• `API/pets` (update)" in section["text"]["text"]
    assert context["type"] == "context" and "commit `c0ffee000000`" in context["elements"][0]["text"]
    assert "tok-SECRET-123" not in str(slack) and "tok-SECRET-123" not in str(generic)


async def test_delivery_retries_connection_errors_5xx_and_429_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.daemon.notify")
    script = ["drop", (503, {}), (429, {"Retry-After": "0"}), (200, {})]
    with LocalReceiver(script) as hook, LocalReceiver([(500, {}), (200, {})]) as slack:
        notifier = Notifier([Receiver("webhook", hook.url, "generic"), Receiver("slack", slack.url, "slack")],
                            Scrubber([hook.url, slack.url, "tok-SECRET-123"]), retries=4, backoff=0.02)
        notifier.start()
        notifier.send([Notification(Event.DRIFT_FOUND, "kong", COMMIT, "drift; token tok-SECRET-123", (PETS,))])
        assert await notifier.drain(10)
        await notifier.close()
    assert [r["answer"] for r in hook.requests] == script  # four attempts: three failures, then accepted
    assert len(slack.requests) == 2
    [body] = hook.accepted
    assert body["event"] == "drift_found" and body["objects"] == [{"kind": "API", "name": "pets", "op": "update"}]
    assert body["message"] == "drift; token ***"
    assert all(r["json"] == body for r in hook.requests)  # every attempt sends the same payload
    [message] = slack.accepted
    assert message["text"].startswith("Drift found on kong") and message["blocks"][0]["type"] == "section"
    assert notifier.stats["webhook"].delivered == 1 and notifier.stats["webhook"].attempts == 4
    everything = str(hook.requests) + str(slack.requests) + caplog.text
    assert "tok-SECRET-123" not in everything
    assert "s3cr3t-path-token" not in caplog.text  # the URLs are credentials: never logged
    assert "retrying" in caplog.text


async def test_4xx_is_not_retried_attempts_are_bounded_and_a_slow_receiver_never_blocks_send() -> None:
    with LocalReceiver([(404, {})]) as gone, LocalReceiver([(502, {})]) as down, \
            LocalReceiver([("slow", 1.0)]) as slow:
        notifier = Notifier([Receiver("webhook", gone.url, "generic"), Receiver("down", down.url, "generic"),
                             Receiver("slack", slow.url, "slack")], Scrubber(), retries=2, backoff=0.01)
        notifier.start()
        started = time.monotonic()
        notifier.send([Notification(Event.INVALID_COMMIT, None, COMMIT, "bad commit")] * 3)
        assert time.monotonic() - started < 0.1  # queued, not sent, by the caller
        await wait_for(lambda: len(down.requests) == 9)  # three notifications x (1 + 2 retries)
        assert await notifier.drain(15)
        await notifier.close()
    assert len(gone.requests) == 3  # one attempt each: a 404 will not get better
    assert notifier.stats["down"].dropped == 3 and notifier.stats["webhook"].dropped == 3
    assert len(slow.accepted) == 3


async def test_events_not_chosen_are_not_sent() -> None:
    with LocalReceiver() as hook:
        notifier = Notifier([Receiver("webhook", hook.url, "generic")], Scrubber(), events=[Event.APPLY_FAILED])
        notifier.start()
        notifier.send([Notification(Event.DRIFT_FOUND, "kong", COMMIT, "drift"),
                       Notification(Event.APPLY_FAILED, "kong", COMMIT, "failed")])
        assert await notifier.drain(10)
        await notifier.close()
    assert [b["event"] for b in hook.accepted] == ["apply_failed"]
