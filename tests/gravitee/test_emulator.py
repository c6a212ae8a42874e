"""The emulator enforces Gravitee's contract: auth, lifecycle, plans, subscriptions, paging, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.emulators import emulator_class
from reconciler.emulators.gravitee import GraviteeEmulator

V2 = "/management/v2/organizations/DEFAULT/environments/DEFAULT"
SHORT = "/management/v2/environments/DEFAULT"
V1 = "/management/organizations/DEFAULT/environments/DEFAULT"


def api_body(name: str = "pets", path: str = "/pets") -> dict[str, Any]:
    return {"name": name, "apiVersion": "1.0", "definitionVersion": "V4", "type": "PROXY",
            "listeners": [{"type": "HTTP", "paths": [{"path": path}], "entrypoints": [{"type": "http-proxy"}]}],
            "endpointGroups": [{"name": "default", "type": "http-proxy",
                                "endpoints": [{"name": "e", "type": "http-proxy",
                                               "configuration": {"target": "https://x.example.com"}}]}]}


def plan_body(name: str = "p", security: str = "API_KEY") -> dict[str, Any]:
    return {"definitionVersion": "V4", "name": name, "security": {"type": security}, "validation": "AUTO",
            "mode": "STANDARD", "characteristics": []}


@pytest.fixture
def c(emulator: GraviteeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, auth=("admin", "admin"), timeout=5) as client:
        yield client


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_registered_and_built_from_credentials() -> None:
    assert emulator_class("gravitee") is GraviteeEmulator
    emu = GraviteeEmulator.from_credentials({"username": "u", "password": "p"}, {})
    assert isinstance(emu, GraviteeEmulator) and (emu.username, emu.password) == ("u", "p")


def test_basic_auth_is_required(emulator: GraviteeEmulator) -> None:
    with httpx.Client(base_url=emulator.url) as anon:
        body = error(anon.get(f"{V2}/apis"), 401)
        assert set(body) >= {"httpStatus", "message", "technicalCode", "details"}
        assert anon.get(f"{V2}/apis", auth=("admin", "wrong")).status_code == 401


def test_short_and_organization_paths_share_the_default_environment(c: httpx.Client) -> None:
    created = c.post(f"{SHORT}/apis", json=api_body())
    assert created.status_code == 201
    assert [a["id"] for a in c.get(f"{V2}/apis").json()["data"]] == [created.json()["id"]]
    assert c.get(V2).json()["organizationId"] == "DEFAULT"


def test_create_validates_and_rejects_a_used_path(c: httpx.Client) -> None:
    body = error(c.post(f"{V2}/apis", json={**api_body(), "listeners": []}), 400)
    assert body["details"][0]["location"] == "listeners"
    assert c.post(f"{V2}/apis", json=api_body()).status_code == 201
    assert error(c.post(f"{V2}/apis", json=api_body("other", "/pets/")), 400)["technicalCode"] == "api.path.alreadyExists"


def test_api_is_created_stopped_and_ignores_labels_on_create(c: httpx.Client) -> None:
    api = c.post(f"{V2}/apis", json={**api_body(), "labels": ["x"]}).json()
    assert (api["state"], api["deploymentState"], api["lifecycleState"]) == ("STOPPED", "NEED_REDEPLOY", "CREATED")
    assert api["labels"] == []


def test_the_list_has_deployment_state_only_when_expanded(c: httpx.Client) -> None:
    """ApisResource.getApis computes deploymentState only for `?expands=deploymentState` (4.12.x)."""
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    [plain] = c.get(f"{V2}/apis").json()["data"]
    [expanded] = c.get(f"{V2}/apis", params={"expands": "deploymentState"}).json()["data"]
    assert "deploymentState" not in plain and expanded["deploymentState"] == "NEED_REDEPLOY"
    assert c.get(f"{V2}/apis/{api_id}").json()["deploymentState"] == "NEED_REDEPLOY"


def test_start_stop_answer_400_when_already_in_that_state(c: httpx.Client) -> None:
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    assert error(c.post(f"{V2}/apis/{api_id}/_stop"), 400)["technicalCode"] == "api.alreadyStopped"
    assert c.post(f"{V2}/apis/{api_id}/_start").status_code == 204
    assert c.get(f"{V2}/apis/{api_id}").json()["deploymentState"] == "DEPLOYED"  # the first start deploys
    assert error(c.post(f"{V2}/apis/{api_id}/_start"), 400)["technicalCode"] == "api.alreadyStarted"


def test_changes_need_a_deployment(c: httpx.Client, emulator: GraviteeEmulator) -> None:
    api = c.post(f"{V2}/apis", json=api_body()).json()
    c.post(f"{V2}/apis/{api['id']}/_start")
    update = {**api_body(), "description": "new"}
    assert c.put(f"{V2}/apis/{api['id']}", json=update).json()["deploymentState"] == "NEED_REDEPLOY"
    emulator.fail_next_deployments = 1
    assert error(c.post(f"{V2}/apis/{api['id']}/deployments", json={}), 500)["technicalCode"] == "api.deployment.failed"
    assert c.get(f"{V2}/apis/{api['id']}").json()["deploymentState"] == "NEED_REDEPLOY"
    assert c.post(f"{V2}/apis/{api['id']}/deployments", json={"deploymentLabel": "x"}).status_code == 202
    assert c.get(f"{V2}/apis/{api['id']}").json()["deploymentState"] == "DEPLOYED"
    assert error(c.post(f"{V2}/apis/{api['id']}/deployments", json={"deploymentLabel": "x" * 33}), 400)


def test_started_api_cannot_be_deleted_and_open_plans_need_close_plans(c: httpx.Client) -> None:
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    c.post(f"{V2}/apis/{api_id}/plans", json=plan_body())
    c.post(f"{V2}/apis/{api_id}/_start")
    assert error(c.delete(f"{V2}/apis/{api_id}"), 400)["technicalCode"] == "api.running"
    c.post(f"{V2}/apis/{api_id}/_stop")
    assert error(c.delete(f"{V2}/apis/{api_id}"), 400)["technicalCode"] == "api.plans.notClosed"
    assert c.delete(f"{V2}/apis/{api_id}", params={"closePlans": "true"}).status_code == 204
    assert error(c.get(f"{V2}/apis/{api_id}"), 404)["technicalCode"] == "api.notFound"


def test_plans_are_staging_until_published_and_hidden_from_default_list(c: httpx.Client) -> None:
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    plan = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body()).json()
    assert plan["status"] == "STAGING"
    assert c.get(f"{V2}/apis/{api_id}/plans").json()["data"] == []
    assert len(c.get(f"{V2}/apis/{api_id}/plans", params={"statuses": "STAGING,PUBLISHED"}).json()["data"]) == 1
    assert c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish").json()["status"] == "PUBLISHED"
    assert error(c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish"), 400)["technicalCode"] == "plan.alreadyPublished"


def test_only_one_keyless_plan_can_be_published(c: httpx.Client) -> None:
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    first = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("a", "KEY_LESS")).json()
    second = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("b", "KEY_LESS")).json()
    c.post(f"{V2}/apis/{api_id}/plans/{first['id']}/_publish")
    assert error(c.post(f"{V2}/apis/{api_id}/plans/{second['id']}/_publish"), 400)["technicalCode"] == \
        "plan.keyless.alreadyPublished"


def test_subscriptions_rules(c: httpx.Client, emulator: GraviteeEmulator) -> None:
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    keyless = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("open", "KEY_LESS")).json()
    keyed = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("key")).json()
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    other = c.post(f"{V1}/applications", json={"name": "other", "description": "d"}).json()
    sub = {"applicationId": app["id"], "planId": keyed["id"], "customApiKey": "custom-key-123"}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub), 400)["technicalCode"] == "plan.notPublished"
    for plan in (keyless, keyed):
        c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish")
    body = error(c.post(f"{V2}/apis/{api_id}/subscriptions", json={**sub, "planId": keyless["id"]}), 400)
    assert body["technicalCode"] == "plan.keyless.notSubscribable"
    created = c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub)
    assert created.status_code == 201 and created.json()["status"] == "ACCEPTED"
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub), 400)["technicalCode"] == "subscription.alreadyExists"
    taken = {"applicationId": other["id"], "planId": keyed["id"], "customApiKey": "custom-key-123"}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=taken), 400)["technicalCode"] == "apiKey.alreadyExists"
    keys = c.get(f"{V2}/apis/{api_id}/subscriptions/{created.json()['id']}/api-keys").json()["data"]
    assert [k["key"] for k in keys] == ["custom-key-123"]
    v1_subs = c.get(f"{V1}/applications/{app['id']}/subscriptions", params={"status": "ACCEPTED"}).json()
    assert [(s["api"], s["plan"]) for s in v1_subs["data"]] == [(api_id, keyed["id"])]
    assert c.post(f"{V2}/apis/{api_id}/subscriptions/{created.json()['id']}/_close").json()["status"] == "CLOSED"


def test_paging_envelope_and_past_the_last_page(c: httpx.Client) -> None:
    for i in range(3):
        c.post(f"{V2}/apis", json=api_body(f"a{i}", f"/a{i}"))
    body = c.get(f"{V2}/apis", params={"page": 2, "perPage": 2}).json()
    assert body["pagination"] == {"page": 2, "perPage": 2, "pageCount": 2, "pageItemsCount": 1, "totalCount": 3}
    assert "previous" in body["links"] and "next" not in body["links"]
    assert error(c.get(f"{V2}/apis", params={"page": 3, "perPage": 2}), 400)["technicalCode"] == "pagination.invalid"
    found = c.post(f"{V2}/apis/_search", json={"query": "a1"}).json()["data"]
    assert [a["name"] for a in found] == ["a1"]


def test_v1_applications_errors_and_archive(c: httpx.Client) -> None:
    assert error(c.post(f"{V1}/applications", json={"name": "x"}), 400) == {
        "message": "[description] must not be null", "http_status": 400}
    app = c.post(f"{V1}/applications", json={"name": "x", "description": "d"}).json()
    paged = c.get(f"{V1}/applications/_paged", params={"size": 10}).json()
    assert [a["id"] for a in paged["data"]] == [app["id"]] and paged["page"]["total_elements"] == 1
    assert c.delete(f"{V1}/applications/{app['id']}").status_code == 204
    assert c.get(f"{V1}/applications").json() == []
    assert error(c.get(f"{V1}/applications/{app['id']}"), 404)["http_status"] == 404


def test_reconciler_emulate_gravitee_serves_on_the_given_port() -> None:
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "GIO_USER": "ops", "GIO_PASSWORD": "ops-password"}
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulate", "gravitee", "--port", str(port),
                             "--username-env", "GIO_USER", "--password-env", "GIO_PASSWORD"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{V2}/apis", auth=("ops", "ops-password"), timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "emulator did not start"
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["data"] == []
        assert httpx.get(f"http://127.0.0.1:{port}{V2}/apis", auth=("admin", "admin")).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
