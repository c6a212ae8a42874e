"""`reconciler import` on Kong, database mode and DB-less: services, routes, plugins, consumers, key-auth
credentials and ACL groups made by hand through the Admin API (as an operator or decK would), then adopted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulators.kong import KongEmulator
from tests.conftest import run_cli
from tests.importer.roundtrip import changes_of, gateway_repo, plan_json, round_trip

pytestmark = pytest.mark.e2e

TOKEN = "kong-import-admin-token"
KEYS = {"mobile": "mobile-legacy-key-0042", "partner": "partner-legacy-key-0077"}
GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: kong-prod}
spec:
  displayName: Kong (prod)
  gatewayType: kong
  environment: prod
  baseUrl: http://127.0.0.1:1
  credentials:
    token: {env: KONG_ADMIN_TOKEN}
"""
EXPECT = {("API", "pets"), ("API", "orders"), ("Policy", "pets-rate-limiting"), ("Policy", "pets-cors"),
          ("Consumer", "mobile"), ("Consumer", "partner")}
RATE = {"name": "rate-limiting", "config": {"minute": 100}}
CORS = {"name": "cors", "instance_name": "pets-cors",
        "config": {"origins": ["https://app.example.com"], "methods": ["GET", "POST"], "max_age": 600}}
AUTH = [{"name": "key-auth"}]


def acl(group: str) -> dict[str, Any]:
    return {"name": "acl", "config": {"allow": [group]}}


#: What an operator's declarative file (decK / kong.yml) holds: no tags, Kong fills the defaults.
DECLARATIVE: dict[str, Any] = {
    "_format_version": "3.0",
    "services": [
        {"name": "pets", "url": "https://pets.example.com/v1",
         "routes": [{"name": "pets-route", "paths": ["/pets"], "methods": ["GET", "POST"]}],
         "plugins": [*AUTH, acl("pets"), RATE, CORS]},
        {"name": "orders", "url": "http://orders.internal:8080", "retries": 3,
         "routes": [{"name": "orders", "paths": ["/orders"], "methods": ["GET"], "hosts": ["api.example.com"]}],
         "plugins": [*AUTH, acl("orders")]},
    ],
    "plugins": [{"name": "prometheus"}],
    "consumers": [
        {"username": "mobile", "custom_id": "m-1", "keyauth_credentials": [{"key": KEYS["mobile"]}],
         "acls": [{"group": "pets"}, {"group": "orders"}]},
        {"username": "partner", "keyauth_credentials": [{"key": KEYS["partner"]}],
         "acls": [{"group": "pets"}, {"group": "beta-testers"}]},
        {"username": "ops", "basicauth_credentials": [{"username": "ops", "password": "ops-basic-pw"}]},
    ],
}
SECRETS = (TOKEN, *KEYS.values(), "ops-basic-pw")


def admin(kong: KongEmulator) -> httpx.Client:
    return httpx.Client(base_url=kong.url, headers={"Kong-Admin-Token": TOKEN}, timeout=5)


def seed(kong: KongEmulator) -> None:
    """DB-less: one `POST /config` of the operator's file. Database mode: the same objects one
    Admin API call each, by name, as Kong Manager or curl would make them."""
    with admin(kong) as c:
        if kong.mode == "dbless":
            assert c.post("/config", json=DECLARATIVE).status_code == 201
            return
        for service in DECLARATIVE["services"]:
            body = {k: v for k, v in service.items() if k not in ("routes", "plugins")}
            assert c.post("/services", json=body).status_code == 201
            for route in service["routes"]:
                assert c.post(f"/services/{service['name']}/routes", json=route).status_code == 201
            for plugin in service["plugins"]:
                assert c.post(f"/services/{service['name']}/plugins", json=plugin).status_code == 201
        assert c.post("/plugins", json={"name": "prometheus"}).status_code == 201
        for consumer in DECLARATIVE["consumers"]:
            assert c.post("/consumers", json={k: v for k, v in consumer.items() if k in ("username", "custom_id")}
                          ).status_code == 201
            user = consumer["username"]
            for cred in consumer.get("keyauth_credentials", []):
                assert c.post(f"/consumers/{user}/key-auth", json=cred).status_code == 201
            for group in consumer.get("acls", []):
                assert c.post(f"/consumers/{user}/acls", json=group).status_code == 201
            for cred in consumer.get("basicauth_credentials", []):
                assert c.post(f"/consumers/{user}/basic-auth", json=cred).status_code == 201


