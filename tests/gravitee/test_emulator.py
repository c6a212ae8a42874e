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
    """management-v2-security BasicSecurityConfigurerAdapter: httpBasic, realm "Gravitee.io Management API"."""
    with httpx.Client(base_url=emulator.url) as anon:
        response = anon.get(f"{V2}/apis")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Gravitee.io Management API"'
        assert anon.get(f"{V2}/apis", auth=("admin", "wrong")).status_code == 401
        assert anon.get(f"{V1}/applications", auth=("admin", "wrong")).status_code == 401
        assert anon.get(f"{V2}/apis", auth=("admin", "admin")).status_code == 200


def test_short_and_organization_paths_share_the_default_environment(c: httpx.Client) -> None:
    created = c.post(f"{SHORT}/apis", json=api_body())
    assert created.status_code == 201
    assert [a["id"] for a in c.get(f"{V2}/apis").json()["data"]] == [created.json()["id"]]
    assert c.get(V2).json()["organizationId"] == "DEFAULT"


def test_create_validates_and_rejects_an_overlapping_path(c: httpx.Client) -> None:
    """VerifyApiPathDomainService -> ApiPathExtractor.findConflictingPathError: a path that is a prefix of another
    (either way) is taken; InvalidPathsException carries no technical code."""
    body = error(c.post(f"{V2}/apis", json={**api_body(), "listeners": []}), 400)
    assert body["details"][0]["location"] == "listeners"
    assert c.post(f"{V2}/apis", json=api_body()).status_code == 201
    assert error(c.post(f"{V2}/apis", json=api_body("other", "/pets/")), 400) == {
        "httpStatus": 400, "message": "Path [/pets/] already exists", "parameters": {}}
    assert error(c.post(f"{V2}/apis", json=api_body("v2", "/pets/v2")), 400)["message"] == "Path [/pets/] already exists"
    assert error(c.post(f"{V2}/apis", json=api_body("root", "/")), 400)["message"] == "Path [/pets/] already exists"
    assert c.post(f"{V2}/apis", json=api_body("petshop", "/petshop")).status_code == 201
    # core/api/model/Path.sanitizePath: leading and trailing slash added, duplicate slashes removed.
    stored = c.post(f"{V2}/apis", json=api_body("shop", "shop//v1")).json()
    assert stored["listeners"][0]["paths"][0]["path"] == "/shop/v1/"
    assert error(c.post(f"{V2}/apis", json=api_body("bad", "/a b")), 400)["message"] == "Path [/a b] is invalid"


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
    """ApiResource.checkApiLifeCycle (BadRequestException, no technical code); ApiStateServiceImpl.start needs a
    published plan (canDeploy, api.NotDeployable) and deploys the first time (deployLastPublishedAPI)."""
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    assert error(c.post(f"{V2}/apis/{api_id}/_stop"), 400) == {"httpStatus": 400, "message": "API is already stopped"}
    assert error(c.post(f"{V2}/apis/{api_id}/_start"), 400)["technicalCode"] == "api.NotDeployable"
    plan = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("open", "KEY_LESS")).json()
    c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish")
    assert c.post(f"{V2}/apis/{api_id}/_start").status_code == 204
    assert c.get(f"{V2}/apis/{api_id}").json()["deploymentState"] == "DEPLOYED"  # the first start deploys
    assert error(c.post(f"{V2}/apis/{api_id}/_start"), 400) == {"httpStatus": 400, "message": "API is already started"}


def test_changes_need_a_deployment(c: httpx.Client, emulator: GraviteeEmulator) -> None:
    api = c.post(f"{V2}/apis", json=api_body()).json()
    plan = c.post(f"{V2}/apis/{api['id']}/plans", json=plan_body("open", "KEY_LESS")).json()
    c.post(f"{V2}/apis/{api['id']}/plans/{plan['id']}/_publish")
    assert c.post(f"{V2}/apis/{api['id']}/_start").status_code == 204
    update = {**api_body(), "description": "new"}
    assert c.put(f"{V2}/apis/{api['id']}", json=update).json()["deploymentState"] == "NEED_REDEPLOY"
    emulator.fail_next_deployments = 1
    assert error(c.post(f"{V2}/apis/{api['id']}/deployments", json={}), 500)["technicalCode"] == "api.deployment.failed"
    assert c.get(f"{V2}/apis/{api['id']}").json()["deploymentState"] == "NEED_REDEPLOY"
    assert c.post(f"{V2}/apis/{api['id']}/deployments", json={"deploymentLabel": "x"}).status_code == 202
    assert c.get(f"{V2}/apis/{api['id']}").json()["deploymentState"] == "DEPLOYED"
    assert error(c.post(f"{V2}/apis/{api['id']}/deployments", json={"deploymentLabel": "x" * 33}), 400)


