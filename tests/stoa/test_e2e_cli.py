"""End to end through `reconciler.cli.main` against the STOA emulator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e

TOKEN = "cli-e2e-admin-token"
MOBILE_KEY = "mobile-key-0123456789"
PARTNER_KEY = "partner-key-9876543210"


@pytest.fixture
def emulator() -> Iterator[StoaEmulator]:
    with StoaEmulator(admin_token=TOKEN) as emu:
        yield emu


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOA_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("MOBILE_APP_API_KEY", MOBILE_KEY)
    monkeypatch.setenv("PARTNER_PORTAL_API_KEY", PARTNER_KEY)


def run(command: str, repo: Path, emulator: StoaEmulator, *extra: str) -> int:
    return run_cli(command, repo, {"stoa-dev": emulator.url}, *extra)


def admin(emulator: StoaEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


def test_apply_then_second_apply_writes_nothing(stoa_example_repo: Path, emulator: StoaEmulator, env: None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", stoa_example_repo, emulator) == 0
    with admin(emulator) as c:
        routes = {r["id"] for r in c.get("/admin/apis").json()}
        policies = {p["id"] for p in c.get("/admin/policies").json()}
        creds = {(x["route_id"], x["consumer_id"]) for x in c.get("/admin/consumer-credentials").json()}
    assert routes == {"platform.orders", "platform.pets"}
    assert policies == {"platform.pets-rate-limit", "platform.pets-cors", "platform.orders-rate-limit"}
    assert creds == {("platform.pets", "platform.mobile-app"), ("platform.orders", "platform.mobile-app"),
                     ("platform.pets", "platform.partner-portal")}
    first_writes = len(emulator.writes)
    assert first_writes == 2 + 3 + 3

    emulator.clear_log()
    assert run("apply", stoa_example_repo, emulator) == 0
    assert emulator.writes == []
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode") == 0
    assert emulator.writes == []
    out = capsys.readouterr()
    for secret in (TOKEN, MOBILE_KEY, PARTNER_KEY):
        assert secret not in out.out and secret not in out.err


def test_drift_is_planned_and_healed(stoa_example_repo: Path, emulator: StoaEmulator, env: None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", stoa_example_repo, emulator) == 0
    with admin(emulator) as c:
        c.post("/admin/policies", json={"id": "platform.pets-rate-limit", "name": "pets-rate-limit",
                                        "policy_type": "rate_limit", "config": {"maxRequests": 5, "intervalSeconds": 60},
                                        "priority": 100, "api_id": "platform.pets"})
        c.post("/admin/consumer-credentials", json={"route_id": "platform.orders", "consumer_id": "platform.mobile-app",
                                                    "auth_type": "api_key", "header_name": "X-API-Key",
                                                    "header_value": "leaked-and-replaced"})
        c.delete("/admin/apis/platform.orders")
    capsys.readouterr()
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode", "--format", "json") == 2
    plan = json.loads(capsys.readouterr().out)
    text = json.dumps(plan)
    assert "pets-rate-limit" in text and "orders" in text and "mobile-app" in text
    assert "leaked-and-replaced" not in text and MOBILE_KEY not in text

    emulator.clear_log()
    assert run("apply", stoa_example_repo, emulator) == 0
    assert {(w.method, w.path) for w in emulator.writes} >= {("POST", "/admin/policies"), ("POST", "/admin/apis"),
                                                             ("POST", "/admin/consumer-credentials")}
    emulator.clear_log()
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode") == 0
    assert run("apply", stoa_example_repo, emulator) == 0 and emulator.writes == []


def test_restart_is_healed_by_the_next_apply(stoa_example_repo: Path, emulator: StoaEmulator, env: None) -> None:
    assert run("apply", stoa_example_repo, emulator) == 0
    emulator.restart()
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode") == 2
    assert run("apply", stoa_example_repo, emulator) == 0
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode") == 0


def test_prune_deletes_owned_objects_only(stoa_example_repo: Path, emulator: StoaEmulator, env: None) -> None:
    assert run("apply", stoa_example_repo, emulator) == 0
    with admin(emulator) as c:
        assert c.post("/admin/apis", json={"id": "legacy", "name": "legacy", "tenant_id": "ops", "path_prefix": "/legacy",
                                           "backend_url": "https://legacy.example.com"}).status_code == 201
        assert c.post("/admin/apis", json={"id": "team-b.inventory", "name": "inventory", "tenant_id": "b",
                                           "path_prefix": "/inv", "backend_url": "https://inv.example.com"}).status_code == 201
        c.post("/admin/policies", json={"id": "quota-legacy", "name": "quota", "policy_type": "rate_limit",
                                        "config": {"maxRequests": 1, "intervalSeconds": 60}, "priority": 50,
                                        "api_id": "legacy"})
        c.post("/admin/consumer-credentials", json={"route_id": "legacy", "consumer_id": "someone",
                                                    "auth_type": "api_key", "header_name": "X-API-Key",
                                                    "header_value": "theirs"})
    # drop the orders API, its policy, and the mobile app's orders subscription from the repo
    (stoa_example_repo / "apis" / "orders.yaml").unlink()
    policies = (stoa_example_repo / "policies" / "pets.yaml").read_text()
    (stoa_example_repo / "policies" / "pets.yaml").write_text(policies.split("\n---\napiVersion: gostoa.dev/v1alpha1\n"
                                                                        "kind: Policy\nmetadata:\n  name: orders")[0])
    consumers = stoa_example_repo / "consumers" / "mobile-app.yaml"
    consumers.write_text(consumers.read_text().replace("subscriptions: [pets, orders]", "subscriptions: [pets]"))

    emulator.clear_log()
    assert run("apply", stoa_example_repo, emulator) == 0
    deleted = sorted(w.path for w in emulator.writes if w.method == "DELETE")
    assert deleted == ["/admin/apis/platform.orders", "/admin/consumer-credentials/platform.orders/platform.mobile-app",
                       "/admin/policies/platform.orders-rate-limit"]
    with admin(emulator) as c:
        assert {r["id"] for r in c.get("/admin/apis").json()} == {"platform.pets", "legacy", "team-b.inventory"}
        assert "quota-legacy" in {p["id"] for p in c.get("/admin/policies").json()}
        assert ("legacy", "someone") in {(x["route_id"], x["consumer_id"])
                                         for x in c.get("/admin/consumer-credentials").json()}
    emulator.clear_log()
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode") == 0


def test_unowned_route_is_a_conflict_until_adopted(stoa_example_repo: Path, emulator: StoaEmulator, env: None) -> None:
    legacy = {"id": "pets", "name": "pets", "tenant_id": "acme", "path_prefix": "/pets",
              "backend_url": "https://old-pets.example.com"}
    with admin(emulator) as c:
        assert c.post("/admin/apis", json=legacy).status_code == 201
    emulator.clear_log()
    assert run("apply", stoa_example_repo, emulator) == 1  # the conflict, and consumers of pets cannot attach
    with admin(emulator) as c:
        assert c.get("/admin/apis/pets").json()["backend_url"] == "https://old-pets.example.com"
        assert c.get("/admin/apis/platform.pets").status_code == 404
    assert not [w for w in emulator.writes if w.path.startswith("/admin/apis") and w.json() and
                w.json().get("name") == "pets"]

    assert run("apply", stoa_example_repo, emulator, "--adopt") == 0
    with admin(emulator) as c:
        assert c.get("/admin/apis/pets").status_code == 404  # re-keyed: the owner is part of the id
        assert c.get("/admin/apis/platform.pets").json()["backend_url"] == "https://petstore.example.com/v1"
    emulator.clear_log()
    assert run("plan", stoa_example_repo, emulator, "--detailed-exitcode") == 0
    assert emulator.writes == []
