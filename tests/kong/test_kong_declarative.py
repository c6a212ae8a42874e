"""The Kong emulator's DB-less `POST /config` and `GET /config`, checked against Kong/kong@3.9.1.

Each test names the code it follows: kong/db/schema/others/declarative_config.lua (`flatten`, in three
steps), kong/db/errors.lua (`flatten_errors`), kong/db/declarative/export.lua, and the cases of Kong's
own spec/02-integration/04-admin_api/15-off_spec.lua and spec/01-unit/01-db/01-schema/11-declarative_config/
03-flatten_spec.lua where one exists.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from reconciler.emulators.kong import KongEmulator

SECRET = "kong-keyauth-secret-0042"
SID = "cb019421-62c2-47a8-b714-d7567b114037"
KONG_NS = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"


@pytest.fixture
def kong() -> Iterator[httpx.Client]:
    with KongEmulator(mode="dbless") as emu, httpx.Client(base_url=emu.url, timeout=5) as c:
        yield c


def post(c: httpx.Client, doc: dict[str, Any], flatten: bool = False) -> httpx.Response:
    return c.post("/config", params={"flatten_errors": "1"} if flatten else None, json={"_format_version": "3.0", **doc})


def kong_id(table: str, key: str) -> str:
    """declarative_config.lua:544-556 generate_uuid."""
    return str(uuid.uuid5(uuid.uuid5(KONG_NS, table), key))


def by_tag(flattened: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    found = [e for e in flattened if tag in (e["entity"].get("tags") or [])]
    assert len(found) == 1, (tag, flattened)
    return found[0]


# ----------------------------------------------------------------------------- flattened_errors
def test_entity_name_comes_only_from_the_name_field(kong: httpx.Client) -> None:
    """errors.lua:1005 `entity_name = validate_name(entity.name)`: a consumer's username or a key-auth
    credential's key never names an entry (15-off_spec.lua 'sanity', #12167)."""
    doc = {
        "consumers": [{"username": "alice", "nope": True, "tags": ["consumer-1"]},
                      {"username": "bob", "tags": ["consumer-2"],
                       "keyauth_credentials": [{"key": SECRET, "extra": 1, "tags": ["cred-1"]}]}],
        "services": [{"name": "", "host": "h", "tags": ["service-empty"]},
                     {"name": 1234, "host": "h", "tags": ["service-number"]},
                     {"id": SID, "name": "okay", "host": "h", "tags": ["service-ok"],
                      "plugins": [{"name": "rate-limiting", "config": {"minutes": 5}, "tags": ["plugin-1"]}],
                      "routes": [{"name": "r", "paths": ["/r"], "tags": ["route-ok"]}]}],
    }
    body = post(kong, doc, flatten=True).json()
    flat = body["flattened_errors"]
    cred = by_tag(flat, "cred-1")
    assert cred["entity_type"] == "keyauth_credential" and "entity_name" not in cred
    assert cred["errors"] == [{"type": "field", "field": "extra", "message": "unknown field"}]
    assert all(SECRET not in json.dumps({k: v for k, v in e.items() if k != "entity"}) for e in flat)
    assert "entity_name" not in by_tag(flat, "consumer-1")  # usernames do not name consumers
    assert "entity_name" not in by_tag(flat, "service-empty") and "entity_name" not in by_tag(flat, "service-number")
    assert by_tag(flat, "service-empty")["errors"] == [{"type": "field", "field": "name",
                                                        "message": "length must be at least 1"}]
    plugin = by_tag(flat, "plugin-1")
    assert plugin["entity_name"] == "rate-limiting" and plugin["entity_type"] == "plugin"
    assert plugin["entity"]["service"] == {"id": SID}  # a nested entity gets its parent's primary key
    assert {"type": "field", "field": "config.minutes", "message": "unknown field"} in plugin["errors"]
    assert all("service-ok" not in (e["entity"].get("tags") or []) for e in flat)  # no errors of its own
    assert body["fields"] == {}  # everything was flattened, so drained


