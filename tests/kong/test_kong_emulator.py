"""The Kong emulator on its own: Admin API behaviour both modes, written from the vendor contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml

from reconciler.emulators import emulator_class
from reconciler.emulators.kong import KongEmulator

COLLECTIONS = ("/services", "/routes", "/plugins", "/consumers", "/upstreams", "/certificates", "/snis",
               "/ca_certificates", "/key-auths", "/basic-auths", "/hmac-auths", "/jwts", "/acls", "/oauth2",
               "/mtls-auths")


@pytest.fixture(scope="module")
def dbless() -> Iterator[KongEmulator]:
    with KongEmulator(mode="dbless") as emu:
        yield emu


@pytest.fixture
def db() -> Iterator[KongEmulator]:
    with KongEmulator(mode="postgres") as emu:
        yield emu


def client(emu: KongEmulator) -> httpx.Client:
    return httpx.Client(base_url=emu.url, timeout=5)


def test_registry_and_from_credentials() -> None:
    cls = emulator_class("kong")
    emu = cls.from_credentials({"token": "t0k"}, {"mode": "postgres"})
    assert isinstance(emu, KongEmulator) and emu.mode == "postgres" and emu.admin_token == "t0k"


def test_root_reports_version_and_database(dbless: KongEmulator, db: KongEmulator) -> None:
    with client(dbless) as c1, client(db) as c2:
        off, pg = c1.get("/").json(), c2.get("/").json()
    assert off["version"].startswith("3.9.") and off["configuration"]["database"] == "off"
    assert pg["configuration"]["database"] == "postgres"


def test_every_collection_is_served_empty(db: KongEmulator) -> None:
    with client(db) as c:
        for path in COLLECTIONS:
            assert c.get(path).json() == {"data": [], "next": None}, path
        assert c.post("/consumers", json={"username": "u"}).status_code == 201
        for nested in ("key-auth", "basic-auth", "hmac-auth", "jwt", "acls", "oauth2", "mtls-auth", "plugins"):
            assert c.get(f"/consumers/u/{nested}").json()["data"] == []


def test_token_required_when_configured() -> None:
    with KongEmulator(admin_token="secret-admin") as emu, client(emu) as c:
        assert c.get("/services").status_code == 401
        assert c.get("/services", headers={"Kong-Admin-Token": "nope"}).status_code == 401
        assert c.get("/services", headers={"Kong-Admin-Token": "secret-admin"}).status_code == 200


def _all_pages(c: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every item, every page body) following `offset` until it is absent."""
    pages = [c.get(path, params=params).json()]
    while pages[-1].get("offset"):
        pages.append(c.get(path, params={**params, "offset": pages[-1]["offset"]}).json())
    return [item for p in pages for item in p["data"]], pages


def test_paging_size_offset_and_tags(db: KongEmulator) -> None:
    with client(db) as c:
        for i in range(5):
            c.post("/services", json={"name": f"s{i}", "host": "h", "tags": ["a", "even" if i % 2 == 0 else "odd"]})
        first = c.get("/services", params={"size": 2}).json()
        assert len(first["data"]) == 2 and first["next"].startswith("/services?offset=")
        assert first["next"].endswith("&size=2")
        items, pages = _all_pages(c, "/services", size=2)
        assert sorted(s["name"] for s in items) == [f"s{i}" for i in range(5)]
        assert [s["id"] for s in items] == sorted(s["id"] for s in items)  # ORDER BY pk
        assert pages[-1]["next"] is None and "offset" not in pages[-1] and len(pages) == 3
        # with a database the tag filter runs in SQL before the LIMIT: pages are full
        tagged, tagged_pages = _all_pages(c, "/services", tags="a,even", size=2)
        assert sorted(s["name"] for s in tagged) == ["s0", "s2", "s4"]
        assert [len(p["data"]) for p in tagged_pages] == [2, 1]
        assert len(c.get("/services?tags=even/odd").json()["data"]) == 5
        assert c.get("/services?size=1001").status_code == 400
        assert c.get("/services?offset=%%%").status_code == 400
        assert c.get("/services/s0").json()["tags"] == ["a", "even"]
        c.post("/services", json={"name": "untagged", "host": "h"})
        assert c.get("/services/untagged").json()["tags"] is None


def _uuid(prefix: str, i: int) -> str:
    return f"{prefix}{i:07x}-0000-4000-8000-000000000000"