def test_started_api_cannot_be_deleted_and_published_plans_need_close_plans(c: httpx.Client) -> None:
    """v4 ApiServiceImpl.delete: STARTED -> api.running; PUBLISHED plans without closePlans -> api.notDeletable
    (a STAGING plan does not block)."""
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    plan = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body()).json()
    c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish")
    c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("staging"))
    c.post(f"{V2}/apis/{api_id}/_start")
    assert error(c.delete(f"{V2}/apis/{api_id}"), 400)["technicalCode"] == "api.running"
    c.post(f"{V2}/apis/{api_id}/_stop")
    body = error(c.delete(f"{V2}/apis/{api_id}"), 400)
    assert (body["technicalCode"], body["message"]) == ("api.notDeletable", "Plan(s) [['p']] must be closed before "
                                                                             "being able to delete the API !")
    assert c.delete(f"{V2}/apis/{api_id}", params={"closePlans": "true"}).status_code == 204
    assert error(c.get(f"{V2}/apis/{api_id}"), 404) == {"httpStatus": 404, "message": f"Api [{api_id}] cannot be found.",
                                                         "technicalCode": "api.notFound", "parameters": {"api": api_id}}
    other = c.post(f"{V2}/apis", json=api_body("o", "/o")).json()["id"]
    c.post(f"{V2}/apis/{other}/plans", json=plan_body("staging"))
    assert c.delete(f"{V2}/apis/{other}").status_code == 204


def test_plans_are_staging_until_published_and_hidden_from_default_list(c: httpx.Client) -> None:
    """CreatePlanUseCase (STAGING); ApiPlansResource.getApiPlans (statuses default PUBLISHED); v4
    PlanServiceImpl.publish (plan.published); a STAGING plan needs no redeploy (isSynchronized)."""
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    first = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("open", "KEY_LESS")).json()
    c.post(f"{V2}/apis/{api_id}/plans/{first['id']}/_publish")
    c.post(f"{V2}/apis/{api_id}/_start")
    plan = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body()).json()
    assert plan["status"] == "STAGING"
    assert c.get(f"{V2}/apis/{api_id}").json()["deploymentState"] == "DEPLOYED"
    assert [p["id"] for p in c.get(f"{V2}/apis/{api_id}/plans").json()["data"]] == [first["id"]]
    assert len(c.get(f"{V2}/apis/{api_id}/plans", params={"statuses": "STAGING,PUBLISHED"}).json()["data"]) == 2
    assert c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish").json()["status"] == "PUBLISHED"
    assert c.get(f"{V2}/apis/{api_id}").json()["deploymentState"] == "NEED_REDEPLOY"
    body = error(c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish"), 400)
    assert (body["technicalCode"], body["message"]) == ("plan.published", f"Plan {plan['id']} is already published !")
    assert c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_close").json()["status"] == "CLOSED"
    assert error(c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_close"), 400)["technicalCode"] == "plan.closed"


def test_only_one_keyless_plan_can_be_published(c: httpx.Client) -> None:
    """v4 PlanServiceImpl.publish: KeylessPlanAlreadyPublishedException when a key-less plan is PUBLISHED or
    DEPRECATED."""
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    first = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("a", "KEY_LESS")).json()
    second = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("b", "KEY_LESS")).json()
    c.post(f"{V2}/apis/{api_id}/plans/{first['id']}/_publish")
    body = error(c.post(f"{V2}/apis/{api_id}/plans/{second['id']}/_publish"), 400)
    assert (body["technicalCode"], body["message"]) == ("plan.keyless.exists",
                                                        "A key-less plan is already published (or has been deprecated)!")
    c.post(f"{V2}/apis/{api_id}/plans/{first['id']}/_deprecate")
    assert error(c.post(f"{V2}/apis/{api_id}/plans/{second['id']}/_publish"), 400)["technicalCode"] == \
        "plan.keyless.exists"


@pytest.fixture
def keys_on() -> Iterator[httpx.Client]:
    """An environment where an admin turned plan.security.apikey.allowCustom.enabled on."""
    with GraviteeEmulator(allow_custom_api_key=True) as emu, \
            httpx.Client(base_url=emu.url, auth=("admin", "admin"), timeout=5) as client:
        yield client


def _keyed_api(c: httpx.Client, name: str = "pets") -> tuple[str, dict[str, Any], dict[str, Any]]:
    api_id = c.post(f"{V2}/apis", json=api_body(name, f"/{name}")).json()["id"]
    keyless = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("open", "KEY_LESS")).json()
    keyed = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body("key")).json()
    return api_id, keyless, keyed


