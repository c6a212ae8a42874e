"""One scrubber per run: whatever component a secret belongs to, no message of the run carries it."""

from __future__ import annotations

import logging

import pytest
import respx

from reconciler.adapters.http import GatewayHttp, RetryPolicy
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import Change, Op, Status
from reconciler.model.errors import GatewayError
from reconciler.model.records import make_record
from reconciler.model.scrub import Scrubber, install, uninstall
from tests.core.memory_adapter import MemoryAdapter

KEY = "consumer-key-0123456789"


def test_scrubber_removes_every_known_value_longest_first() -> None:
    scrub = Scrubber(["abc", "token-1234"])
    scrub.add("token-1234-extended", None)
    assert "abc" not in scrub  # too short to scrub without garbling messages
    assert scrub("a token-1234-extended and token-1234") == "a *** and ***"
    assert len(scrub) == 2


async def test_the_http_layer_scrubs_a_secret_learned_after_it_was_built() -> None:
    scrub = Scrubber(["admin-token-abcdef"])
    http = GatewayHttp("http://gw.test", secrets=scrub, retry=RetryPolicy(attempts=1))
    scrub.add(KEY)  # the executor adds consumer keys when the apply starts
    with respx.mock(base_url="http://gw.test") as mock:
        mock.post("/apps").respond(409, json={"message": f"key {KEY} already exists (admin-token-abcdef)"})
        with pytest.raises(GatewayError) as info:
            await http.request("POST", "/apps", json={})
    await http.aclose()
    assert KEY not in info.value.message and "admin-token-abcdef" not in info.value.message
    assert "already exists" in info.value.message


def test_the_log_filter_scrubs_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    scrub = Scrubber([KEY])
    flt = install(scrub)
    try:
        with caplog.at_level(logging.WARNING):
            log = logging.getLogger("reconciler.adapters")
            log.warning("gateway echoed %s", KEY)
            try:
                raise RuntimeError(f"boom {KEY}")
            except RuntimeError:
                log.exception("failed")
    finally:
        uninstall(flt)
    assert KEY not in caplog.text and "gateway echoed ***" in caplog.text and "boom ***" in caplog.text


class EchoingAdapter(MemoryAdapter):
    """A gateway that echoes the consumer's key, and another gateway's token, in its error."""

    async def provision_application(self, app_spec: dict, auth_token: str | None = None):  # type: ignore[no-untyped-def, override]
        key = (app_spec.get("secret") or {}).get("apiKey")
        return self.failure(GatewayError(f"duplicate key {key}; other gateway token other-gw-token-xyz"))


async def test_results_never_carry_a_key_or_another_gateways_credential() -> None:
    run = Scrubber()
    other = MemoryAdapter({"name": "other", "auth": {"token": "other-gw-token-xyz"}, "scrubber": run})
    adapter = EchoingAdapter({"name": "gw", "scrubber": run})
    assert other.scrubber is adapter.scrubber
    record = make_record("Consumer", "mobile", {"subscriptions": [], "credential": {"type": "apiKey"}})
    change = Change("gw", Op.CREATE, "Consumer", "mobile", desired=record)
    report = await apply_gateway(adapter, [change], secrets={("Consumer", "mobile"): {"apiKey": KEY}})
    [item] = report.results
    assert item.status is Status.FAILED
    assert KEY not in (item.error or "") and "other-gw-token-xyz" not in (item.error or "")
    assert "duplicate key ***" in (item.error or "")


def test_escaped_forms_of_a_secret_are_scrubbed_too() -> None:
    """A key with quotes or backslashes reaches messages escaped: inside a JSON body, a repr of a parsed
    body (`{'key': '...'}`) or a URL; each form is removed, not only the raw one."""
    import json
    from urllib.parse import quote

    key = 'k3y\\with"quote/slash+plus&amp é'
    scrub = Scrubber([key])
    for text in (json.dumps({"key": key}), repr({"key": key}), f"GET /key-auths/{quote(key, safe='')}",
                 json.dumps({"key": key}, ensure_ascii=False)):
        cleaned = scrub(text)
        assert "***" in cleaned and "k3y" not in cleaned, (text, cleaned)
    assert len(scrub) == 1 and key in scrub