def test_dbless_tags_filter_each_page_after_paging() -> None:
    """kong/db/strategies/off/init.lua `page_for_tags`: one page of keys, then `filter_tag_items`; the
    offset says whether more keys follow, whatever survived the filter."""
    doc = {"_format_version": "3.0", "services": (
        [{"id": _uuid("0", i), "name": f"foreign-{i}", "host": "f"} for i in range(12)]
        + [{"id": _uuid("8", i), "name": f"ours-{i}", "host": "o", "tags": ["mine"],
            "routes": [{"name": f"r-{i}", "paths": [f"/{i}"]}]} for i in range(3)]
        + [{"id": _uuid("9", i), "name": f"other-{i}", "host": "f", "tags": ["theirs"]} for i in range(2)])}
    with KongEmulator(mode="dbless") as emu, client(emu) as c:
        emu.load_config(doc)
        first = c.get("/services", params={"tags": "mine", "size": 5}).json()
        assert first["data"] == [] and first["offset"]  # an empty page that is not the last
        assert first["next"] == f"/services?offset={quote(first['offset'], safe='')}&tags=mine&size=5"
        items, pages = _all_pages(c, "/services", tags="mine", size=5)
        assert [s["name"] for s in items] == ["ours-0", "ours-1", "ours-2"]
        assert [len(p["data"]) for p in pages] == [0, 0, 3, 0]
        assert pages[-1]["next"] is None and "offset" not in pages[-1]
        # untagged pages are full, in id order; nested lists ignore tags
        assert [len(p["data"]) for p in _all_pages(c, "/services", size=5)[1]] == [5, 5, 5, 2]
        assert [r["name"] for r in c.get("/services/ours-0/routes?tags=nothing").json()["data"]] == ["r-0"]
        assert c.get("/services?tags=a,b/c").json() == {
            "code": 11, "name": "invalid options", "message": "invalid option (tags: invalid filter syntax)",
            "options": {"tags": "invalid filter syntax"}}
        assert c.get("/services?tags=a,b,c,d,e,f").json()["options"] == {"tags": "cannot query more than 5 tags"}


def test_dbless_entity_writes_answer_405(dbless: KongEmulator) -> None:
    with client(dbless) as c:
        r = c.post("/routes", json={"paths": ["/x"]})
        assert r.status_code == 405 and r.json() == {
            "code": 12, "name": "operation unsupported",
            "message": "cannot create 'routes' entities when not using a database"}
        assert c.delete("/services/x").status_code == 405
        assert c.put("/consumers/x/key-auth/y", json={}).status_code == 405


def test_config_is_replaced_atomically_and_check_hash(dbless: KongEmulator) -> None:
    doc = {"_format_version": "3.0", "services": [{"name": "a", "url": "http://a.internal:81/p",
                                                   "routes": [{"name": "ra", "paths": ["/a"]}]}]}
    with client(dbless) as c:
        r = c.post("/config", json=doc)
        assert r.status_code == 201 and len(r.json()["services"]) == 1 and len(r.json()["routes"]) == 1
        assert c.post("/config?check_hash=1", json=doc).status_code == 304
        assert c.get("/status").json()["configuration_hash"] != "0" * 32
        exported = yaml.safe_load(c.get("/config").json()["config"])
        assert exported["services"][0]["port"] == 81 and exported["routes"][0]["service"] == exported["services"][0]["id"]
        bad = {"_format_version": "3.0", "services": [{"name": "b", "host": "b"}],
               "routes": [{"name": "orphan", "paths": ["/o"], "service": {"name": "missing"}}]}
        assert c.post("/config", json=bad).status_code == 400
        assert [s["name"] for s in c.get("/services").json()["data"]] == ["a"]  # unchanged
        assert c.post("/config", content=b"", headers={"content-type": "application/json"}).json() == {
            "message": "expected a declarative configuration"}
        assert c.post("/config", json={"config": yaml.safe_dump(doc)}).status_code == 201


def test_config_400_body_with_flattened_errors(dbless: KongEmulator) -> None:
    bad = {"_format_version": "3.0", "nope": [],
           "services": [{"name": "dup", "host": "h"}, {"name": "dup", "port": 70000, "plugins": [
               {"name": "rate-limiting", "config": {"minutes": 5}}]}]}
    with client(dbless) as c:
        plain = c.post("/config", json=bad).json()
        body = c.post("/config?flatten_errors=1", json=bad).json()
    assert "flattened_errors" not in plain
    assert body["code"] == 14 and body["name"] == "invalid declarative configuration"
    assert body["fields"]["nope"] == "unknown field"
    assert body["fields"]["services"][0] is None
    second = body["fields"]["services"][1]
    assert second["host"] == "required field missing" and second["port"] == "value should be between 0 and 65535"
    assert any("uniqueness violation: 'services' entity with name set to 'dup'" in m for m in second["@entity"])
    assert second["plugins"][0]["config"] == {"minutes": "unknown field"}
    flat = {(e["entity_type"], e.get("entity_name")): e for e in body["flattened_errors"]}
    assert {"type": "field", "field": "config.minutes", "message": "unknown field"} in flat[("plugin", None)]["errors"]
    assert flat[("service", "dup")]["entity"] == {"name": "dup", "port": 70000}