def test_subscriptions_rules(keys_on: httpx.Client) -> None:
    """SubscriptionServiceImpl.create: plan status, keyless, one live subscription per application and plan;
    ApiKeyServiceImpl.canCreate: a key value of another application is taken."""
    c = keys_on
    api_id, keyless, keyed = _keyed_api(c)
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    other = c.post(f"{V1}/applications", json={"name": "other", "description": "d"}).json()
    sub = {"applicationId": app["id"], "planId": keyed["id"], "customApiKey": "custom-key-123"}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub), 400)["technicalCode"] == "plan.notPublished"
    for plan in (keyless, keyed):
        c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish")
    body = error(c.post(f"{V2}/apis/{api_id}/subscriptions", json={**sub, "planId": keyless["id"]}), 400)
    assert (body["technicalCode"], body["message"]) == ("plan.notSubscribable", "A keyless plan is not subscribable!")
    created = c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub)
    assert created.status_code == 201 and created.json()["status"] == "ACCEPTED"
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub), 400)["technicalCode"] == "plan.subscribed"
    taken = {"applicationId": other["id"], "planId": keyed["id"], "customApiKey": "custom-key-123"}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=taken), 400) == {
        "httpStatus": 400, "message": "API Key already exists", "technicalCode": "apiKey.existing"}
    keys = c.get(f"{V2}/apis/{api_id}/subscriptions/{created.json()['id']}/api-keys").json()["data"]
    assert [k["key"] for k in keys] == ["custom-key-123"]
    v1_subs = c.get(f"{V1}/applications/{app['id']}/subscriptions", params={"status": "ACCEPTED"}).json()
    assert [(s["api"], s["plan"]) for s in v1_subs["data"]] == [(api_id, keyed["id"])]
    closed = c.post(f"{V2}/apis/{api_id}/subscriptions/{created.json()['id']}/_close")
    assert closed.json()["status"] == "CLOSED"
    # CloseSubscriptionDomainService.closeSubscription: a closed subscription is returned as it is.
    assert c.post(f"{V2}/apis/{api_id}/subscriptions/{created.json()['id']}/_close").json()["status"] == "CLOSED"
    keys = c.get(f"{V2}/apis/{api_id}/subscriptions/{created.json()['id']}/api-keys").json()["data"]
    assert [k["revoked"] for k in keys] == [True]


def test_a_custom_api_key_is_refused_by_default(c: httpx.Client) -> None:
    """Key.PLAN_SECURITY_APIKEY_CUSTOM_ALLOWED defaults to false; ApiSubscriptionsResource answers 400
    `subscription.invalid` before anything else, on create and on _renew."""
    api_id, _, keyed = _keyed_api(c)
    c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    sub = {"applicationId": app["id"], "planId": keyed["id"], "customApiKey": "custom-key-123"}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=sub), 400) == {
        "httpStatus": 400, "message": "You are not allowed to provide a custom API Key",
        "technicalCode": "subscription.invalid"}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json={**sub, "planId": "nope"}), 400)[
        "technicalCode"] == "subscription.invalid"  # checked before the plan is looked up
    assert c.get(f"{V1}/applications/{app['id']}/subscriptions").json()["data"] == []
    generated = c.post(f"{V2}/apis/{api_id}/subscriptions", json={**sub, "customApiKey": ""})
    assert generated.status_code == 201
    renew = f"{V2}/apis/{api_id}/subscriptions/{generated.json()['id']}/api-keys/_renew"
    assert error(c.post(renew, json={"customApiKey": "custom-key-456"}), 400)["technicalCode"] == "subscription.invalid"
    assert c.post(renew, json={}).status_code == 200
    settings = c.get(f"{V1}/settings").json()["plan"]["security"]
    assert settings["customApiKey"] == {"enabled": False} and settings["customApiKeyReuse"] == {"enabled": False}
    assert settings["sharedApiKey"] == {"enabled": False} and settings["apikey"] == {"enabled": True}
    saved = c.post(f"{V1}/settings", json={"plan": {"security": {"customApiKey": {"enabled": True}}}})
    assert saved.json()["plan"]["security"]["customApiKey"] == {"enabled": True}
    assert c.post(renew, json={"customApiKey": "custom-key-456"}).json()["key"] == "custom-key-456"


