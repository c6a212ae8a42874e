"""Checked-in schemas match the models; every registered adapter honours the 16-method contract."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest

from reconciler.adapters import registry
from reconciler.adapters.base import GatewayAdapter
from reconciler.adapters.template.adapter import TemplateAdapter
from reconciler.manifests.schema import all_schemas, render
from reconciler.model import gateways
from reconciler.model.results import AdapterResult

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ["health_check", "connect", "disconnect", "sync_api", "delete_api", "list_apis", "upsert_policy",
            "delete_policy", "list_policies", "provision_application", "deprovision_application",
            "list_applications", "upsert_auth_server", "upsert_strategy", "upsert_scope", "upsert_alias",
            "apply_config", "export_archive"]
EXTENDED = {"upsert_auth_server": {}, "upsert_strategy": {}, "upsert_scope": {}, "upsert_alias": {},
            "apply_config": {}}


def test_checked_in_schemas_match_the_models() -> None:
    generated = all_schemas()
    on_disk = {p.name.removesuffix(".schema.json") for p in (ROOT / "schemas").glob("*.schema.json")}
    assert on_disk == set(generated), "run `reconciler schema --write schemas`"
    for name, schema in generated.items():
        assert (ROOT / "schemas" / f"{name}.schema.json").read_text() == render(schema), (
            f"schemas/{name}.schema.json drifted from the models: run `reconciler schema --write schemas`")


def test_schemas_reject_literal_secrets_like_the_models() -> None:
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "GatewayInstance.schema.json").read_text())
    doc = {"apiVersion": "gostoa.dev/v1alpha1", "kind": "GatewayInstance", "metadata": {"name": "g"},
           "spec": {"displayName": "G", "gatewayType": "kong", "environment": "dev", "baseUrl": "http://k:8001",
                    "credentials": {"token": "literal"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_registry_is_strict() -> None:
    kong = gateways.gateway_type("kong")
    with pytest.raises(ValueError, match="declared twice"):
        gateways.build_table([kong, kong])
    with pytest.raises(ValueError, match="module:Class"):
        gateways.build_table([dataclasses.replace(kong, name="tyk", adapter="no-colon")])
    with pytest.raises(LookupError, match="unknown gateway type"):
        registry.adapter_class("tyk")


@pytest.mark.parametrize("gateway_type", list(gateways.gateway_types()))
async def test_every_adapter_implements_the_whole_contract(gateway_type: str) -> None:
    cls = registry.adapter_class(gateway_type)
    assert issubclass(cls, GatewayAdapter) and not inspect.isabstract(cls)
    for method in CONTRACT:
        assert inspect.iscoroutinefunction(getattr(cls, method)), f"{cls.__name__}.{method} is not async"
    if gateway_type == "webmethods":
        return  # the one gateway with all 16 methods: tested in tests/webmethods
    adapter = cls({"name": "g", "base_url": "http://127.0.0.1:9", "owner": "o", "options": {"region": "us-east-1"},
                   "auth": {"token": "t", "username": "u", "password": "p", "access_key_id": "a",
                            "secret_access_key": "s"}})
    for method, arg in EXTENDED.items():
        result = await getattr(adapter, method)(arg)
        assert isinstance(result, AdapterResult) and not result.success
        assert result.error == f"Not supported by {cls.gateway_type}"
    exported = await adapter.export_archive()
    assert not exported.success and exported.error == f"Not supported by {cls.gateway_type}"


async def test_template_adapter_answers_not_supported() -> None:
    adapter = TemplateAdapter({"name": "t"})
    assert (await adapter.sync_api({}, "t")).error == "Not supported by template"
    assert await adapter.list_apis() == []


def test_every_kind_has_its_adapter_handlers() -> None:
    from reconciler.adapters.base import HANDLERS
    from reconciler.model.kinds import KINDS

    assert set(HANDLERS) == set(KINDS)
    assert all(KINDS[k].deletable == (HANDLERS[k].delete is not None) for k in KINDS)


def test_a_type_whose_adapter_checks_names_those_checks_in_its_table_row() -> None:
    """validate runs the checks the table names (no adapter import): an adapter's own `check` must be
    reachable from there, or it would silently never run."""
    for name, info in gateways.gateway_types().items():
        cls = registry.adapter_class(name)
        own = cls.__dict__.get("check") is not None
        assert info.checks is not None, name
        if own:
            assert info.checks != "reconciler.model.checks:no_checks", f"{name}: its adapter's check() never runs"