def test_flattening_drains_fields_but_keeps_top_level_errors(kong: httpx.Client) -> None:
    """15-off_spec.lua 'drains errors from the top-level fields object'."""
    doc = {"abnormal_extra_field": 123, "_workspace": "x", "_ignore": [{"a": 1}],
           "services": [{"name": "nope", "host": "localhost", "protocol": "nope", "tags": ["s-1"]}]}
    plain = post(kong, doc).json()
    assert plain["fields"]["abnormal_extra_field"] == "unknown field" and "flattened_errors" not in plain
    assert plain["fields"]["_workspace"] == "unknown field"  # not a 3.9 field; `_ignore` is
    assert plain["fields"]["services"][0]["protocol"].startswith("expected one of: ")
    flat = post(kong, doc, flatten=True).json()
    assert flat["fields"] == {"abnormal_extra_field": "unknown field", "_workspace": "unknown field"}
    assert [e["entity_name"] for e in flat["flattened_errors"]] == ["nope"]
    assert flat["message"] == "declarative config is invalid: " + json.dumps(flat["fields"], sort_keys=True)


def test_format_version_is_required_and_known(kong: httpx.Client) -> None:
    """declarative_config.lua build_fields:254 `_format_version` required, one of 1.1, 2.1, 3.0."""
    assert kong.post("/config", json={"services": []}).json()["fields"] == {
        "_format_version": "required field missing"}
    assert kong.post("/config", json={"_format_version": "4.0"}).json()["fields"] == {
        "_format_version": "expected one of: 1.1, 2.1, 3.0"}


def test_field_positions_are_one_based_and_ids_and_tags_only_when_valid(kong: httpx.Client) -> None:
    """errors.lua categorize_errors joins Lua (1-based) positions; entity_id/entity_tags are omitted when
    invalid (15-off_spec.lua 'omits top-level entity_* fields if they are invalid')."""
    doc = {"services": [{"name": "t", "host": "h", "tags": ["ok", "also", 7]},
                        {"id": 1234, "name": "i", "host": "h", "tags": ["svc-bad-id"]}]}
    body = post(kong, doc, flatten=True).json()
    bad_tags = next(e for e in body["flattened_errors"] if e.get("entity_name") == "t")
    assert bad_tags["errors"] == [{"type": "field", "field": "tags.3", "message": "expected a string"}]
    assert "entity_tags" not in bad_tags
    bad_id = by_tag(body["flattened_errors"], "svc-bad-id")
    assert "entity_id" not in bad_id and bad_id["entity"]["id"] == 1234
    assert post(kong, doc).json()["fields"]["services"][0]["tags"] == [None, None, "expected a string"]


# ----------------------------------------------------------------------------- the three steps
def test_uniqueness_is_checked_only_once_the_schema_holds(kong: httpx.Client) -> None:
    """flatten: `self:validate` first; references and uniqueness (`validate_references`) only after."""
    dup = {"services": [{"name": "dup", "host": "h"}, {"name": "dup", "host": "h", "port": 70000}]}
    fields = post(kong, dup).json()["fields"]
    assert fields == {"services": [None, {"port": "value should be between 0 and 65535"}]}
    dup["services"][1].pop("port")
    body = post(kong, dup).json()
    message = "uniqueness violation: 'services' entity with name set to 'dup' already declared"
    assert body["fields"] == {"services": [None, message]}
    flat = post(kong, dup, flatten=True).json()
    assert flat["fields"] == {}
    assert [(e["entity_name"], e["errors"]) for e in flat["flattened_errors"]] == [
        ("dup", [{"type": "entity", "message": message}])]
    assert flat["flattened_errors"][0]["entity_id"] == kong_id("services", "dup")  # ids were generated by then


