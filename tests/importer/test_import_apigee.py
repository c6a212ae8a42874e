"""`reconciler import` on Apigee: proxies imported as hand-made bundles and deployed, API products with a
quota, developers and apps with keys — made through the management API as an operator would — then adopted."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.emulators.apigee import ApigeeEmulator
from tests.conftest import run_cli
from tests.importer.roundtrip import gateway_repo, round_trip

pytestmark = pytest.mark.e2e

TOKEN = "ya29.import-admin-token"
ORG = "/v1/organizations/acme-org"
GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: apigee-prod}
spec:
  displayName: Apigee (prod)
  gatewayType: apigee
  environment: prod
  baseUrl: https://apigee.googleapis.com
  credentials:
    token: {env: APIGEE_TOKEN}
  options: {organization: acme-org, environment: test}
"""


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApigeeEmulator]:
    monkeypatch.setenv("APIGEE_TOKEN", TOKEN)
    with ApigeeEmulator(token=TOKEN) as emu:
        yield emu  # type: ignore[misc]


def bundle(name: str, base_path: str, target: str, policies: dict[str, str], steps: list[tuple[str, str]]) -> bytes:
    """A proxy bundle as the Apigee console exports one: default endpoints, policies named `<Type>-1`."""
    flow = "".join(f"<Step><Name>{s}</Name>{f'<Condition>{c}</Condition>' if c else ''}</Step>" for s, c in steps)
    files = {
        f"apiproxy/{name}.xml": (
            f'<APIProxy revision="1" name="{name}"><DisplayName>{name.title()}</DisplayName>'
            f"<Description>{name.title()} service</Description><BasePaths>{base_path}</BasePaths>"
            + "<Policies>" + "".join(f"<Policy>{p}</Policy>" for p in policies) + "</Policies>"
            "<ProxyEndpoints><ProxyEndpoint>default</ProxyEndpoint></ProxyEndpoints>"
            "<TargetEndpoints><TargetEndpoint>default</TargetEndpoint></TargetEndpoints></APIProxy>"),
        "apiproxy/proxies/default.xml": (
            f'<ProxyEndpoint name="default"><PreFlow name="PreFlow"><Request>{flow}</Request><Response/></PreFlow>'
            f"<Flows/><HTTPProxyConnection><BasePath>{base_path}</BasePath></HTTPProxyConnection>"
            '<RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule></ProxyEndpoint>'),
        "apiproxy/targets/default.xml": (
            f'<TargetEndpoint name="default"><PreFlow name="PreFlow"><Request/><Response/></PreFlow>'
            f"<HTTPTargetConnection><URL>{target}</URL></HTTPTargetConnection></TargetEndpoint>"),
        **{f"apiproxy/policies/{p}.xml": xml for p, xml in policies.items()},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


VERIFY = '<VerifyAPIKey async="false" continueOnError="false" enabled="true" name="Verify-API-Key-1">' \
         '<DisplayName>Verify API Key-1</DisplayName><APIKey ref="request.queryparam.apikey"/></VerifyAPIKey>'
QUOTA = '<Quota continueOnError="false" enabled="true" name="Quota-1" type="calendar"><DisplayName>Quota-1</DisplayName>' \
        '<UseQuotaConfigInAPIProduct stepName="Verify-API-Key-1"><DefaultConfig><Allow>2000</Allow><Interval>1</Interval>' \
        '<TimeUnit>month</TimeUnit></DefaultConfig></UseQuotaConfigInAPIProduct><Distributed>true</Distributed></Quota>'
CORS = '<CORS continueOnError="false" enabled="true" name="CORS-1"><DisplayName>CORS-1</DisplayName>' \
       '<AllowOrigins>https://app.example.com, https://admin.example.com</AllowOrigins><AllowMethods>GET, POST</AllowMethods>' \
       '<AllowHeaders>origin, content-type</AllowHeaders><ExposeHeaders>x-request-id</ExposeHeaders><MaxAge>600</MaxAge>' \
       '<AllowCredentials>false</AllowCredentials><GeneratePreflightResponse>true</GeneratePreflightResponse>' \
       '<IgnoreUnresolvedVariables>true</IgnoreUnresolvedVariables></CORS>'
FAULT = '<RaiseFault name="Method-Not-Allowed"><FaultResponse><Set><StatusCode>405</StatusCode></Set></FaultResponse>' \
        '<IgnoreUnresolvedVariables>true</IgnoreUnresolvedVariables></RaiseFault>'
HEADER = '<AssignMessage name="Add-Header-1"><Set><Headers><Header name="x-team">orders</Header></Headers></Set>' \
         '<AssignTo createNew="false" type="request"/></AssignMessage>'


def seed(emulator: ApigeeEmulator) -> dict[str, str]:
    """What an operator creates through the management API; returns the app keys Apigee generated."""
    with httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as c:
        def ok(response: httpx.Response) -> httpx.Response:
            assert response.status_code in (200, 201), response.text
            return response

        proxies = {
            "pets": bundle("pets", "/pets", "https://pets.example.com/v1",
                           {"Verify-API-Key-1": VERIFY, "Quota-1": QUOTA, "CORS-1": CORS},
                           [("CORS-1", ""), ("Verify-API-Key-1", ""), ("Quota-1", "")]),
            "orders": bundle("orders", "/orders", "https://orders.example.com",
                             {"Method-Not-Allowed": FAULT, "Verify-API-Key-1": VERIFY, "Add-Header-1": HEADER},
                             [("Method-Not-Allowed", 'NOT (request.verb = "GET" OR request.verb = "POST")'),
                              ("Verify-API-Key-1", ""), ("Add-Header-1", "")]),
            "legacy": bundle("legacy", "/legacy", "https://legacy.example.com", {}, []),
        }
        for name, data in proxies.items():
            ok(c.post(f"{ORG}/apis", params={"name": name, "action": "import"},
                      files={"file": (f"{name}.zip", data, "application/octet-stream")}))
        for name in ("pets", "orders"):  # legacy is imported, never deployed
            ok(c.post(f"{ORG}/environments/test/apis/{name}/revisions/1/deployments"))
        ok(c.post(f"{ORG}/apiproducts", json={"name": "pets", "displayName": "Pets", "approvalType": "auto",
                                              "proxies": ["pets"], "environments": ["test"], "quota": "100",
                                              "quotaInterval": "1", "quotaTimeUnit": "minute"}))
        ok(c.post(f"{ORG}/apiproducts", json={"name": "orders", "displayName": "Orders", "approvalType": "auto",
                                              "proxies": ["orders"], "environments": ["test"]}))
        ok(c.post(f"{ORG}/apiproducts", json={"name": "partner-bundle", "displayName": "Partner bundle",
                                              "approvalType": "manual", "proxies": ["pets", "orders"],
                                              "environments": ["test"], "quota": "5000", "quotaInterval": "1",
                                              "quotaTimeUnit": "day"}))
        for email, first in (("jane@example.com", "Jane"), ("web-team@example.com", "Web")):
            ok(c.post(f"{ORG}/developers", json={"email": email, "firstName": first, "lastName": "Doe",
                                                 "userName": first.lower()}))
        keys = {}
        for email, app, products, display in (("jane@example.com", "mobile", ["pets", "orders", "partner-bundle"], "Mobile app"),
                                              ("web-team@example.com", "web", ["pets"], "Web shop")):
            created = ok(c.post(f"{ORG}/developers/{email}/apps", json={
                "name": app, "apiProducts": products, "attributes": [{"name": "DisplayName", "value": display}]})).json()
            keys[app] = created["credentials"][0]["consumerKey"]
        return keys


EXPECT = {("API", "pets"), ("API", "orders"), ("Policy", "pets-quota"), ("Policy", "pets-cors-1"),
          ("Consumer", "mobile"), ("Consumer", "web")}


def test_import_then_adopt_round_trip(tmp_path: Path, emulator: ApigeeEmulator, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    keys = seed(emulator)
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    for app, key in keys.items():
        monkeypatch.setenv(f"{app.upper()}_API_KEY", key)
    endpoints = {"apigee-prod": emulator.url}
    report = round_trip(repo, "apigee-prod", endpoints, capsys, expect=EXPECT)

    imported = repo / "imported" / "apigee-prod"
    pets = (imported / "apis" / "pets.yaml").read_text()
    assert "basePath: /pets" in pets and "https://pets.example.com/v1" in pets and "tenant: acme-org" in pets
    assert "requests: 100" in (imported / "policies" / "pets-quota.yaml").read_text()
    cors = (imported / "policies" / "pets-cors-1.yaml").read_text()
    assert "https://admin.example.com" in cors and "maxAge: 600" in cors
    mobile = (imported / "consumers" / "mobile.yaml").read_text()
    assert "email: jane@example.com" in mobile and "MOBILE_API_KEY" in mobile and "- orders" in mobile
    # what the manifest cannot express is in the report, not dropped
    assert "API legacy (unowned): no single deployed revision" in report
    assert "Policy partner-bundle-quota (unowned): API product 'partner-bundle'" in report
    assert "AssignMessage policy 'Add-Header-1' has no manifest form" in report
    assert "the proxy accepts every verb" in report  # pets has no verb fault
    assert "'partner-bundle', which is no API's product" in report
    assert "version: Apigee has none" in report
    assert "reads the key from request.queryparam.apikey" in report  # adoption moves the key to x-api-key
    for key in keys.values():
        assert key not in report
        for path in repo.rglob("*.yaml"):
            assert key not in path.read_text(), path

    org = emulator.orgs["acme-org"]
    assert org.apps[("jane@example.com", "mobile")]["credentials"][0]["consumerKey"] == keys["mobile"]
    approved = {p["apiproduct"] for p in org.apps[("jane@example.com", "mobile")]["credentials"][0]["apiProducts"]}
    assert approved == {"pets", "orders", "partner-bundle"}  # the hand-made product's approval stays
    assert org.products["pets"]["quota"] == "100" and org.products["partner-bundle"]["approvalType"] == "manual"
    assert ("test", "legacy") not in org.deployments and "legacy" in org.proxies

    emulator.clear_log()
    assert run_cli("apply", repo, endpoints) == 0
    assert emulator.writes == []


def test_import_of_unowned_only_skips_adopted_objects(tmp_path: Path, emulator: ApigeeEmulator,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    keys = seed(emulator)
    repo = gateway_repo(tmp_path / "repo", GATEWAY)
    for app, key in keys.items():
        monkeypatch.setenv(f"{app.upper()}_API_KEY", key)
    endpoints = {"apigee-prod": emulator.url}
    round_trip(repo, "apigee-prod", endpoints, capsys, expect=EXPECT)
    capsys.readouterr()
    assert run_cli("import", repo, endpoints, "--gateway", "apigee-prod", "--unowned",
                   "--out", str(tmp_path / "again")) == 0
    out = capsys.readouterr().out
    assert "Imported 0 object(s)" in out, out
