"""Pure reads of hand-made Apigee objects (bundles, products) and their import specs."""

from __future__ import annotations

from reconciler.adapters.apigee import mappers as m
from reconciler.adapters.apigee.adapter import ApigeeAdapter
from reconciler.adapters.apigee.bundle import ALL_VERBS, read_foreign_bundle
from tests.importer.test_import_apigee import CORS, FAULT, HEADER, QUOTA, VERIFY, bundle


def adapter() -> ApigeeAdapter:
    return ApigeeAdapter({"name": "apigee", "owner": "platform", "auth": {"token": "t"},
                          "options": {"organization": "Acme_Org", "environment": "test"}})


def test_verbs_come_from_a_negated_fault_step_only() -> None:
    data = bundle("orders", "/orders/", "https://orders.example.com", {"Method-Not-Allowed": FAULT, "Add-Header-1": HEADER},
                  [("Method-Not-Allowed", 'NOT (request.verb = "GET" OR request.verb = "post")'), ("Add-Header-1", "")])
    read = read_foreign_bundle(data)
    assert read["methods"] == ["GET", "POST"] and read["basePath"] == "/orders"
    assert read["unexpressed"] == ["AssignMessage policy 'Add-Header-1' has no manifest form"]
    assert not read["verifiesApiKey"]
    every = read_foreign_bundle(bundle("a", "/a", "https://a.example.com", {"Method-Not-Allowed": FAULT},
                                       [("Method-Not-Allowed", 'request.verb = "DELETE"')]))
    notes = " | ".join(every["unexpressed"])
    assert every["methods"] == list(ALL_VERBS) and "accepts every verb" in notes
    assert "RaiseFault policy 'Method-Not-Allowed' (not the verb check)" in notes


def test_cors_and_key_policies_are_read_and_their_differences_reported() -> None:
    read = read_foreign_bundle(bundle("pets", "/pets", "https://p.example.com", {"CORS-1": CORS, "Verify-API-Key-1": VERIFY,
                                                                                 "Quota-1": QUOTA}, []))
    assert read["cors"]["CORS-1"] == {"origins": ["https://admin.example.com", "https://app.example.com"],
                                      "methods": ["GET", "POST"], "headers": ["content-type", "origin"],
                                      "exposeHeaders": ["x-request-id"], "credentials": False, "maxAge": 600}
    assert read["verifiesApiKey"] and any("request.queryparam.apikey" in n for n in read["unexpressed"])
    assert not any("Quota" in n for n in read["unexpressed"])  # it takes its limits from the product
    assert m.foreign_cors_name("pets", "CORS-1") == "pets-cors-1"


def test_product_quotas_map_only_when_exact() -> None:
    base = {"name": "pets", "proxies": ["pets"], "environments": ["test"], "quotaInterval": "1"}
    exact = m.policy_from_foreign_product({**base, "quota": "100", "quotaTimeUnit": "hour"}, "test")
    assert exact is not None and exact["spec"] == {"api": "pets", "type": "rate_limit",
                                                   "config": {"requests": 100, "period": "hour"}}
    for odd in ({"quota": "100", "quotaInterval": "5", "quotaTimeUnit": "minute"},
                {"quota": "100", "quotaTimeUnit": "month"}, {"quota": "9", "quotaTimeUnit": "day", "environments": ["prod"]}):
        record = m.policy_from_foreign_product({**base, **odd}, "test")
        assert record is not None and set(record["spec"]) == {m.IMPORT_NOTES}, odd
    assert m.policy_from_foreign_product(base, "test") is None  # no quota: no policy


def test_import_spec_of_a_hand_made_proxy_names_its_placeholders() -> None:
    read = read_foreign_bundle(bundle("pets", "/pets", "https://p.example.com", {"Verify-API-Key-1": VERIFY}, []))
    record = m.foreign_api_record("pets", read, None, "test", verify_api_key=True)
    assert record["owner"] is None and record["spec"]["product"] == "missing"
    imported = adapter().import_spec("API", record)
    assert imported.spec is not None and imported.spec["tenant"] == "acme-org" and imported.spec["version"] == "0.0.0"
    assert imported.spec["backend"] == "https://p.example.com/" and m.IMPORT_NOTES not in imported.spec
    assert any(n.startswith("tenant:") for n in imported.notes) and any("x-api-key" in n for n in imported.notes)
    why = adapter().import_spec("Policy", {"kind": "Policy", "name": "x", "spec": {m.IMPORT_NOTES: ["because"]}})
    assert why.spec is None and why.notes == ("because",)