def test_a_duplicate_nested_key_is_keyed_by_its_position_and_not_flattened(kong: httpx.Client) -> None:
    """validate_references keys an endpoint-key duplicate by the position in its own list; with no
    top-level `keyauth_credentials` list, flatten_errors leaves it in `fields` (errors.lua:1032-1037).
    The key is in the message, as Kong writes it: the adapter's scrubber must hide it."""
    doc = {"consumers": [{"username": "a", "keyauth_credentials": [{"key": SECRET}]},
                         {"username": "b", "keyauth_credentials": [{"key": SECRET}]}]}
    message = f"uniqueness violation: 'keyauth_credentials' entity with key set to '{SECRET}' already declared"
    assert post(kong, doc).json()["fields"] == {"keyauth_credentials": [message]}
    flat = post(kong, doc, flatten=True).json()
    assert flat["fields"] == {"keyauth_credentials": [message]} and flat["flattened_errors"] == {}


def test_references_by_name_or_id_are_not_flattened(kong: httpx.Client) -> None:
    """A dangling reference is keyed by the entity's endpoint key or id (declarative_config.lua:446,
    487-493): flatten_errors cannot place it. With a top-level list of that table the errors are dropped
    from both `fields` and `flattened_errors`; a nested entity's stay in `fields` (03-flatten_spec.lua
    'fails with missing foreign relationships', '#7696')."""
    top = {"plugins": [{"name": "cors", "service": "svc1", "consumer": "my-consumer"}]}
    fields = post(kong, top).json()["fields"]
    pid = kong_id("plugins", "plugins:*:cors::svc1:my-consumer")
    assert list(fields) == ["plugins"] and list(fields["plugins"]) == [pid]
    assert sorted(fields["plugins"][pid]) == [
        "invalid reference 'consumer: my-consumer' (no such entry in 'consumers')",
        "invalid reference 'service: svc1' (no such entry in 'services')"]
    flat = post(kong, top, flatten=True).json()
    assert flat["fields"] == {} and flat["flattened_errors"] == {} and flat["message"].endswith("{}")
    nested = {"services": [{"name": "my-service-1", "url": "http://localhost:8001/status", "routes": [
        {"name": "my-route-1", "service": {"id": "769bdf51-16df-5476-9830-ef26800b5448"}, "paths": ["/status"]}]}]}
    expected = {"routes": {"my-route-1": [
        "invalid reference 'service: {\"id\":\"769bdf51-16df-5476-9830-ef26800b5448\"}' (no such entry in 'services')"]}}
    assert post(kong, nested).json()["fields"] == expected  # no "value must be null": that check passes alone
    flat = post(kong, nested, flatten=True).json()
    assert flat["fields"] == expected and flat["flattened_errors"] == {}


def test_other_unique_fields_are_checked_last_and_keyed_by_endpoint_key(kong: httpx.Client) -> None:
    """The flatten loop checks every unique field (consumers.custom_id) after the references."""
    doc = {"consumers": [{"username": "a", "custom_id": "same"}, {"username": "b", "custom_id": "same"}]}
    assert post(kong, doc).json()["fields"] == {"consumers": {
        "b": "uniqueness violation: 'consumers' entity with custom_id set to 'same' already declared"}}
    flat = post(kong, doc, flatten=True).json()
    assert flat["fields"] == {} and flat["flattened_errors"] == {}


def test_nested_foreign_keys_must_be_null_only_next_to_other_errors(kong: httpx.Client) -> None:
    """copy_record sets `eq = null` on a nested record's foreign keys; flatten keeps those errors only
    when the foreign-aware second validation fails too (declarative_config.lua:161-183, 791-808)."""
    nested = {"services": [{"name": "s", "host": "h", "routes": [{"name": "r", "paths": ["/r"], "service": "s"}]}]}
    assert post(kong, nested).status_code == 201
    nested["services"][0]["port"] = -1
    fields = post(kong, nested).json()["fields"]
    assert fields["services"][0]["port"] == "value should be between 0 and 65535"
    assert fields["services"][0]["routes"][0] == {"service": "value must be null"}


