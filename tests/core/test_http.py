"""The shared HTTP layer: retries with backoff, Retry-After, bounded time, sanitized errors."""

from __future__ import annotations

import httpx
import pytest
import respx

from reconciler.adapters.http import GatewayHttp, RetryPolicy, parse_retry_after
from reconciler.model.errors import ConflictError, PermanentError, TemporaryError, sanitize


def client(**kw: object) -> GatewayHttp:
    return GatewayHttp("http://gw.test", retry=RetryPolicy(attempts=4, base=0.001, cap=0.01, deadline=2), **kw)  # type: ignore[arg-type]


@respx.mock
async def test_retries_429_and_503_then_succeeds() -> None:
    route = respx.get("http://gw.test/x").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(503), httpx.Response(200, json={"ok": 1})])
    http = client()
    assert (await http.get_json("/x")) == {"ok": 1}
    assert route.call_count == 3 and http.counts["GET"] == 3


@respx.mock
async def test_gives_up_after_attempts_with_a_temporary_error() -> None:
    respx.get("http://gw.test/x").mock(return_value=httpx.Response(502, json={"message": "bad gateway"}))
    with pytest.raises(TemporaryError, match="HTTP 502: bad gateway"):
        await client().get_json("/x")


@respx.mock
async def test_no_retry_on_400_and_409_is_a_conflict() -> None:
    bad = respx.post("http://gw.test/a").mock(return_value=httpx.Response(400, json={"message": "invalid"}))
    respx.post("http://gw.test/b").mock(return_value=httpx.Response(409, json={"message": "exists"}))
    with pytest.raises(PermanentError):
        await client().request("POST", "/a", json={})
    assert bad.call_count == 1
    with pytest.raises(ConflictError):
        await client().request("POST", "/b", json={})


@respx.mock
async def test_connection_errors_are_retried_and_reported() -> None:
    route = respx.get("http://gw.test/x").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TemporaryError, match="after 4 attempt"):
        await client().get_json("/x")
    assert route.call_count == 4


@respx.mock
async def test_read_errors_on_post_are_not_retried() -> None:
    route = respx.post("http://gw.test/x").mock(side_effect=httpx.ReadError("reset"))
    with pytest.raises(TemporaryError):
        await client().request("POST", "/x")
    assert route.call_count == 1


@respx.mock
async def test_errors_never_carry_secrets() -> None:
    respx.get("http://gw.test/x").mock(return_value=httpx.Response(401, json={"message": "bad token tok-SECRET-1"}))
    with pytest.raises(PermanentError) as info:
        await client(secrets=("tok-SECRET-1",)).get_json("/x")
    assert "tok-SECRET-1" not in str(info.value)


def test_retry_after_forms_and_sanitize() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert sanitize("https://u:p@h/x?token=abc&a=1") == "https://***@h/x?token=***&a=1"


async def test_reads_retry_longer_than_writes_by_default() -> None:
    """Under a flaky gateway a page answering 503 five times in a row still reads on the sixth try."""
    http = GatewayHttp("http://gw.test", retry=None)
    http.retry.base = http.retry.cap = 0.0
    with respx.mock(base_url="http://gw.test") as mock:
        route = mock.get("/page").mock(side_effect=[httpx.Response(503)] * 5 + [httpx.Response(200, json={"ok": 1})])
        assert (await http.get_json("/page")) == {"ok": 1} and route.call_count == 6
        post = mock.post("/write").mock(return_value=httpx.Response(503))
        with pytest.raises(TemporaryError):
            await http.request("POST", "/write")
        assert post.call_count == 5
    await http.aclose()


async def test_writes_in_flight_never_pass_the_limit_and_a_429_halves_it() -> None:
    import asyncio

    from reconciler.adapters.http import AdaptiveLimit

    limit = AdaptiveLimit(4)
    peak = 0

    async def write() -> None:
        nonlocal peak
        await limit.acquire()
        peak = max(peak, limit.in_flight)
        await asyncio.sleep(0.001)
        await limit.release(200)

    await asyncio.gather(*(write() for _ in range(20)))
    assert peak == 4 and limit.limit == 4
    await limit.acquire()
    await limit.release(429)
    assert limit.limit == 2
    for _ in range(2):  # as many successes as the limit raise it by one, never above the ceiling
        await limit.acquire()
        await limit.release(201)
    assert limit.limit == 3


@respx.mock
async def test_the_client_backs_off_its_writes_on_429_and_reads_are_not_gated() -> None:
    respx.put("http://gw.test/w").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={})])
    respx.get("http://gw.test/r").mock(return_value=httpx.Response(200, json={}))
    http = client(write_concurrency=8)
    await http.request("PUT", "/w", json={})
    assert http.write_limit is not None and http.write_limit.limit == 4 and http.write_limit.in_flight == 0
    await http.get_json("/r")
    assert http.write_limit.in_flight == 0 and http.counts["PUT"] == 2
