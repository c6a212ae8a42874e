"""The Apigee emulator behaves like the management API: auth, bundle validation, lifecycles, errors."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from reconciler.emulators.apigee import ApigeeEmulator

ORG = "/v1/organizations/o"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with ApigeeEmulator() as emu, httpx.Client(base_url=emu.url, headers={"Authorization": "Bearer any"}) as c:
        yield c


def bundle(base: str = "/pets", url: str = "https://b.example.com", *, step: str | None = None,
           target_ref: str = "default") -> bytes:
    buffer = io.BytesIO()
    steps = f"<PreFlow><Request><Step><Name>{step}</Name></Step></Request></PreFlow>" if step else ""
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("apiproxy/pets.xml", '<APIProxy name="pets"><DisplayName>Pets</DisplayName></APIProxy>')
        z.writestr("apiproxy/proxies/default.xml", f'<ProxyEndpoint name="default">{steps}<HTTPProxyConnection>'
                   f'<BasePath>{base}</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>'
                   f"{target_ref}</TargetEndpoint></RouteRule></ProxyEndpoint>")
        z.writestr("apiproxy/targets/default.xml", f'<TargetEndpoint name="default"><HTTPTargetConnection><URL>{url}'
                   "</URL></HTTPTargetConnection></TargetEndpoint>")
    return buffer.getvalue()


def imp(c: httpx.Client, data: bytes, name: str = "pets") -> httpx.Response:
    return c.post(f"{ORG}/apis", params={"name": name, "action": "import"},
                  files={"file": ("b.zip", data, "application/octet-stream")})


def test_missing_or_wrong_token_is_401_with_google_error_body() -> None:
    with ApigeeEmulator(token="right") as emu:
        no = httpx.get(f"{emu.url}{ORG}/apis")
        wrong = httpx.get(f"{emu.url}{ORG}/apis", headers={"Authorization": "Bearer wrong"})
        ok = httpx.get(f"{emu.url}{ORG}/apis", headers={"Authorization": "Bearer right"})
    assert no.status_code == wrong.status_code == 401
    assert no.json()["error"]["status"] == "UNAUTHENTICATED" and no.json()["error"]["code"] == 401
    assert ok.status_code == 200 and ok.json() == {"proxies": []}


def test_from_credentials_configures_the_token() -> None:
    emu = ApigeeEmulator.from_credentials({"token": "t"}, {})
    assert isinstance(emu, ApigeeEmulator) and emu.token == "t"


def test_import_creates_revisions_and_octet_stream_works(client: httpx.Client) -> None:
    first = imp(client, bundle())
    assert first.status_code == 200 and first.json()["revision"] == "1" and first.json()["basepaths"] == ["/pets"]
    second = client.post(f"{ORG}/apis", params={"name": "pets", "action": "import"}, content=bundle("/v2"),
                         headers={"content-type": "application/octet-stream"})
    assert second.json()["revision"] == "2"
    proxy = client.get(f"{ORG}/apis/pets").json()
    assert proxy["revision"] == ["1", "2"] and proxy["latestRevisionId"] == "2"
    data = client.get(f"{ORG}/apis/pets/revisions/1", params={"format": "bundle"}).content
    assert data == bundle()


@pytest.mark.parametrize("data, needle", [
    (b"not a zip", "not a ZIP"),
    (bundle(base=""), "BasePath"),
    (bundle(url=""), "URL"),
    (bundle(step="missing-policy"), "names no policy"),
    (bundle(target_ref="nowhere"), "unknown target"),
])
def test_invalid_bundles_are_rejected_with_bad_bundle_details(client: httpx.Client, data: bytes, needle: str) -> None:
    response = imp(client, data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert needle in str(error["details"][0]["violations"])
    assert client.get(f"{ORG}/apis/pets").status_code == 404


def test_validate_action_does_not_store(client: httpx.Client) -> None:
    response = client.post(f"{ORG}/apis", params={"name": "pets", "action": "validate"},
                           files={"file": ("b.zip", bundle(), "application/zip")})
    assert response.status_code == 200 and client.get(f"{ORG}/apis").json() == {"proxies": []}


def test_deploy_requires_override_to_replace_and_blocks_delete(client: httpx.Client) -> None:
    imp(client, bundle())
    imp(client, bundle("/v2"))
    env = f"{ORG}/environments/test/apis/pets"
    assert client.post(f"{env}/revisions/1/deployments").status_code == 200
    refused = client.post(f"{env}/revisions/2/deployments")
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert client.post(f"{env}/revisions/2/deployments", params={"override": "true"}).status_code == 200
    assert [d["revision"] for d in client.get(f"{env}/deployments").json()["deployments"]] == ["2"]
    assert client.delete(f"{ORG}/apis/pets").status_code == 400
    assert client.delete(f"{env}/revisions/1/deployments").status_code == 400  # not deployed
    assert client.delete(f"{env}/revisions/2/deployments").status_code == 200
    assert client.delete(f"{ORG}/apis/pets").status_code == 200


def test_labels_need_update_mask_and_gcp_rules(client: httpx.Client) -> None:
    imp(client, bundle())
    assert client.patch(f"{ORG}/apis/pets", json={"labels": {"a": "b"}}).status_code == 400
    assert client.patch(f"{ORG}/apis/pets", params={"updateMask": "labels"}, json={"labels": {"A": "b"}}).status_code == 400
    ok = client.patch(f"{ORG}/apis/pets", params={"updateMask": "labels"}, json={"labels": {"owner": "team-a"}})
    assert ok.status_code == 200 and client.get(f"{ORG}/apis/pets").json()["labels"] == {"owner": "team-a"}


def test_products_crud_list_shapes_and_paging(client: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        assert client.post(f"{ORG}/apiproducts", json={"name": name, "quota": "5", "quotaTimeUnit": "minute"}).status_code == 200
    assert client.post(f"{ORG}/apiproducts", json={"name": "a"}).status_code == 409
    assert client.post(f"{ORG}/apiproducts", json={"name": "d", "quotaTimeUnit": "second"}).status_code == 400
    assert client.get(f"{ORG}/apiproducts").json() == {"apiProduct": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    page = client.get(f"{ORG}/apiproducts", params={"expand": "true", "startKey": "b", "count": 1}).json()
    assert [p["name"] for p in page["apiProduct"]] == ["b"] and page["apiProduct"][0]["quota"] == "5"
    assert client.put(f"{ORG}/apiproducts/b", json={"name": "b"}).json().get("quota") is None
    assert client.delete(f"{ORG}/apiproducts/c").status_code == 200
    assert client.get(f"{ORG}/apiproducts/c").json()["error"]["code"] == 404


def test_developers_apps_and_keys(client: httpx.Client) -> None:
    assert client.post(f"{ORG}/developers", json={"email": "d@x.io"}).status_code == 400
    dev = {"email": "d@x.io", "firstName": "D", "lastName": "X", "userName": "dx"}
    assert client.post(f"{ORG}/developers", json=dev).status_code == 200
    assert client.post(f"{ORG}/developers", json=dev).status_code == 409
    client.post(f"{ORG}/apiproducts", json={"name": "p"})
    apps = f"{ORG}/developers/d@x.io/apps"
    app = client.post(apps, json={"name": "app", "apiProducts": ["p"]}).json()
    assert app["credentials"][0]["apiProducts"] == [{"apiproduct": "p", "status": "approved"}]
    keys = f"{apps}/app/keys"
    assert client.post(keys, json={"consumerKey": "bad key", "consumerSecret": "s"}).status_code == 400
    assert client.post(keys, json={"consumerKey": "k1", "consumerSecret": "s", "apiProducts": ["p"]}).status_code == 400
    assert client.post(keys, json={"consumerKey": "k1", "consumerSecret": "s"}).json()["apiProducts"] == []
    assert client.post(f"{keys}/k1", json={"apiProducts": ["p"]}).json()["apiProducts"][0]["apiproduct"] == "p"
    assert client.post(f"{keys}/k1", json={"apiProducts": ["nope"]}).status_code == 400
    assert client.post(f"{keys}/k1/apiproducts/p", params={"action": "revoke"}).status_code == 200
    assert client.get(f"{keys}/k1").json()["apiProducts"][0]["status"] == "revoked"
    assert client.delete(f"{keys}/k1/apiproducts/p").status_code == 200
    assert client.get(apps).json() == {"app": [{"appId": app["appId"]}]}
    assert client.delete(f"{ORG}/developers/d@x.io").status_code == 200
    assert client.get(apps).status_code == 404


def test_configured_environments_reject_others() -> None:
    with ApigeeEmulator(environments=["prod"]) as emu:
        headers = {"Authorization": "Bearer t"}
        assert httpx.get(f"{emu.url}{ORG}/environments/prod", headers=headers).status_code == 200
        assert httpx.get(f"{emu.url}{ORG}/environments/test", headers=headers).status_code == 404