def test_one_application_may_use_its_key_on_several_apis_but_not_again_on_one(keys_on: httpx.Client) -> None:
    """ApiKeyServiceImpl.isConflictingKeyForReference: same application, another API -> free; same API
    (a closed subscription's revoked key) -> taken unless allowCustomReuse, which reactivates that key."""
    c = keys_on
    pets, _, pets_plan = _keyed_api(c, "pets")
    orders, _, orders_plan = _keyed_api(c, "orders")
    for api_id, plan in ((pets, pets_plan), (orders, orders_plan)):
        c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    first = c.post(f"{V2}/apis/{pets}/subscriptions", json={"applicationId": app["id"], "planId": pets_plan["id"],
                                                             "customApiKey": "shared-value-1"}).json()
    assert c.post(f"{V2}/apis/{orders}/subscriptions", json={"applicationId": app["id"], "planId": orders_plan["id"],
                                                              "customApiKey": "shared-value-1"}).status_code == 201
    # SubscriptionServiceImpl.updateApplicationApiKeyMode: a second API-key subscription makes it EXCLUSIVE.
    assert c.get(f"{V1}/applications/{app['id']}").json()["api_key_mode"] == "EXCLUSIVE"
    c.post(f"{V2}/apis/{pets}/subscriptions/{first['id']}/_close")
    again = {"applicationId": app["id"], "planId": pets_plan["id"], "customApiKey": "shared-value-1"}
    assert error(c.post(f"{V2}/apis/{pets}/subscriptions", json=again), 400)["technicalCode"] == "apiKey.existing"
    c.post(f"{V1}/settings", json={"plan": {"security": {"customApiKeyReuse": {"enabled": True}}}})
    resub = c.post(f"{V2}/apis/{pets}/subscriptions", json=again).json()
    keys = c.get(f"{V2}/apis/{pets}/subscriptions/{resub['id']}/api-keys").json()["data"]
    assert [(k["key"], k["revoked"], len(k["subscriptions"])) for k in keys] == [("shared-value-1", False, 2)]


