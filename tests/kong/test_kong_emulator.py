"""The Kong emulator on its own: Admin API behaviour both modes, written from the vendor contract."""

from __future__ import annotations

import base64
import hashlib
import json
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
               "/vaults", "/keys", "/key-sets")


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
        for nested in ("key-auth", "basic-auth", "hmac-auth", "jwt", "acls", "oauth2", "plugins"):
            assert c.get(f"/consumers/u/{nested}").json()["data"] == []
        # OSS 3.9.1 bundles no mtls-auth plugin (kong/constants.lua) and serves /filter-chains only with wasm on
        for absent in ("/mtls-auths", "/consumers/u/mtls-auth", "/filter-chains"):
            assert c.get(absent).status_code == 404, absent


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
        # the offset is base64 of the last primary key as a JSON array (postgres/init.lua page)
        token = first["offset"]
        assert json.loads(base64.b64decode(token + "=" * (-len(token) % 4))) == [first["data"][-1]["id"]]
        c.post("/services/s0/routes", json={"name": "r0", "paths": ["/r0"]})
        assert [r["name"] for r in c.get("/services/s0/routes?tags=nothing").json()["data"]] == ["r0"]


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
        # base64 (unpadded) of the last LMDB key read and a NUL (off/init.lua page_for_prefix)
        token = first["offset"]
        assert base64.b64decode(token + "=" * (-len(token) % 4)) == f"services|*|*|{_uuid('0', 4)}\x00".encode()
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
    """kong/api/endpoints.lua and kong/db/dao/init.lua run as with a database (lookups, validation) until
    the DB-less strategy refuses the write (kong/db/strategies/off/init.lua:374-400)."""
    dbless.load_config({"_format_version": "3.0", "services": [{"name": "s", "host": "h"}],
                        "consumers": [{"username": "c"}]})
    sid = dbless.entities("services")[0]["id"]

    def refusal(verb: str, what: str) -> dict[str, Any]:
        return {"code": 12, "name": "operation unsupported", "message": f"cannot {verb} {what} when not using a database"}

    with client(dbless) as c:
        r = c.post("/routes", json={"paths": ["/x"]})
        assert r.status_code == 405 and r.json() == refusal("create", "'routes' entities")
        invalid = c.post("/routes", json={"paths": ["no-slash"]})
        assert invalid.status_code == 400 and invalid.json()["code"] == 2  # validated before the strategy
        assert c.delete("/services/missing").status_code == 204  # the DAO reads first: nothing to remove
        assert c.delete("/services/s").json() == refusal("remove", "'services' entities by 'name'")
        assert c.delete(f"/services/{sid}").json() == refusal("remove", "'services' entities")
        assert c.patch("/services/missing", json={"retries": 1}).status_code == 404
        assert c.patch("/services/s", json={"retries": 1}).json() == refusal("update", "'services' entities by 'name'")
        assert c.put("/services/t", json={"host": "h"}).json() == refusal(
            "create or update", "'services' entities by 'name'")
        assert c.post("/services/missing/routes", json={"paths": ["/x"]}).status_code == 404
        assert c.put("/consumers/nobody/key-auth/y", json={}).status_code == 404
        assert c.put("/consumers/c/key-auth/y", json={}).json() == refusal(
            "create or update", "'keyauth_credentials' entities by 'key'")
        assert c.delete("/consumers/c/key-auth/y").status_code == 404  # nested: the child must exist


def test_status_and_config_hash(dbless: KongEmulator, db: KongEmulator) -> None:
    """/status: DB-less reports the configuration hash instead of the database (routes/health.lua:52-56);
    the empty configuration hashes to zeros (declarative/import.lua:433-434)."""
    with KongEmulator(mode="dbless") as fresh, client(fresh) as c, client(db) as c2:
        status = c.get("/status").json()
        assert status["configuration_hash"] == "0" * 32 and "database" not in status
        assert c2.get("/status").json()["database"] == {"reachable": True}
        assert "configuration_hash" not in c2.get("/status").json()
        assert c.post("/config", json={"_format_version": "3.0"}).status_code == 201
        assert c.get("/status").json()["configuration_hash"] == "0" * 32


