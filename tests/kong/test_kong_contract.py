"""Contract: what the adapter sends exists in Kong's Admin API spec and validates against the
declarative JSON Schema; what the emulator answers validates against the spec's response schemas."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from reconciler.emulators.kong import KongEmulator
from tests.conftest import specs_path
from tests.kong.kong_helpers import (
    declarative_schema,
    desired,
    make_adapter,
    operation_exists,
    reconcile,
)
from tests.kong.test_kong_e2e_adapter import UNOWNED

pytestmark = pytest.mark.contract


@pytest.fixture(autouse=True)
def _specs_present() -> None:
    specs_path("kong/kong_json_schema.json")
    specs_path("kong/kong-admin-oss-3.9.openapi.yaml")
    specs_path("kong/kong-admin-ee-3.15.openapi.yaml")


async def run_scenario(emulator: KongEmulator) -> None:
    """Create, update, rotate, prune: every kind of request the adapter makes."""
    async with make_adapter(emulator.url) as a:
        await a.health_check()
        for records, key in ((desired(), "k-1"), (desired(rate=7), "k-2"), (desired(apis=("pets",)), "k-2"),
                             (desired(apis=("orders",)), "k-3")):
            for r in records:
                if r["kind"] == "Consumer":
                    r["spec"]["credential"]["fingerprint"] = None  # force a consumer write every round
            _, report = await reconcile(a, records, key=key)
            assert not report.failed, report.results


@pytest.mark.parametrize("mode", ["dbless", "postgres"])
async def test_every_request_exists_in_the_admin_api_spec(mode: str) -> None:
    with KongEmulator(mode=mode) as emu:
        emu.load_config(UNOWNED)
        await run_scenario(emu)
        sent = {(r.method, r.path) for r in emu.requests}
    assert len(sent) > (3 if mode == "dbless" else 5)  # DB-less: GET /, /status, /config, POST /config
    missing = sorted(op for op in sent if not operation_exists(*op))
    assert missing == []
    if mode == "postgres":
        assert {m for m, _ in sent} >= {"GET", "PUT", "DELETE"}


async def test_every_config_body_validates_against_the_declarative_schema() -> None:
    validator = jsonschema.Draft4Validator(declarative_schema())
    with KongEmulator(mode="dbless") as emu:
        emu.load_config(UNOWNED)
        await run_scenario(emu)
        envelopes = [r.json() for r in emu.requests if r.method == "POST" and r.path == "/config"]
    assert len(envelopes) == 4  # one per apply
    assert all(set(e) == {"config"} for e in envelopes)  # sent as text: Kong's hash is then its md5
    bodies = [json.loads(e["config"]) for e in envelopes]
    for body in bodies:
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors[:5]]
        assert {"upstreams", "certificates", "consumers", "services", "routes", "plugins", "vaults", "key_sets",
                "keys"} <= set(body)
        assert [k["set"] for k in body["keys"] if k["name"] == "ops-signing"] == [
            {"id": body["key_sets"][0]["id"]}]


def test_the_schema_check_is_not_vacuous() -> None:
    validator = jsonschema.Draft4Validator(declarative_schema())
    bad = {"_format_version": "3.0", "plugins": [{"name": "cors", "updated_at": 1}],
           "consumers": [{"username": "a", "keyauth_credentials": [{"key": "x", "consumer": "a"}]}]}
    assert len(list(validator.iter_errors(bad))) >= 2


def _resolve(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/") and depth < 8:
            return _resolve(copy.deepcopy(components[ref.rsplit("/", 1)[1]]), components, depth + 1)
        return {k: _resolve(v, components, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, components, depth) for v in node]
    return node


def _response_schema(doc: dict[str, Any], path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    resolved: dict[str, Any] = _resolve(schema, doc["components"]["schemas"])
    return _nullable(resolved)


def _nullable(node: Any) -> Any:
    """Kong answers `null` for every unset field (`tags: null`, `next: null` — "may be null" in the spec's
    own words) while the spec rarely marks them nullable: allow null, check everything else."""
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if "type" in out:
            out["nullable"] = True
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


def _without_spec_defects(doc: dict[str, Any]) -> dict[str, Any]:
    """The OSS 3.9 spec types the env vault's `config.prefix` as an enum of three setting names, which
    is no vault's prefix (kong/vaults/env/schema.lua@3.9.1: any `^[%a_-][%a%d_-]*$` string): drop it."""
    vault = doc["components"]["schemas"]["Vault"]["properties"]["config"]["properties"]["prefix"]
    assert vault.pop("enum") == ["vaults.config.resurrect_ttl", "vaults.config.neg_ttl", "vaults.config.ttl"]
    return doc


def test_emulator_responses_validate_against_the_spec_response_schemas() -> None:
    ee = yaml.load(specs_path("kong/kong-admin-ee-3.15.openapi.yaml").read_text(), Loader=yaml.CSafeLoader)
    oss = _without_spec_defects(yaml.load(specs_path("kong/kong-admin-oss-3.9.openapi.yaml").read_text(),
                                          Loader=yaml.CSafeLoader))
    with KongEmulator(mode="dbless") as emu, httpx.Client(base_url=emu.url, timeout=5) as c:
        emu.load_config({**UNOWNED, "consumers": [{"username": "ops", "keyauth_credentials": [{"key": "k"}],
                                                   "acls": [{"group": "g", "tags": ["t"]}]}]})
        checks = [("/key-auths", ee, "/key-auths"), ("/acls", ee, "/acls"), ("/services", ee, "/services"),
                  ("/routes", ee, "/routes"), ("/plugins", ee, "/plugins"), ("/consumers", ee, "/consumers"),
                  ("/upstreams", ee, "/upstreams"), ("/", oss, "/"), ("/config", oss, "/config"),
                  ("/vaults", oss, "/vaults"), ("/vaults/ops-env", oss, "/vaults/{vault_id_or_prefix}"),
                  ("/keys", oss, "/keys"), ("/keys/ops-signing", oss, "/keys/{key_id_or_name}"),
                  ("/keys/ops-jwk", oss, "/keys/{key_id_or_name}"), ("/status", oss, "/status"),
                  ("/consumers/ops", oss, "/consumers/{consumer_username_or_id}"),
                  ("/services/legacy", oss, "/services/{service_id_or_name}")]
        checked = 0
        for url, doc, spec_path in checks:
            body = c.get(url).json()
            OAS30Validator(_response_schema(doc, spec_path)).validate(body)
            checked += 1
        service = c.get("/services/legacy").json()
        OAS30Validator(_nullable(_resolve(oss["components"]["schemas"]["Service"], oss["components"]["schemas"]))
                       ).validate(service)
        unauthorized = oss["components"]["schemas"]["UnauthorizedError"]
    assert checked == len(checks)
    with KongEmulator(mode="postgres") as emu, httpx.Client(base_url=emu.url, timeout=5) as c:
        emu.load_config(UNOWNED)
        for url, spec_path in (("/status", "/status"), ("/vaults", "/vaults"), ("/keys", "/keys")):
            OAS30Validator(_response_schema(oss, spec_path)).validate(c.get(url).json())
        created = c.post("/vaults", json={"name": "env", "prefix": "new-env"})
        assert created.status_code == 201
        OAS30Validator(_nullable(_resolve(oss["components"]["schemas"]["Vault"], oss["components"]["schemas"]))
                       ).validate(created.json())
    with KongEmulator(mode="dbless", admin_token="tok") as emu, httpx.Client(base_url=emu.url, timeout=5) as c:
        response = c.get("/services")
        assert response.status_code == 401
        OAS30Validator(unauthorized).validate(response.json())
