"""The Kong adapter against the Kong emulator over HTTP, in DB-less and database mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import yaml

from reconciler.adapters.kong.adapter import KongAdapter
from reconciler.emulators.kong import KongEmulator
from reconciler.model.changes import Op, Status
from tests.kong.kong_helpers import API, KEY, OWNER, desired, make_adapter, reconcile, restamp_free

TOKEN = "kong-e2e-admin-token"
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
PKEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
PUBLIC_PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"
UNOWNED: dict[str, Any] = {
    "_format_version": "3.0",
    "upstreams": [{"name": "legacy-upstream", "algorithm": "least-connections", "tags": ["team-a"],
                   "targets": [{"target": "10.0.0.1:8080", "weight": 50}]}],
    "certificates": [{"id": "0a5a3bd2-8a8f-4c37-9a6c-3c2c1b7f0e11", "cert": CERT, "key": PKEY,
                      "snis": [{"name": "legacy.example.com"}]}],
    "services": [{"name": "legacy", "url": "http://legacy.internal:8080/api", "retries": 9,
                  "plugins": [{"name": "request-termination", "config": {"status_code": 503}}],
                  "routes": [{"name": "legacy-route", "paths": ["/legacy"], "hosts": ["legacy.example.com"]}]}],
    "routes": [{"name": "serviceless", "paths": ["/x"], "protocols": ["http"]}],
    "plugins": [{"name": "prometheus", "config": {"per_consumer": True}, "tags": ["global"]}],
    "consumers": [{"username": "ops", "basicauth_credentials": [{"username": "ops", "password": "pw-ops"}],
                   "jwt_secrets": [{"key": "ops-jwt", "secret": "jwt-secret", "algorithm": "HS256"}]}],
    # tables the reconciler never manages: a vault, a key set with a PEM key, a JWK key outside any set
    "vaults": [{"name": "env", "prefix": "ops-env", "description": "team A secrets", "config": {"prefix": "OPS_"},
                "tags": ["team-a"]}],
    "key_sets": [{"name": "ops-jwks", "tags": ["team-a"],
                  "keys": [{"name": "ops-signing", "kid": "ops-signing", "pem": {"public_key": PUBLIC_PEM}}]}],
    "keys": [{"name": "ops-jwk", "kid": "ops-jwk", "jwk": '{"kid":"ops-jwk","kty":"oct","k":"c2VjcmV0"}'}],
}
SNAPSHOT_PATHS = ("/vaults/ops-env", "/key-sets/ops-jwks", "/keys/ops-signing", "/keys/ops-jwk",
                  "/upstreams/legacy-upstream", "/upstreams/legacy-upstream/targets",
                  "/certificates/0a5a3bd2-8a8f-4c37-9a6c-3c2c1b7f0e11", "/snis/legacy.example.com",
                  "/services/legacy", "/services/legacy/plugins", "/routes/legacy-route", "/routes/serviceless",
                  "/plugins?tags=global", "/consumers/ops", "/consumers/ops/basic-auth", "/consumers/ops/jwt")


@pytest.fixture(params=["dbless", "postgres"])
def emulator(request: pytest.FixtureRequest) -> Iterator[KongEmulator]:
    with KongEmulator(mode=request.param, admin_token=TOKEN) as emu:
        emu.load_config(UNOWNED)
        yield emu


@pytest.fixture
async def adapter(emulator: KongEmulator) -> AsyncIterator[KongAdapter]:
    async with make_adapter(emulator.url, TOKEN) as a:
        assert isinstance(a, KongAdapter)
        yield a


def admin(emulator: KongEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.url, headers={"Kong-Admin-Token": TOKEN}, timeout=5)


def snapshot(emulator: KongEmulator) -> dict[str, bytes]:
    with admin(emulator) as c:
        return {p: restamp_free(emulator.mode, c.get(p).content) for p in SNAPSHOT_PATHS}


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records}


async def test_apply_reads_back_equal_and_second_apply_writes_nothing(adapter: KongAdapter,
                                                                      emulator: KongEmulator) -> None:
    changes, report = await reconcile(adapter, desired())
    assert not report.failed, report.results
    assert {(c.kind, c.name, c.op) for c in changes} == {
        ("API", "pets", Op.CREATE), ("API", "orders", Op.CREATE), ("Policy", "pets-rate", Op.CREATE),
        ("Policy", "pets-cors", Op.CREATE), ("Consumer", "mobile", Op.CREATE)}
    if emulator.mode == "dbless":
        assert [(w.method, w.path) for w in emulator.writes] == [("POST", "/config")]
    apis = by_name(await adapter.fetch("API"))
    assert apis["pets"]["spec"] == adapter.desired_view("API", API)
    assert apis["pets"]["owner"] == OWNER
    emulator.clear_log()
    changes, report = await reconcile(adapter, desired())
    assert changes == [] and report.results == []
    assert emulator.writes == []


async def test_drift_is_detected_and_healed(adapter: KongAdapter, emulator: KongEmulator) -> None:
    await reconcile(adapter, desired())
    with admin(emulator) as c:
        if emulator.mode == "dbless":  # out-of-band edit of the whole config, as an operator would
            import yaml

            doc = yaml.safe_load(c.get("/config").json()["config"])
            for plugin in doc["plugins"]:
                if plugin["name"] == "rate-limiting":
                    plugin["config"]["minute"] = 5
            doc["services"] = [s for s in doc["services"] if s["name"] != "orders"]
            doc["routes"] = [r for r in doc["routes"] if r.get("name") != "orders"]
            doc["plugins"] = [p for p in doc["plugins"] if "stoa-name:orders" not in (p.get("tags") or [])]
            for route in doc["routes"]:
                route["service"] = {"id": route["service"]} if route.get("service") else None
                if route["service"] is None:
                    route.pop("service")
            for plugin in doc["plugins"]:
                plugin.pop("updated_at", None)
            assert c.post("/config", json=doc).status_code == 201
        else:
            plugin = next(p for p in c.get("/plugins").json()["data"] if p["name"] == "rate-limiting")
            assert c.patch(f"/plugins/{plugin['id']}", json={"config": {"minute": 5}}).status_code == 200
            assert c.delete("/routes/orders").status_code == 204
            assert c.delete("/services/orders").status_code == 204
    changes, report = await reconcile(adapter, desired())
    assert {(c.kind, c.name, c.op) for c in changes} == {("Policy", "pets-rate", Op.UPDATE),
                                                        ("API", "orders", Op.CREATE)}
    assert not report.failed
    changes, _ = await reconcile(adapter, desired())
    assert changes == []


async def test_prune_deletes_only_owned(adapter: KongAdapter, emulator: KongEmulator) -> None:
    await reconcile(adapter, desired())
    before = snapshot(emulator)
    changes, report = await reconcile(adapter, desired(apis=("pets",)))
    assert {(c.kind, c.name, c.op) for c in changes} == {("API", "orders", Op.DELETE),
                                                        ("Consumer", "mobile", Op.UPDATE)}
    assert not report.failed, report.results
    with admin(emulator) as c:
        names = {s["name"] for s in c.get("/services").json()["data"]}
        assert names == {"pets", "legacy"}
        assert c.get("/routes/orders").status_code == 404
        groups = {a["group"] for a in c.get("/consumers/mobile/acls").json()["data"]}
        assert groups == {"pets"}
    assert snapshot(emulator) == before


async def test_unowned_objects_survive_ten_applies_byte_for_byte(adapter: KongAdapter, emulator: KongEmulator) -> None:
    before = snapshot(emulator)
    for i in range(10):
        _, report = await reconcile(adapter, desired(rate=100 + i))
        assert not report.failed, report.results
    assert snapshot(emulator) == before
    with admin(emulator) as c:
        ops = c.get("/consumers/ops/basic-auth").json()["data"][0]
    assert ops["password"] != "pw-ops"  # stored hashed once, never re-hashed by a round trip


async def test_rejected_config_leaves_kong_unchanged(adapter: KongAdapter, emulator: KongEmulator) -> None:
    await reconcile(adapter, desired())
    with admin(emulator) as c:
        before = {p: c.get(p).content for p in ("/services", "/routes", "/plugins", "/consumers", "/key-auths")}
    records = desired(key="rotated-key-0001")
    bad = next(r for r in records if r["kind"] == "API" and r["name"] == "orders")
    bad["spec"] = {**bad["spec"], "basePath": "orders-without-slash", "backend": "https://orders.example.com"}
    changes, report = await reconcile(adapter, records, key="rotated-key-0001")
    results = {(r.kind, r.name): r for r in report.results}
    assert results[("API", "orders")].status is Status.FAILED
    assert "should start with" in (results[("API", "orders")].error or "")
    if emulator.mode == "dbless":
        # one config, rejected whole: nothing else applied either
        assert results[("Consumer", "mobile")].status is Status.NOT_ATTEMPTED
        with admin(emulator) as c:
            after = {p: c.get(p).content for p in before}
        assert after == before
    assert all("rotated-key-0001" not in (r.error or "") for r in report.results)


async def test_unmanaged_service_with_same_name_is_a_conflict(adapter: KongAdapter, emulator: KongEmulator) -> None:
    records = [r for r in desired() if r["kind"] == "API"]
    records.append({**records[0], "name": "legacy"})
    changes, report = await reconcile(adapter, records)
    results = {(r.kind, r.name): r for r in report.results}
    assert results[("API", "legacy")].status is Status.FAILED
    assert results[("API", "legacy")].category == "conflict"
    with admin(emulator) as c:
        legacy = c.get("/services/legacy").json()
    assert legacy["host"] == "legacy.internal" and legacy["tags"] is None


async def test_wrong_token_fails_fetch_not_empty(emulator: KongEmulator) -> None:
    async with make_adapter(emulator.url, "wrong-token") as a:
        with pytest.raises(Exception) as info:
            await a.fetch("API")
        assert "401" in str(info.value)
        assert await a.list_apis() == []
        health = await a.health_check()
        assert not health.success and "wrong-token" not in (health.error or "")


async def test_health_check_reports_mode(adapter: KongAdapter, emulator: KongEmulator) -> None:
    result = await adapter.health_check()
    assert result.success and result.data is not None
    assert result.data["mode"] == ("dbless" if emulator.mode == "dbless" else "database")
    assert result.data["version"].startswith("3.9")


async def test_key_rotation_changes_fingerprint_only(adapter: KongAdapter, emulator: KongEmulator) -> None:
    await reconcile(adapter, desired())
    changes, report = await reconcile(adapter, desired(key="new-key-5678"), key="new-key-5678")
    assert [(c.kind, c.name, c.op) for c in changes] == [("Consumer", "mobile", Op.UPDATE)]
    assert [d.path for d in changes[0].diffs] == ["credential.fingerprint"]
    with admin(emulator) as c:
        keys = [k["key"] for k in c.get("/consumers/mobile/key-auth").json()["data"]]
    assert keys == ["new-key-5678"]
    assert KEY not in keys


async def test_missing_or_disabled_auth_plugins_are_drift_and_healed(adapter: KongAdapter,
                                                                    emulator: KongEmulator) -> None:
    """An apply cut between the service and its key-auth/acl plugins, or a plugin removed by hand,
    leaves an open API: the next plan must see it and the next apply close it (crash consistency)."""
    _, report = await reconcile(adapter, desired())
    assert not report.failed, report.results
    if emulator.mode == "postgres":
        with admin(emulator) as c:
            plugins = c.get("/services/pets/plugins").json()["data"]
            key_auth = next(p for p in plugins if p["name"] == "key-auth")
            assert c.delete(f"/plugins/{key_auth['id']}").status_code == 204
            acl = next(p for p in plugins if p["name"] == "acl")
            assert c.patch(f"/plugins/{acl['id']}", json={"enabled": False}).status_code == 200
    else:
        with admin(emulator) as c:
            current = c.get("/config").json()["config"]

        config = yaml.safe_load(current)
        pets_id = next(s["id"] for s in config["services"] if s["name"] == "pets")
        config["plugins"] = [p for p in config["plugins"] if not (p["name"] == "key-auth" and p["service"] == pets_id)]
        with admin(emulator) as c:
            assert c.post("/config", json=config).status_code == 201
    changes, report = await reconcile(adapter, desired())
    pets = next(c for c in changes if c.kind == "API" and c.name == "pets")
    assert pets.op is Op.UPDATE and [d.path for d in pets.diffs] == ["protection"]
    assert not report.failed, report.results
    changes, _ = await reconcile(adapter, desired())
    assert all(c.op is Op.NOOP for c in changes)


@pytest.mark.parametrize("mode", ["dbless", "postgres"])
async def test_reads_follow_short_and_empty_tag_pages(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With many foreign services interleaved with ours and a small page, `_list` must follow every
    page (DB-less ones may be short or empty and still carry an `offset` when a tag filter is given,
    kong/db/strategies/off/init.lua `page_for_tags`), and the second apply must still write nothing."""
    monkeypatch.setattr("reconciler.adapters.kong.adapter.PAGE_SIZE", 3)
    foreign = [{"id": f"{i:02x}{'0' * 6}-0000-4000-8000-{i:012x}", "name": f"foreign-{i}", "host": "f.internal"}
               for i in range(0, 256, 6)]
    with KongEmulator(mode=mode, admin_token=TOKEN) as emu:
        emu.load_config({"_format_version": "3.0", "services": foreign})
        async with make_adapter(emu.url, TOKEN) as adapter:
            assert isinstance(adapter, KongAdapter)
            _, report = await reconcile(adapter, desired())
            assert not report.failed, report.results
            emu.clear_log()
            records = await adapter.fetch("API")
            assert sorted(r["name"] for r in records if r["owner"] == OWNER) == ["orders", "pets"]
            assert sorted(r["name"] for r in records if r["owner"] is None) == sorted(f["name"] for f in foreign)
            service_pages = [r for r in emu.requests if r.path == "/services"]
            total = len(foreign) + 2
            # every service is read (unowned ones reach the plan as conflicts or adoptions): every page,
            # or DB-less the one export
            if mode == "dbless":
                assert [(r.method, r.path) for r in emu.requests] == [("GET", "/status"), ("GET", "/config")]
            else:
                assert len(service_pages) == -(-total // 3)
            emu.clear_log()
            changes, report = await reconcile(adapter, desired())
            assert changes == [] and emu.writes == []


@pytest.mark.parametrize("mode", ["dbless", "postgres"])
async def test_a_key_held_by_a_foreign_consumer_fails_only_our_consumer_and_is_never_shown(mode: str) -> None:
    """DB-less: Kong keys a duplicate nested key-auth key by its position and cannot flatten it
    (kong/db/schema/others/declarative_config.lua:400-406, kong/db/errors.lua:1032-1037): the error
    stays in `fields`, quoting the key. The adapter blames the change whose key it quotes, and scrubs
    it; with a database the PUT answers 409 `UNIQUE violation detected on '{key="…"}'`."""
    with KongEmulator(mode=mode, admin_token=TOKEN) as emu:
        emu.load_config({"_format_version": "3.0", "consumers": [
            {"username": "legacy", "keyauth_credentials": [{"key": KEY}]}]})
        async with make_adapter(emu.url, TOKEN) as adapter:
            assert isinstance(adapter, KongAdapter)
            _, report = await reconcile(adapter, desired())
    results = {(r.kind, r.name): r for r in report.results}
    mobile = results[("Consumer", "mobile")]
    assert mobile.status is Status.FAILED
    assert ("uniqueness violation: 'keyauth_credentials' entity with key set to" if mode == "dbless"
            else "UNIQUE violation detected on") in (mobile.error or "")
    assert all(KEY not in (r.error or "") for r in report.results)
    others = {r.status for k, r in results.items() if k != ("Consumer", "mobile")}
    assert others == ({Status.NOT_ATTEMPTED} if mode == "dbless" else {Status.APPLIED})
    if mode == "dbless":
        rejected = next(r for r in emu.requests if r.path == "/config" and r.status == 400)
        assert rejected.status == 400