def test_renew_expires_the_old_key_two_hours_later(keys_on: httpx.Client) -> None:
    """ApiKeyServiceImpl.renew -> expireApiKeys: the others get expireAt = new key's creation + 2 h."""
    c = keys_on
    api_id, _, keyed = _keyed_api(c)
    c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    sub = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": app["id"], "planId": keyed["id"],
                                                             "customApiKey": "first-key-1"}).json()
    renewed = c.post(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys/_renew", json={"customApiKey": "second-1"})
    assert renewed.json()["key"] == "second-1" and "expireAt" not in renewed.json()
    old = next(k for k in c.get(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys").json()["data"]
               if k["key"] == "first-key-1")
    assert old["revoked"] is False and old["expired"] is False and old["expireAt"] > renewed.json()["createdAt"]


def test_shared_api_key_mode(c: httpx.Client, emulator: GraviteeEmulator) -> None:
    """ApplicationServiceImpl.create: SHARED needs allowShared; ApiKeyServiceImpl.findOrGenerate shares the key;
    renew on a SHARED application is 400 application.apiKeyMode.invalid (checkApplicationDoesntUseSharedApiKey)."""
    shared = {"name": "s", "description": "d", "api_key_mode": "SHARED"}
    assert error(c.post(f"{V1}/applications", json=shared), 400)["technicalCode"] == "application.apiKeyMode.invalid"
    c.post(f"{V1}/settings", json={"plan": {"security": {"sharedApiKey": {"enabled": True}}}})
    app = c.post(f"{V1}/applications", json=shared).json()
    subs = []
    for name in ("pets", "orders"):
        api_id, _, keyed = _keyed_api(c, name)
        c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_publish")
        subs.append((api_id, c.post(f"{V2}/apis/{api_id}/subscriptions",
                                    json={"applicationId": app["id"], "planId": keyed["id"]}).json()))
    [key] = emulator.env().api_keys.values()
    assert sorted(key["subscriptions"]) == sorted(s["id"] for _, s in subs)
    api_id, sub = subs[0]
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys/_renew", json={}), 400)[
        "technicalCode"] == "application.apiKeyMode.invalid"


def test_the_demo_factory_allows_custom_keys_and_options_turn_them_off() -> None:
    assert GraviteeEmulator().settings["customApiKey"] is False
    assert GraviteeEmulator.from_credentials({}, {}).settings["customApiKey"] is True
    emu = GraviteeEmulator.from_credentials({}, {"allowCustomApiKey": "false", "allowCustomApiKeyReuse": "true"})
    assert (emu.settings["customApiKey"], emu.settings["customApiKeyReuse"]) == (False, True)


def test_paging_envelope_and_past_the_last_page(c: httpx.Client) -> None:
    """PaginationParam/PaginationInfo; ApisResource.getApis is sorted by name and paged by the repository (a page
    past the last is empty); AbstractResource.computePaginationData (plans) answers 400 pagination.invalid."""
    for name in ("c", "a", "b"):
        c.post(f"{V2}/apis", json=api_body(name, f"/{name}"))
    body = c.get(f"{V2}/apis", params={"page": 2, "perPage": 2}).json()
    assert body["pagination"] == {"page": 2, "perPage": 2, "pageCount": 2, "pageItemsCount": 1, "totalCount": 3}
    assert [a["name"] for a in body["data"]] == ["c"]
    assert "previous" in body["links"] and "next" not in body["links"]
    assert [a["name"] for a in c.get(f"{V2}/apis").json()["data"]] == ["a", "b", "c"]
    assert c.get(f"{V2}/apis", params={"page": 3, "perPage": 2}).json()["data"] == []
    invalid = error(c.get(f"{V2}/apis", params={"perPage": 0}), 400)
    assert invalid["details"][0]["message"] == "Pagination perPage param must be >= 1"
    api_id = c.get(f"{V2}/apis").json()["data"][0]["id"]
    plan = c.post(f"{V2}/apis/{api_id}/plans", json=plan_body()).json()
    c.post(f"{V2}/apis/{api_id}/plans/{plan['id']}/_publish")
    assert error(c.get(f"{V2}/apis/{api_id}/plans", params={"page": 2}), 400) == {
        "httpStatus": 400, "message": "Pagination is not valid", "technicalCode": "pagination.invalid"}
    found = c.post(f"{V2}/apis/_search", json={"query": "a"}).json()["data"]
    assert [a["name"] for a in found] == ["a"]


def test_v1_applications_errors_and_archive(c: httpx.Client) -> None:
    # ConstraintValidationExceptionMapper (v1) with NewApplicationEntity's @NotNull message.
    assert error(c.post(f"{V1}/applications", json={"name": "x"}), 400) == {
        "message": "Application's description must not be null", "path": "createApplication.application.description",
        "details": [{"message": "Application's description must not be null", "location": "description"}]}
    app = c.post(f"{V1}/applications", json={"name": "x", "description": "d"}).json()
    assert (app["type"], app["settings"]) == ("SIMPLE", {"app": {}})  # ApplicationsResource.createApplication
    ios = c.post(f"{V1}/applications", json={"name": "y", "description": "d", "type": "iOS"}).json()
    assert ios["settings"] == {"app": {"type": "iOS"}}
    c.delete(f"{V1}/applications/{ios['id']}")
    paged = c.get(f"{V1}/applications/_paged", params={"size": 10}).json()
    assert [a["id"] for a in paged["data"]] == [app["id"]] and paged["page"]["total_elements"] == 1
    assert c.delete(f"{V1}/applications/{app['id']}").status_code == 204
    assert c.get(f"{V1}/applications").json() == []
    # ApplicationServiceImpl.findById finds an ARCHIVED application; update refuses it; archive again is fine.
    assert c.get(f"{V1}/applications/{app['id']}").json()["status"] == "ARCHIVED"
    archived = c.get(f"{V1}/applications", params={"status": "ARCHIVED"}).json()
    assert {a["id"] for a in archived} == {ios["id"], app["id"]}
    assert [a["updated_at"] for a in archived] == sorted(a["updated_at"] for a in archived)  # ARCHIVED: by updated_at
    body = error(c.put(f"{V1}/applications/{app['id']}", json={"name": "x", "description": "d", "settings": {}}), 400)
    assert body["technicalCode"] == "application.archived"
    assert c.delete(f"{V1}/applications/{app['id']}").status_code == 204
    assert error(c.get(f"{V1}/applications/nope"), 404) == {  # v1 ErrorEntity, NON_NULL
        "message": "Application [nope] cannot be found.", "http_status": 404,
        "parameters": {"application": "nope"}, "technicalCode": "application.notFound"}


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


# ------------------------------------------------------------------ plugins (4.12.17 distribution)
def test_the_installed_policy_plugins_are_the_bundles_and_cors_is_not_one(c: httpx.Client) -> None:
    """gravitee-apim-distribution/pom.xml @4.12.17 bundles no cors policy (CORS is HttpListener.cors)."""
    plugins = c.get("/management/v2/organizations/DEFAULT/plugins/policies").json()
    ids = {p["id"] for p in plugins}
    assert {"rate-limit", "quota", "mock", "api-key", "key-less", "transform-headers"} <= ids
    assert "cors" not in ids and all(p["deployed"] is True for p in plugins)
    assert c.get("/management/v2/plugins/policies").json() == plugins
    body = error(c.get("/management/v2/plugins/policies/cors"), 404)
    assert body == {"httpStatus": 404, "message": "Plugin [cors] cannot be found.", "technicalCode": "plugin.notFound",
                    "parameters": {"plugin": "cors"}}


def _flow(policy: str, configuration: Any = None) -> dict[str, Any]:
    step: dict[str, Any] = {"name": policy, "enabled": True, "policy": policy}
    if configuration is not None:
        step["configuration"] = configuration
    return {"name": "f", "enabled": True, "selectors": [{"type": "HTTP", "path": "/", "pathOperator": "STARTS_WITH"}],
            "request": [step], "response": []}


def test_a_plan_flow_with_an_unknown_policy_is_404_and_nothing_is_stored(c: httpx.Client) -> None:
    """CreatePlanDomainService.createHttpV4ApiPlan -> FlowValidationDomainService.checkPolicyConfiguration."""
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    bad = {**plan_body(), "flows": [_flow("cors", {"allowOrigin": ["*"]})]}
    assert error(c.post(f"{V2}/apis/{api_id}/plans", json=bad), 404)["technicalCode"] == "plugin.notFound"
    assert c.get(f"{V2}/apis/{api_id}/plans", params={"statuses": "STAGING,PUBLISHED"}).json()["data"] == []
    good = c.post(f"{V2}/apis/{api_id}/plans", json={**plan_body(), "flows": [_flow("rate-limit", {"rate": {}})]})
    assert good.status_code == 201
    update = {"definitionVersion": "V4", "name": "p", "flows": [_flow("cors", {})]}
    assert error(c.put(f"{V2}/apis/{api_id}/plans/{good.json()['id']}", json=update), 404)["parameters"] == {
        "plugin": "cors"}
    # A step without configuration is not validated (checkPolicyConfiguration filters on configuration != null).
    assert c.post(f"{V2}/apis/{api_id}/plans", json={**plan_body("q"), "flows": [_flow("cors")]}).status_code == 201


def test_an_api_flow_with_an_unknown_policy_is_404(c: httpx.Client) -> None:
    """ValidateApiDomainServiceLegacyWrapper.validateAndSanitizeHttpV4ForCreation validates the API flows too."""
    assert error(c.post(f"{V2}/apis", json={**api_body(), "flows": [_flow("cors", {})]}), 404)["technicalCode"] == \
        "plugin.notFound"
    assert c.get(f"{V2}/apis").json()["data"] == []
    api = c.post(f"{V2}/apis", json={**api_body(), "flows": [_flow("mock", {"status": "405"})]})
    assert api.status_code == 201
    assert error(c.put(f"{V2}/apis/{api.json()['id']}", json={**api_body(), "flows": [_flow("nope", {})]}), 404)


def test_a_policy_set_can_be_installed() -> None:
    with GraviteeEmulator(policies=["rate-limit", "cors"]) as emu:
        with httpx.Client(base_url=emu.url, auth=("admin", "admin")) as c:
            assert [p["id"] for p in c.get("/management/v2/plugins/policies").json()] == ["cors", "rate-limit"]


def test_cors_is_the_http_listeners_field_validated_and_stored_with_defaults(c: httpx.Client) -> None:
    """HttpListener.cors (definition model Cors.java); ListenerValidationServiceImpl -> CorsValidationServiceImpl."""
    def with_cors(cors: dict[str, Any]) -> dict[str, Any]:
        body = api_body()
        body["listeners"][0]["cors"] = cors
        return body

    bad = error(c.post(f"{V2}/apis", json=with_cors({"enabled": True, "allowOrigin": ["https://a.example.com/path"]})),
                400)
    assert (bad["technicalCode"], bad["parameters"]) == ("allowOrigin.notAllowed",
                                                         {"allowOrigin": "https://a.example.com/path"})
    api = c.post(f"{V2}/apis", json=with_cors({"enabled": True, "allowOrigin": ["https://b.example.com", "*",
                                                                                "https://(a|b).example.com"],
                                               "allowMethods": ["POST", "GET"]})).json()
    assert api["listeners"][0]["cors"] == {"enabled": True, "allowOrigin": ["*", "https://(a|b).example.com",
                                                                            "https://b.example.com"],
                                           "allowMethods": ["GET", "POST"], "maxAge": -1, "allowCredentials": False}


def test_keys_are_revoked_and_reactivated_one_by_one(keys_on: httpx.Client) -> None:
    """ApiSubscriptionsResource .../api-keys/{apiKeyId}: PUT (expireAt), _revoke (RevokeApiKeyDomainService:
    a revoked key is returned as it is), _reactivate (ApiKeyServiceImpl.reactivate: 400 apiKey.activated)."""
    c = keys_on
    api_id, _, keyed = _keyed_api(c)
    c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    sub = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": app["id"], "planId": keyed["id"],
                                                             "customApiKey": "first-key-1"}).json()
    base = f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys"
    [key] = c.get(base).json()["data"]
    assert error(c.post(f"{base}/{key['id']}/_reactivate"), 400)["technicalCode"] == "apiKey.activated"
    assert c.post(f"{base}/{key['id']}/_revoke").json()["revoked"] is True
    assert c.post(f"{base}/{key['id']}/_revoke").json()["revoked"] is True
    assert c.post(f"{base}/{key['id']}/_reactivate").json()["revoked"] is False
    assert c.put(f"{base}/{key['id']}", json={"expireAt": "2999-01-01T00:00:00.000Z"}).json()["expireAt"].startswith(
        "2999")
    assert "expireAt" not in c.put(f"{base}/{key['id']}", json={}).json()
    assert error(c.post(f"{base}/nope/_revoke"), 404)["technicalCode"] == "apiKey.notFound"