# ----------------------------------------------------------------------------- ids
def test_ids_derive_from_the_cache_key_or_the_endpoint_key(kong: httpx.Client) -> None:
    """declarative_config.lua get_key_for_uuid_gen/build_cache_key; 03-flatten_spec.lua 'identical
    targets': the same target under two upstreams gets two ids. Two identical plugins without ids get
    the same id: a primary-key duplicate, keyed under their service (populate_references:409-428)."""
    doc = {"upstreams": [{"name": "first", "targets": [{"target": "127.0.0.1:6661"}]},
                         {"name": "second", "targets": [{"target": "127.0.0.1:6661"}]}],
           "services": [{"name": "svc", "host": "h", "plugins": [{"name": "cors"}]}],
           "consumers": [{"username": "u", "keyauth_credentials": [{"key": SECRET}]}]}
    created = post(kong, doc).json()
    assert kong_id("services", "svc") in created["services"]
    up1 = kong_id("upstreams", "first")
    assert kong_id("targets", f"targets:*:{up1}:127.0.0.1:6661") in created["targets"]
    assert len(created["targets"]) == 2
    svc = kong_id("services", "svc")
    assert kong_id("plugins", f"plugins:*:cors::{svc}:") in created["plugins"]
    # a key-auth cache key is its generated-capable `key`: no derived id, a random one
    assert [c["key"] for c in created["keyauth_credentials"].values()] == [SECRET]
    again = post(kong, doc).json()
    assert set(again["services"]) == set(created["services"]) and set(again["targets"]) == set(created["targets"])
    assert set(again["keyauth_credentials"]) != set(created["keyauth_credentials"])
    doc["services"][0]["plugins"].append({"name": "cors"})
    pid = kong_id("plugins", f"plugins:*:cors::{svc}:")
    assert post(kong, doc).json()["fields"] == {"services": [{"plugins": [
        None, f"uniqueness violation: 'plugins' entity with primary key set to '{pid}' already declared"]}]}


def test_two_plugins_of_one_name_on_one_service_load_when_their_ids_differ(kong: httpx.Client) -> None:
    """The declarative loader does not check cache keys: with explicit ids both plugins load."""
    doc = {"services": [{"name": "svc", "host": "h", "plugins": [
        {"id": str(uuid.uuid4()), "name": "cors"}, {"id": str(uuid.uuid4()), "name": "cors"}]}]}
    assert post(kong, doc).status_code == 201


# ----------------------------------------------------------------------------- vaults, keys, key sets
def test_vaults_keys_and_key_sets_load_and_validate(kong: httpx.Client) -> None:
    """vaults.lua, keys.lua, key_sets.lua, kong/vaults/env/schema.lua; filter_chains.lua refuses every
    chain while wasm is off (the default): `wasm support is not enabled`."""
    doc = {"vaults": [{"name": "env", "prefix": "my-env", "config": {"prefix": "SSL_"}}],
           "key_sets": [{"name": "jwks", "keys": [{"name": "k1", "kid": "k1", "pem": {"public_key": PUBLIC_KEY}}]}],
           "keys": [{"name": "k2", "kid": "k2", "set": "jwks", "jwk": json.dumps({"kid": "k2", "kty": "RSA"})}]}
    created = post(kong, doc).json()
    assert [v["prefix"] for v in created["vaults"].values()] == ["my-env"]
    sets = list(created["key_sets"])
    assert sets == [kong_id("key_sets", "jwks")]
    assert sorted((k["name"], k["set"]) for k in created["keys"].values()) == [("k1", {"id": sets[0]}),
                                                                              ("k2", {"id": sets[0]})]
    assert sorted(k["name"] for k in kong.get(f"/key-sets/{sets[0]}/keys").json()["data"]) == ["k1", "k2"]
    bad = {"vaults": [{"name": "env", "prefix": "env"}, {"name": "aws", "prefix": "aws-vault"},
                      {"name": "env", "prefix": "Bad_Prefix"}],
           "keys": [{"name": "none", "kid": "x"}, {"name": "both", "kid": "y", "jwk": "{}", "pem": {"public_key": "p"}},
                    {"name": "mismatch", "kid": "z", "jwk": json.dumps({"kid": "other"})}],
           "filter_chains": [{"name": "fc", "service": "svc", "filters": [{"name": "f"}]}]}
    fields = post(kong, bad).json()["fields"]
    assert fields["vaults"] == [{"prefix": "must not be one of: env"}, {"name": "vault 'aws' is not installed"},
                                {"prefix": "invalid value: Bad_Prefix"}]
    assert fields["keys"][0]["@entity"] == ["at least one of these fields must be non-empty: 'jwk', 'pem'"]
    assert "only one or none of these fields must be set: 'jwk', 'pem'" in fields["keys"][1]["@entity"]
    assert fields["keys"][2]["@entity"] == ["kid in jwk.kid must be equal to keys.kid"]
    assert fields["filter_chains"][0]["@entity"] == ["wasm support is not enabled"]