def test_config_only_in_dbless(db: KongEmulator) -> None:
    with client(db) as c:
        r = c.get("/config")
    assert r.status_code == 400 and "not use a database" in r.json()["message"]


def test_db_crud_status_codes_and_errors(db: KongEmulator) -> None:
    with client(db) as c:
        created = c.post("/services", json={"name": "s", "url": "https://up.example.com"})
        assert created.status_code == 201 and created.json()["port"] == 443
        dup = c.post("/services", json={"name": "s", "host": "x"})
        assert dup.status_code == 409 and dup.json()["code"] == 5
        missing = c.post("/services", json={"name": "t"})
        assert missing.status_code == 400 and missing.json()["fields"] == {"host": "required field missing"}
        assert c.get("/services/nope").status_code == 404
        assert c.patch("/services/nope", json={"retries": 1}).status_code == 404
        fk = c.post("/routes", json={"paths": ["/r"], "service": {"id": "00000000-0000-4000-8000-000000000000"}})
        assert fk.status_code == 400 and fk.json()["code"] == 4
        uid = "5d1a9b7c-1111-4222-8333-444455556666"
        put = c.put(f"/services/{uid}", json={"name": "by-id", "host": "h"})
        assert put.status_code == 200 and put.json()["id"] == uid
        assert c.put("/services/by-name", json={"host": "h2"}).json()["name"] == "by-name"
        route = c.post("/services/s/routes", json={"name": "r", "paths": ["/r"]}).json()
        assert route["service"] == {"id": created.json()["id"]}
        assert c.delete("/services/s").status_code == 400  # a route still uses it
        c.post("/services/s/plugins", json={"name": "cors", "config": {"origins": ["*"]}})
        assert c.delete("/services/s/routes/r").status_code == 204
        assert c.delete("/services/s").status_code == 204
        assert c.get("/plugins").json()["data"] == []  # cascade
        assert c.patch(f"/services/{uid}", json={"retries": 1}).json()["retries"] == 1


def test_db_credentials_nested_and_top_level(db: KongEmulator) -> None:
    with client(db) as c:
        c.put("/consumers/alice", json={"tags": ["t"]})
        key = c.post("/consumers/alice/key-auth", json={}).json()
        assert len(key["key"]) >= 16  # generated when absent
        assert c.post("/consumers/alice/key-auth", json={"key": key["key"]}).status_code == 409
        c.post("/consumers/alice/acls", json={"group": "pets"})
        assert c.post("/consumers/alice/acls", json={"group": "pets"}).status_code == 409
        basic = c.post("/consumers/alice/basic-auth", json={"username": "alice", "password": "pw"}).json()
        assert basic["password"] != "pw"
        assert [a["group"] for a in c.get("/acls").json()["data"]] == ["pets"]
        assert c.get(f"/key-auths/{key['id']}").json()["consumer"]["id"] == c.get("/consumers/alice").json()["id"]
        assert c.delete("/consumers/alice").status_code == 204
        assert c.get("/key-auths").json()["data"] == [] and c.get("/acls").json()["data"] == []


def test_plugin_validation_in_db_mode(db: KongEmulator) -> None:
    with client(db) as c:
        assert c.post("/plugins", json={"name": "no-such-plugin"}).status_code == 400
        r = c.post("/plugins", json={"name": "rate-limiting", "config": {}})
        assert r.status_code == 400 and "at least one of" in r.json()["fields"]["@entity"][0]
        ok = c.post("/plugins", json={"name": "rate-limiting", "config": {"minute": 5}}).json()
        assert ok["config"]["policy"] == "local" and ok["config"]["minute"] == 5


def test_patch_merges_plugin_config(db: KongEmulator) -> None:
    with client(db) as c:
        plugin = c.post("/plugins", json={"name": "rate-limiting", "config": {"minute": 5, "hour": 100}}).json()
        patched = c.patch(f"/plugins/{plugin['id']}", json={"config": {"minute": 7}}).json()
    assert patched["config"]["minute"] == 7 and patched["config"]["hour"] == 100
    assert patched["created_at"] == plugin["created_at"] and patched["id"] == plugin["id"]
