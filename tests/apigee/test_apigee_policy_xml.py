"""Policy XML of the generated bundles against Apigee's documented element sets.

Sources (see reconciler/emulators/fidelity/apigee.md):
- CORS: cloud.google.com/apigee/docs/api-platform/reference/policies/cors-policy, "<CORS> element", Child Elements
  (AllowCredentials, AllowHeaders, AllowMethods, AllowOrigins, DisplayName, ExposeHeaders,
  GeneratePreflightResponse, IgnoreUnresolvedVariables, MaxAge).
- VerifyAPIKey: .../policies/verify-api-key-policy, "Samples" (<APIKey ref="request.header.x-apikey"/>).
- RaiseFault: .../policies/raise-fault-policy, "Samples" (IgnoreUnresolvedVariables, FaultResponse/Set/StatusCode,
  ReasonPhrase, Payload; FaultResponse/Add/Headers).
- Quota: .../policies/quota-policy, "Samples" and "Quota policy types" (type attribute; Allow, Interval, TimeUnit,
  Distributed, Synchronous, Identifier); UseQuotaConfigInAPIProduct/DefaultConfig: unconfirmed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

import httpx
import pytest

from reconciler.adapters.apigee.bundle import build_bundle, bundle_files
from reconciler.emulators.apigee import POLICY_ELEMENTS, ApigeeEmulator, policy_violations

ORG = "/v1/organizations/o"
SPEC = {"basePath": "/pets", "backend": "https://b.example.com", "methods": ["GET", "POST"], "tenant": "acme",
        "version": "1", "displayName": "Pets", "description": None, "openapiHash": None}
CORS = {"origins": ["https://a.example.com"], "methods": ["GET"], "headers": ["x-api-key"], "exposeHeaders": [],
        "maxAge": 600, "credentials": True}

#: The documented child elements we rely on, per policy type (the test's own copy of the pages' lists).
DOCUMENTED = {
    "CORS": {"AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "DisplayName", "ExposeHeaders",
             "GeneratePreflightResponse", "IgnoreUnresolvedVariables", "MaxAge"},
    "VerifyAPIKey": {"APIKey"},
    "RaiseFault": {"IgnoreUnresolvedVariables", "FaultResponse"},
    "Quota": {"Allow", "Interval", "TimeUnit", "Distributed", "Synchronous", "Identifier"},
}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with ApigeeEmulator() as emu, httpx.Client(base_url=emu.url, headers={"Authorization": "Bearer any"}) as c:
        yield c


def imp(c: httpx.Client, data: bytes) -> httpx.Response:
    return c.post(f"{ORG}/apis", params={"name": "pets", "action": "import"},
                  files={"file": ("b.zip", data, "application/octet-stream")})


def rezip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return buffer.getvalue()


def test_emulator_table_holds_the_documented_elements() -> None:
    for policy, children in DOCUMENTED.items():
        assert children <= POLICY_ELEMENTS[policy][policy], policy


def test_generated_policies_use_only_documented_elements() -> None:
    files = bundle_files("pets", SPEC, cors={"web": CORS}, owner="platform")
    policies = {p: ElementTree.fromstring(t) for p, t in files.items() if p.startswith("apiproxy/policies/")}
    assert {el.tag for el in policies.values()} == {"CORS", "VerifyAPIKey", "RaiseFault", "Quota"}
    for path, el in policies.items():
        assert policy_violations(path, el) == [], path
        if el.tag in ("CORS", "VerifyAPIKey"):  # the fully cited lists
            assert {c.tag for c in el} <= DOCUMENTED[el.tag], path


def test_generated_bundle_imports(client: httpx.Client) -> None:
    assert imp(client, build_bundle("pets", SPEC, cors={"web": CORS}, owner="platform")).status_code == 200


@pytest.mark.parametrize("path, old, new, needle", [
    ("apiproxy/policies/cors-web.xml", "<MaxAge>", "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAge>", "<MaxAgeSeconds>"),
    ("apiproxy/policies/verify-api-key.xml", "<APIKey ", "<Key>x</Key><APIKey ", "<Key>"),
    ("apiproxy/policies/verify-api-key.xml", 'ref="', 'header="x" ref="', "'header'"),
    ("apiproxy/policies/method-not-allowed.xml", "<StatusCode>", "<Status>405</Status><StatusCode>", "<Status>"),
    ("apiproxy/policies/enforce-quota.xml", "<Distributed>", "<Rate>1</Rate><Distributed>", "<Rate>"),
])
def test_unknown_policy_elements_are_rejected(client: httpx.Client, path: str, old: str, new: str,
                                              needle: str) -> None:
    files = bundle_files("pets", SPEC, cors={"web": CORS}, owner="platform")
    assert old in files[path]
    files[path] = files[path].replace(old, new, 1)
    response = imp(client, rezip(files))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert needle in str(error["details"][0]["violations"])
    assert client.get(f"{ORG}/apis/pets").status_code == 404


def test_unchecked_policy_types_pass(client: httpx.Client) -> None:
    files = bundle_files("pets", SPEC, owner="platform")
    files["apiproxy/policies/extra.xml"] = '<AssignMessage name="extra"><Whatever/></AssignMessage>'
    assert imp(client, rezip(files)).status_code == 200