def test_config_is_replaced_atomically_and_check_hash(dbless: KongEmulator) -> None:
    """routes/config.lua: `check_hash` is honoured only for `check_hash=1` and only when the
    configuration came as text (`config` or a raw body: md5 of that text); a JSON document is hashed
    after loading (declarative/init.lua parse_table), so it is never answered 304."""
    doc = {"_format_version": "3.0", "services": [{"name": "a", "url": "http://a.internal:81/p",
                                                   "routes": [{"name": "ra", "paths": ["/a"]}]}]}
    text = yaml.safe_dump(doc)
    with client(dbless) as c:
        r = c.post("/config", json=doc)
        assert r.status_code == 201 and len(r.json()["services"]) == 1 and len(r.json()["routes"]) == 1
        assert c.post("/config?check_hash=1", json=doc).status_code == 201
        assert c.post("/config", json={"config": text}).status_code == 201
        assert c.get("/status").json()["configuration_hash"] == hashlib.md5(text.encode()).hexdigest()
        assert c.post("/config?check_hash=1", json={"config": text}).status_code == 304
        assert c.post("/config?check_hash=true", json={"config": text}).status_code == 201
        assert c.post("/config?check_hash=1", content=text.encode(),
                      headers={"content-type": "application/yaml"}).status_code == 304
        exported = yaml.safe_load(c.get("/config").json()["config"])
        assert exported["services"][0]["port"] == 81 and exported["routes"][0]["service"] == exported["services"][0]["id"]
        bad = {"_format_version": "3.0", "services": [{"name": "b", "host": "b"}],
               "routes": [{"name": "orphan", "paths": ["/o"], "service": "missing"}]}
        assert c.post("/config", json=bad).status_code == 400
        assert [s["name"] for s in c.get("/services").json()["data"]] == ["a"]  # unchanged
        assert c.post("/config", content=b"", headers={"content-type": "application/json"}).json() == {
            "message": "expected a declarative configuration"}
        unparsable = c.post("/config", json={"config": "services: [unclosed"})
        assert unparsable.status_code == 400 and unparsable.json()["code"] == 14
        assert unparsable.json()["fields"]["error"].startswith("failed parsing declarative configuration")
        assert c.post("/config", json={"config": "just text"}).json()["fields"] == {
            "error": "failed parsing declarative configuration: expected an object"}


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