# ------------------------------------------------------------------ Management API v1 (4.12.17 resources)
def test_v1_paged_applications_size_is_1_to_200_and_past_the_last_page_is_empty(c: httpx.Client) -> None:
    """rest/model/Pageable (@Min(1) @Max(200), default 20) and PagedResult; v1 ConstraintValidationExceptionMapper."""
    for i in range(3):
        c.post(f"{V1}/applications", json={"name": f"app-{i}", "description": "d"})
    default = c.get(f"{V1}/applications/_paged").json()
    assert default["page"] == {"current": 1, "per_page": 20, "size": 3, "total_pages": 1, "total_elements": 3}
    assert "metadata" not in default and [a["name"] for a in default["data"]] == ["app-0", "app-1", "app-2"]
    assert c.get(f"{V1}/applications/_paged", params={"size": 200}).status_code == 200
    too_big = error(c.get(f"{V1}/applications/_paged", params={"size": 201}), 400)
    assert too_big["message"] == "Page size should not be more than 200"
    assert too_big["details"][0]["location"] == "size" and "http_status" not in too_big
    assert error(c.get(f"{V1}/applications/_paged", params={"page": 0}), 400)["message"] == \
        "Page number should not be less than 1"
    assert c.get(f"{V1}/applications/_paged", params={"size": "x"}).status_code == 404
    past = c.get(f"{V1}/applications/_paged", params={"page": 3, "size": 2}).json()
    assert past["data"] == [] and past["page"]["total_pages"] == 2
    desc = c.get(f"{V1}/applications/_paged", params={"order": "-name", "query": "APP-1"}).json()
    assert [a["name"] for a in desc["data"]] == ["app-1"]
    assert isinstance(default["data"][0]["created_at"], int)  # epoch ms (GraviteeMapper WRITE_DATES_AS_TIMESTAMPS)


