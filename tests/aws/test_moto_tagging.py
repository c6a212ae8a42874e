"""The one rule we add to moto (ledger aws.md row 16): tags on REST API, usage plan and API key ARNs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def client(moto_url: str) -> Iterator[Any]:
    httpx.post(f"{moto_url}/moto-api/reset")
    yield boto3.client("apigateway", region_name="us-east-1", endpoint_url=moto_url,
                       aws_access_key_id="AKIATAGS", aws_secret_access_key="tags-secret")


def test_tags_on_rest_apis_usage_plans_and_api_keys(client: Any) -> None:
    api = client.create_rest_api(name="pets", tags={"team": "pets"})["id"]
    plan = client.create_usage_plan(name="Basic")["id"]
    key = client.create_api_key(name="mobile")["id"]
    for collection, resource in (("restapis", api), ("usageplans", plan), ("apikeys", key)):
        arn = f"arn:aws:apigateway:us-east-1::/{collection}/{resource}"
        client.tag_resource(resourceArn=arn, tags={"managed-by": "stoa-reconciler", "drop": "me"})
        client.untag_resource(resourceArn=arn, tagKeys=["drop"])
        assert client.get_tags(resourceArn=arn)["tags"] == {
            **({"team": "pets"} if collection == "restapis" else {}), "managed-by": "stoa-reconciler"}
    assert client.get_rest_api(restApiId=api)["tags"]["managed-by"] == "stoa-reconciler"
    assert client.get_usage_plan(usagePlanId=plan)["tags"] == {"managed-by": "stoa-reconciler"}
    assert client.get_api_key(apiKey=key)["tags"] == {"managed-by": "stoa-reconciler"}


def test_tagging_an_unknown_resource_is_not_found(client: Any) -> None:
    with pytest.raises(ClientError) as error:
        client.tag_resource(resourceArn="arn:aws:apigateway:us-east-1::/apikeys/nope", tags={"a": "b"})
    assert error.value.response["Error"]["Code"] == "NotFoundException"