def test_entity_rules_and_messages_of_kong_3_9_1(db: KongEmulator) -> None:
    """Messages as Kong/kong@3.9.1 writes them: routes_subschemas.lua (http/https), services.lua
    conditional on `protocol`, typedefs.lua (router_path, utf8_name, tag, http_method), acl/schema.lua
    entity checks, constants.lua protocols, schema/init.lua empty strings, errors.lua invalid_primary_key
    and schema_violation, rand.lua random_string."""
    with client(db) as c:
        def fields(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = c.post(path, json=body)
            assert r.status_code == 400 and r.json()["code"] == 2, r.text
            result: dict[str, Any] = r.json()["fields"]
            return result

        assert fields("/routes", {"protocols": ["http"]})["@entity"] == [
            "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"]
        assert fields("/routes", {"protocols": ["https"]})["@entity"] == [
            "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]
        assert fields("/routes", {"protocols": ["nope"], "paths": ["/"]})["protocols"] == "unknown type: nope"
        assert fields("/routes", {"paths": ["/ok", "bad"]})["paths"] == [
            None, "should start with: / (fixed path) or ~/ (regex path)"]
        assert fields("/routes", {"paths": ["/"], "methods": ["get"]})["methods"] == ["invalid value: get"]
        assert fields("/services", {"host": "h", "protocol": "ws"})["protocol"] == (
            "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp")
        assert fields("/services", {"host": "h", "protocol": "tcp", "path": "/p"}) == {
            "@entity": ["failed conditional validation given value of field 'protocol'"], "path": "value must be null"}
        assert fields("/services", {"host": "h", "name": "a b"})["name"] == (
            "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~")
        assert fields("/services", {"host": ""}) == {"host": "length must be at least 1"}
        assert fields("/services", {"host": "h", "tags": ["ok", "a,b"]})["tags"] == [
            None, "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"]
        two = c.post("/services", json={"port": -1})
        assert two.json()["message"] == (
            "2 schema violations (host: required field missing; port: value should be between 0 and 65535)")
        assert fields("/plugins", {"name": "acl", "config": {}})["@entity"] == [
            "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
            "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"]
        assert fields("/plugins", {"name": "acl", "config": {"allow": ["a"], "deny": ["b"]}})["@entity"] == [
            "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"]
        assert fields("/plugins", {"name": "acl", "config": {"allow": ["a"], "include_consumer_groups": True}})[
            "config"] == {"include_consumer_groups": "unknown field"}  # an Enterprise field
        assert fields("/plugins", {"name": "mtls-auth"})["name"] == (
            "plugin 'mtls-auth' not enabled; add it to the 'plugins' configuration property")
        bad_pk = c.get("/certificates/not-a-uuid")
        assert bad_pk.status_code == 400 and bad_pk.json() == {
            "code": 1, "name": "invalid primary key", "message": "invalid primary key: '{id=\"expected a valid UUID\"}'",
            "fields": {"id": "expected a valid UUID"}}
        assert c.put("/certificates/not-a-uuid", json={"cert": "c", "key": "k"}).status_code == 400
        c.put("/consumers/alice", json={})
        key = c.post("/consumers/alice/key-auth", json={}).json()["key"]
        assert len(key) == 32 and key.isalnum()


def test_db_error_bodies_cascades_and_derived_fields(db: KongEmulator) -> None:
    """kong/db/errors.lua unique_violation (:361-370), foreign_key_violation_invalid_reference (:277-298),
    foreign_key_violation_restricted (:301-316); kong/api/api_helpers.lua:543-555 (404/405);
    kong/db/dao/init.lua:1305-1330 (deleting nothing is a 204); on_delete cascade (keys.lua:24);
    basic-auth/crypto.lua (sha1 of password .. consumer id); dao/targets.lua:17,36 (port 8000);
    dao/certificates.lua:68 (`snis` of a certificate); upstreams.lua:88-129 (healthcheck defaults)."""
    with client(db) as c:
        s = c.post("/services", json={"name": "s", "host": "h"}).json()
        dup = c.post("/services", json={"name": "s", "host": "h"})
        assert dup.status_code == 409 and dup.json() == {
            "code": 5, "name": "unique constraint violation", "message": "UNIQUE violation detected on '{name=\"s\"}'",
            "fields": {"name": "s"}}
        missing = "00000000-0000-4000-8000-000000000000"
        fk = c.post("/routes", json={"paths": ["/r"], "service": {"id": missing}}).json()
        assert fk["code"] == 4 and fk["name"] == "foreign key violation"
        assert fk["message"] == f"the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'services' entity."
        c.post("/services/s/routes", json={"paths": ["/r"]})
        assert c.delete("/services/s").json() == {
            "code": 4, "name": "foreign key violation",
            "message": "an existing 'routes' entity references this 'services' entity",
            "fields": {"@referenced_by": "routes"}}
        assert c.delete(f"/services/{missing}").status_code == 204
        assert c.get("/nothing-here").json() == {"message": "Not found"}
        assert c.get("/services/nope").json() == {"message": "Not found"}
        assert c.request("PATCH", "/services").json() == {"message": "Method not allowed"}
        consumer = c.put("/consumers/bob", json={}).json()
        basic = c.post("/consumers/bob/basic-auth", json={"username": "bob", "password": "pw"}).json()
        assert basic["password"] == hashlib.sha1(("pw" + consumer["id"]).encode()).hexdigest()
        up = c.post("/upstreams", json={"name": "up"}).json()
        assert up["healthchecks"]["active"]["unhealthy"]["http_statuses"] == [429, 404, 500, 501, 502, 503, 504, 505]
        assert up["healthchecks"]["threshold"] == 0
        assert c.post("/upstreams/up/targets", json={"target": "10.0.0.1"}).json()["target"] == "10.0.0.1:8000"
        cert = c.post("/certificates", json={"cert": "c", "key": "k"}).json()
        assert cert["snis"] == []
        c.post("/snis", json={"name": "a.example.com", "certificate": {"id": cert["id"]}})
        assert c.get(f"/certificates/{cert['id']}").json()["snis"] == ["a.example.com"]
        ks = c.post("/key-sets", json={"name": "set"}).json()
        c.post("/keys", json={"name": "k", "kid": "k", "set": {"id": ks["id"]}, "pem": {"public_key": "p"}})
        assert [k["name"] for k in c.get("/key-sets/set/keys").json()["data"]] == ["k"]
        assert c.delete("/key-sets/set").status_code == 204
        assert c.get("/keys").json()["data"] == []  # keys.set: on_delete = "cascade"
        tags = c.get("/tags").json()["data"]
        assert tags == [] and c.get("/tags/none").json()["data"] == []
        c.patch("/services/" + s["id"], json={"tags": ["t1"]})
        assert c.get("/tags/t1").json()["data"] == [{"entity_name": "services", "entity_id": s["id"], "tag": "t1"}]
        form = c.post("/services", data={"name": "f", "host": "h", "port": "8080", "enabled": "false"}).json()
        assert form["port"] == 8080 and form["enabled"] is False  # form values inferred by the field types
        assert c.post("/services", content=b"{not json", headers={"content-type": "application/json"}).json() == {
            "message": "Cannot parse JSON body"}
        assert c.patch(f"/services/{s['id']}", json={"id": missing}).json()["code"] == 3
        by_name = c.post("/routes", json={"paths": ["/n"], "service": {"name": "s"}}).json()
        assert by_name["service"] == {"id": s["id"]}
        assert c.post("/routes", json={"paths": ["/n"], "service": {"name": "gone"}}).json()["code"] == 4
        ca = c.post("/ca_certificates", json={"cert": "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"})
        assert len(ca.json()["cert_digest"]) == 64
        assert c.post("/consumers", json={"tags": ["t"]}).json()["fields"]["@entity"] == [
            "at least one of these fields must be non-empty: 'custom_id', 'username'"]
        assert c.post("/services", json={"id": "nope", "host": "h"}).json()["fields"] == {"id": "expected a valid UUID"}