def test_v1_application_subscriptions_default_to_accepted_and_filter(keys_on: httpx.Client) -> None:
    """ApplicationSubscriptionsResource.getApplicationSubscriptions: status defaults to ACCEPTED
    (ListSubscriptionStatusParam); plan/api filters; SubscriptionEntityPageResult with metadata."""
    c = keys_on
    api_id, _, keyed = _keyed_api(c)
    other_api, _, other_plan = _keyed_api(c, "orders")
    for a, p in ((api_id, keyed), (other_api, other_plan)):
        c.post(f"{V2}/apis/{a}/plans/{p['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    first = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": app["id"], "planId": keyed["id"]}).json()
    c.post(f"{V2}/apis/{other_api}/subscriptions", json={"applicationId": app["id"], "planId": other_plan["id"]})
    c.post(f"{V2}/apis/{api_id}/subscriptions/{first['id']}/_close")
    url = f"{V1}/applications/{app['id']}/subscriptions"
    accepted = c.get(url).json()
    assert [s["api"] for s in accepted["data"]] == [other_api] and accepted["page"]["per_page"] == 20
    assert set(accepted["metadata"]) >= {other_api, other_plan["id"], app["id"]}
    both = c.get(url, params={"status": "ACCEPTED,CLOSED"}).json()["data"]
    assert sorted(s["status"] for s in both) == ["ACCEPTED", "CLOSED"]
    assert [s["plan"] for s in c.get(url, params={"status": "CLOSED,ACCEPTED", "api": api_id}).json()["data"]] == [
        keyed["id"]]
    assert c.get(url, params={"plan": other_plan["id"]}).json()["data"][0]["plan"] == other_plan["id"]
    assert error(c.get(url, params={"size": 500}), 400)["message"] == "Page size should not be more than 200"


