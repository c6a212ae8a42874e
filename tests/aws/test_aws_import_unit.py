"""Pure reads of hand-made AWS objects (REST API layouts, usage plans) and their import specs."""

from __future__ import annotations

from typing import Any

from reconciler.adapters.aws import mappers as m
from reconciler.adapters.aws.adapter import AwsApiGatewayAdapter


def plan(**fields: Any) -> dict[str, Any]:
    return {"id": "p1", "name": "Pets Basic", "apiStages": [{"apiId": "a1", "stage": "prod"}], **fields}


def test_plan_limits_map_to_the_rate_that_gives_them_back() -> None:
    cases = [({"throttle": {"rateLimit": 2.0, "burstLimit": 100}}, {"requests": 100, "period": "minute"}),
             ({"throttle": {"rateLimit": 10, "burstLimit": 10}}, {"requests": 10, "period": "second"}),
             ({"throttle": {"rateLimit": 1, "burstLimit": 5000}, "quota": {"limit": 5000, "period": "DAY", "offset": 0}},
              {"requests": 5000, "period": "day"})]
    for fields, config in cases:
        record = m.policy_from_foreign_plan(plan(**fields), "pets")
        assert record is not None and record["name"] == "pets-basic" and record["spec"]["config"] == config, fields
    for fields in ({"throttle": {"rateLimit": 50, "burstLimit": 200}},
                   {"throttle": {"rateLimit": 1, "burstLimit": 5000}, "quota": {"limit": 5000, "period": "WEEK"}}):
        record = m.policy_from_foreign_plan(plan(**fields), "pets")
        assert record is not None and set(record["spec"]) == {m.IMPORT_NOTES}, fields
    assert m.policy_from_foreign_plan(plan(), "pets") is None
    assert m.adoptable_plan_api(plan(), {"a1": "pets"}, "prod") == "pets"
    assert m.adoptable_plan_api(plan(), {"a1": "pets"}, "dev") is None


def resources(verb: str, integration: str) -> list[dict[str, Any]]:
    method = {"apiKeyRequired": True, "authorizationType": "NONE",
              "methodIntegration": {"type": integration, "uri": "https://b.example.com"}}
    return [{"id": "r", "path": "/"}, {"id": "b", "parentId": "r", "path": "/pets", "pathPart": "pets",
                                       "resourceMethods": {verb: method}},
            {"id": "x", "parentId": "b", "path": "/pets/{proxy+}", "pathPart": "{proxy+}",
             "resourceMethods": {verb: {**method, "methodIntegration": {"type": integration,
                                                                        "uri": "https://b.example.com/{proxy}"}}}}]


def test_a_hand_made_layout_reads_with_what_adoption_changes() -> None:
    record = m.foreign_api_record({"id": "a1", "name": "pets"}, resources("ANY", "HTTP_PROXY"), api_key_required=True)
    assert record["spec"]["methods"] == m.ALL_VERBS and record["spec"]["backend"] == "https://b.example.com/"
    assert any(n.startswith("ANY method") for n in record["spec"][m.IMPORT_NOTES])
    lam = m.foreign_api_record({"id": "a1", "name": "pets"}, resources("GET", "AWS_PROXY"), api_key_required=False)
    notes = lam["spec"][m.IMPORT_NOTES]
    assert any("AWS_PROXY integration has no manifest form" in n for n in notes)
    assert any("apiKeyRequired becomes false" in n for n in notes)
    flat = m.foreign_api_record({"id": "a1", "name": "pets"}, resources("GET", "HTTP_PROXY")[:2], api_key_required=True)
    imported = AwsApiGatewayAdapter({"name": "aws", "owner": "platform"}).import_spec("API", flat)
    assert imported.spec is None and "{proxy+}" in imported.notes[0]