# ----------------------------------------------------------------------------- export
def test_export_has_every_table_keeps_nulls_and_stamps_updated_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """export.lua export_from_db: every DAO with rows (not workspaces, not `db_export = false`), rows in
    primary-key order, foreign keys as ids, nulls kept (GLOBAL_QUERY_OPTS nulls = true, convert_nulls);
    consumers have `updated_at` (consumers.lua:12), which every load stamps anew (schema/init.lua:1897)."""
    clock = [1_700_000_000.25]
    monkeypatch.setattr("reconciler.emulators.kong.entities.time.time", lambda: clock[0])
    doc = {"_format_version": "3.0",
           "consumers": [{"username": "u", "keyauth_credentials": [{"key": SECRET}]}],
           "vaults": [{"name": "env", "prefix": "my-env"}],
           "key_sets": [{"name": "jwks"}],
           "keys": [{"name": "k1", "kid": "k1", "set": "jwks", "pem": {"public_key": PUBLIC_KEY}}],
           "upstreams": [{"name": "up", "targets": [{"target": "10.0.0.1:80"}]}],
           "services": [{"name": f"s{i}", "host": "h"} for i in range(3)]}
    with KongEmulator(mode="dbless") as emu, httpx.Client(base_url=emu.url, timeout=5) as c:
        assert c.post("/config", json=doc).status_code == 201
        text = c.get("/config").json()["config"]
        exported = yaml.safe_load(text)
        assert exported["_format_version"] == "3.0" and exported["_transform"] is False
        assert {"consumers", "keyauth_credentials", "vaults", "key_sets", "keys", "upstreams", "targets",
                "services"} <= set(exported)
        assert exported["consumers"][0]["updated_at"] == 1_700_000_000
        assert exported["targets"][0]["created_at"] == 1_700_000_000.25  # a millisecond timestamp
        assert exported["vaults"][0]["description"] is None and "description: ~" in text  # lyaml's null
        assert not text.startswith("---")
        assert exported["keys"][0]["jwk"] is None and exported["keys"][0]["set"] == exported["key_sets"][0]["id"]
        assert exported["services"][0]["path"] is None
        ids = [s["id"] for s in exported["services"]]
        assert ids == sorted(ids)
        clock[0] += 60
        assert c.post("/config", json=exported).status_code == 201  # the export loads back as it is
        again = yaml.safe_load(c.get("/config").json()["config"])
        assert again["consumers"][0]["updated_at"] == 1_700_000_060
        assert again["consumers"][0]["created_at"] == 1_700_000_000
        strip = {k: [{f: v for f, v in row.items() if f != "updated_at"} for row in rows]
                 for k, rows in again.items() if isinstance(rows, list)}
        assert strip == {k: [{f: v for f, v in row.items() if f != "updated_at"} for row in rows]
                         for k, rows in exported.items() if isinstance(rows, list)}