@pytest.fixture(params=["postgres", "dbless"])
def kong(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[KongEmulator]:
    monkeypatch.setenv("KONG_ADMIN_TOKEN", TOKEN)
    for name, key in KEYS.items():
        monkeypatch.setenv(f"{name.upper()}_API_KEY", key)
    with KongEmulator(mode=request.param, admin_token=TOKEN) as emu:
        seed(emu)
        yield emu


def test_import_then_adopt_round_trip(tmp_path: Path, kong: KongEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    endpoints = {"kong-prod": kong.url}
    report = round_trip(repo, "kong-prod", endpoints, capsys, expect=EXPECT)
    assert "MOBILE_API_KEY" in report and "PARTNER_API_KEY" in report
    for expected in ("tenant", "version", "retries=3", "hosts=['api.example.com']", "custom_id",
                     "beta-testers", "prometheus", "Consumer ops"):
        assert expected in report, (expected, report)
    written = [p.read_text() for p in (repo / "imported").rglob("*.yaml")]
    for secret in SECRETS:
        assert secret not in report and all(secret not in text for text in written)
    with admin(kong) as c:  # adopted in place: same entities, now tagged; the operator's names kept
        assert c.get("/routes/pets-route").json()["service"]["id"] == c.get("/services/pets").json()["id"]
        assert c.get("/plugins").json()["data"]
        keys = c.get("/key-auths").json()["data"]
        assert sorted(k["key"] for k in keys) == sorted(KEYS.values())
        assert all("managed-by:stoa-reconciler" in (k["tags"] or []) for k in keys)
        groups = {(a["group"], "managed-by:stoa-reconciler" in (a["tags"] or [])) for a in c.get("/acls").json()["data"]}
        assert groups == {("pets", True), ("orders", True), ("beta-testers", False)}
        assert c.get("/services/orders").json()["retries"] == 3
        assert c.get("/routes/orders").json()["hosts"] == ["api.example.com"]
        assert c.get("/consumers/mobile").json()["custom_id"] == "m-1"
        assert c.get("/consumers/ops/basic-auth").json()["data"][0]["username"] == "ops"
    kong.clear_log()
    assert run_cli("apply", repo, endpoints) == 0
    assert kong.writes == []
    out = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out.out and secret not in out.err


def test_plan_sees_unmanaged_objects_as_conflicts_or_adoptions(tmp_path: Path, kong: KongEmulator,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    endpoints = {"kong-prod": kong.url}
    assert run_cli("import", repo, endpoints, "--gateway", "kong-prod", "--unowned") == 0
    capsys.readouterr()
    assert run_cli("plan", repo, endpoints, "--format", "json") in (0, 2)
    plain = changes_of(json.loads(capsys.readouterr().out))
    assert {(c["kind"], c["name"], c["op"]) for c in plain} == {(k, n, "conflict") for k, n in EXPECT}
    adopting = changes_of(plan_json(repo, endpoints, capsys, "--adopt"))
    assert {(c["kind"], c["name"], c["op"], c["adopt"]) for c in adopting} == {(k, n, "update", True) for k, n in EXPECT}
    api = next(c for c in adopting if c["name"] == "pets")
    assert any("tenant, version" in note for note in api["notes"]), api["notes"]
    kong.clear_log()
    assert run_cli("apply", repo, endpoints) != 0  # without --adopt nothing is taken over
    assert kong.writes == []


# ------------------------------------------------------------------ import specs (pure)
def test_manifest_methods_are_the_manifest_models() -> None:
    from reconciler.adapters.kong.importing import MANIFEST_METHODS
    from reconciler.manifests.models import HttpMethod

    assert sorted(MANIFEST_METHODS) == sorted(m.value for m in HttpMethod)


def test_what_an_operator_object_holds_beyond_the_model_is_reported() -> None:
    from reconciler.adapters.kong import mappers as m
    from reconciler.adapters.kong.importing import import_spec

    service = {"id": "s1", "name": "open", "protocol": "http", "host": "open.internal", "port": 80, "path": None,
               "retries": 5, "tags": None}
    route = {"id": "r1", "name": "open", "paths": ["/open", "/legacy"], "methods": None, "strip_path": False,
             "tags": None}
    record = m.api_from_kong(service, route, [], [route])
    imported = import_spec("API", record, protect_apis=True)
    assert imported.spec is not None and imported.spec["methods"] == sorted(imported.spec["methods"])
    assert len(imported.spec["methods"]) == 7 and imported.spec["backend"] == "http://open.internal/"
    text = " | ".join(imported.notes)
    for expected in ("every method", "strip_path=false", "['/legacy']", "protection is 'none'", "tenant", "version"):
        assert expected in text, (expected, text)
    assert "retries" not in text  # Kong's default is not worth a note
    assert import_spec("API", m.api_from_kong(service, None, []), protect_apis=False).spec is None

    cors = {"id": "p1", "name": "cors", "tags": None, "enabled": False, "service": {"id": "s1"},
            "config": {"origins": None, "methods": ["GET"], "max_age": None, "preflight_continue": True}}
    policy = m.plugin_to_policy(cors, "open")
    assert policy is not None and policy["name"] == "open-cors"
    imported = import_spec("Policy", policy, protect_apis=True)
    assert imported.spec is not None and imported.spec["cors"]["maxAge"] == 3600
    assert imported.spec["cors"]["origins"] == ["*"]
    text = " | ".join(imported.notes)
    assert "preflight_continue=True" in text and "disabled" in text and "max_age" in text

    limited = {"id": "p2", "name": "rate-limiting", "tags": None, "service": {"id": "s1"},
               "config": {"minute": 10, "policy": "redis", "limit_by": "ip"}}
    policy = m.plugin_to_policy(limited, "open")
    assert policy is not None
    imported = import_spec("Policy", policy, protect_apis=True)
    assert imported.spec == {"api": "open", "type": "rate_limit", "rateLimit": {"requests": 10, "period": "minute"}}
    assert any("policy='redis'" in n for n in imported.notes) and any("limit_by='ip'" in n for n in imported.notes)

    ops = m.consumer_from_kong({"id": "c1", "username": "ops", "tags": None}, [], [], frozenset())
    imported = import_spec("Consumer", ops, protect_apis=True)
    assert imported.spec is None and "no key-auth credential" in imported.notes[0]
    two = [{"id": f"k{i}", "key": f"key-{i}", "tags": None} for i in range(2)]
    mobile = m.consumer_from_kong({"id": "c2", "username": "mobile", "tags": None}, two,
                                  [{"group": "open", "tags": None}, {"group": "admins", "tags": None}],
                                  frozenset({"open"}))
    imported = import_spec("Consumer", mobile, protect_apis=True)
    assert imported.spec is not None and imported.spec["subscriptions"] == ["open"]
    assert imported.spec["credential"] == {"type": "apiKey", "secretRef": {"env": "MOBILE_API_KEY"}}
    text = " | ".join(imported.notes)
    assert "2 key-auth credentials" in text and "['admins']" in text and "key-0" not in text