def test_plan_update_and_delete_rules(c: httpx.Client) -> None:
    """UpdatePlanDomainService.assertNotClosedStatus (a CLOSED plan stays updatable); v4 PlanServiceImpl.delete
    (400 plan.notDeletable for a PUBLISHED plan with subscriptions, of any status)."""
    api_id, _, keyed = _keyed_api(c)
    c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    sub = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": app["id"], "planId": keyed["id"]}).json()
    c.post(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/_close")
    assert error(c.delete(f"{V2}/apis/{api_id}/plans/{keyed['id']}"), 400)["technicalCode"] == "plan.notDeletable"
    other = c.post(f"{V1}/applications", json={"name": "other", "description": "d"}).json()
    live = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": other["id"], "planId": keyed["id"]}).json()
    assert [s["id"] for s in c.get(f"{V2}/apis/{api_id}/subscriptions").json()["data"]] == [live["id"]]  # ACCEPTED only
    c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_close")
    assert c.get(f"{V2}/apis/{api_id}/subscriptions/{live['id']}").json()["status"] == "CLOSED"  # PlanServiceImpl.close
    resub = {"applicationId": other["id"], "planId": keyed["id"]}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=resub), 400)["technicalCode"] == "plan.closed"
    assert error(c.get(f"{V2}/apis/{api_id}/plans/nope"), 404)["parameters"] == {"plan": "nope"}
    assert error(c.get(f"{V2}/apis/{api_id}/subscriptions/nope"), 404)["technicalCode"] == "subscription.notFound"
    update = {"definitionVersion": "V4", "name": "renamed", "flows": []}
    assert c.put(f"{V2}/apis/{api_id}/plans/{keyed['id']}", json=update).json()["name"] == "renamed"
    assert c.delete(f"{V2}/apis/{api_id}/plans/{keyed['id']}").status_code == 204


def test_archiving_an_application_deletes_its_keys_and_closes_its_subscriptions(keys_on: httpx.Client,
                                                                               ) -> None:
    """ApplicationServiceImpl.archive: apiKeyService.delete for each key, closeSubscription for each subscription."""
    c = keys_on
    api_id, _, keyed = _keyed_api(c)
    c.post(f"{V2}/apis/{api_id}/plans/{keyed['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    sub = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": app["id"], "planId": keyed["id"],
                                                             "customApiKey": "archived-key-1"}).json()
    assert c.delete(f"{V1}/applications/{app['id']}").status_code == 204
    assert c.get(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}").json()["status"] == "CLOSED"
    assert c.get(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys").json()["data"] == []
    again = {"applicationId": app["id"], "planId": keyed["id"]}
    assert error(c.post(f"{V2}/apis/{api_id}/subscriptions", json=again), 400)["technicalCode"] == "application.archived"
    other = c.post(f"{V1}/applications", json={"name": "new", "description": "d"}).json()
    reuse = {"applicationId": other["id"], "planId": keyed["id"], "customApiKey": "archived-key-1"}
    assert c.post(f"{V2}/apis/{api_id}/subscriptions", json=reuse).status_code == 201  # the key was deleted


def test_a_manual_plan_leaves_the_subscription_pending_without_a_key(keys_on: httpx.Client) -> None:
    """SubscriptionServiceImpl.create stores PENDING and processes (accepts) only AUTO plans; the key is made when
    the subscription is accepted (ApiKeyServiceImpl.generate from the accept)."""
    c = keys_on
    api_id = c.post(f"{V2}/apis", json=api_body()).json()["id"]
    manual = c.post(f"{V2}/apis/{api_id}/plans", json={**plan_body(), "validation": "MANUAL"}).json()
    c.post(f"{V2}/apis/{api_id}/plans/{manual['id']}/_publish")
    app = c.post(f"{V1}/applications", json={"name": "app", "description": "d"}).json()
    sub = c.post(f"{V2}/apis/{api_id}/subscriptions", json={"applicationId": app["id"], "planId": manual["id"]}).json()
    assert sub["status"] == "PENDING"
    assert c.get(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/api-keys").json()["data"] == []
    closed = c.post(f"{V2}/apis/{api_id}/subscriptions/{sub['id']}/_close").json()
    assert closed["status"] == "REJECTED"  # CloseSubscriptionDomainService: PENDING -> rejectSubscription


def test_request_rules_no_source_was_found_for(c: httpx.Client) -> None:
    """Unconfirmed rows of the ledger: only V4 definitions, an API's type cannot change, malformed JSON is 400,
    `_search` filters on name/description and ids, a plan's validation defaults to MANUAL."""
    assert error(c.post(f"{V2}/apis", json={**api_body(), "definitionVersion": "V2"}), 400)["technicalCode"] == \
        "api.definitionVersion.invalid"
    api = c.post(f"{V2}/apis", json=api_body()).json()
    assert error(c.put(f"{V2}/apis/{api['id']}", json={**api_body(), "type": "MESSAGE"}), 400)["technicalCode"] == \
        "api.type.immutable"
    bad = c.post(f"{V2}/apis", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert [a["id"] for a in c.post(f"{V2}/apis/_search", json={"ids": [api["id"]]}).json()["data"]] == [api["id"]]
    plan = c.post(f"{V2}/apis/{api['id']}/plans", json={"definitionVersion": "V4", "name": "p",
                                                        "security": {"type": "API_KEY"}}).json()
    assert plan["validation"] == "MANUAL"
    assert [e["id"] for e in c.get("/management/v2/environments").json()["data"]] == ["DEFAULT"]
