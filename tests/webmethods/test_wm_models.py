"""Extended manifest kinds: validated like the core kinds, registered with the engine."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.adapters.base import HANDLERS
from reconciler.manifests.documents import DOCUMENT_MODELS
from reconciler.manifests.extended import Alias, AuthServer, GatewayConfig, Scope, Strategy, config_name
from reconciler.model.kinds import KINDS, creation_order


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "gostoa.dev/v1alpha1", "kind": kind, "metadata": {"name": name},
            "spec": {"gateways": ["wm"], **spec}}


def test_kinds_are_registered_with_levels() -> None:
    for kind, model in {"AuthServer": AuthServer, "Strategy": Strategy, "Scope": Scope, "Alias": Alias,
                        "GatewayConfig": GatewayConfig}.items():
        assert DOCUMENT_MODELS[kind] is model
    assert {k: KINDS[k].level for k in ("AuthServer", "Alias", "GatewayConfig", "Strategy", "Scope")} == {
        "AuthServer": 0, "Alias": 0, "GatewayConfig": 0, "Strategy": 2, "Scope": 2}
    assert creation_order(["Scope", "API", "AuthServer"]) == [["AuthServer"], ["API"], ["Scope"]]
    assert HANDLERS["GatewayConfig"].delete is not None


def test_valid_documents() -> None:
    AuthServer.model_validate(doc("AuthServer", "kc", {"discoveryURL": "https://kc/.well-known",
                                                       "clientSecret": {"env": "KC"}, "scopes": [{"name": "r"}]}))
    Strategy.model_validate(doc("Strategy", "s", {"authServer": "kc"}))
    Scope.model_validate(doc("Scope", "sc", {"apis": ["pets"], "requiredAuthScopes": [{"authServer": "kc",
                                                                                       "scope": "r"}]}))
    Alias.model_validate(doc("Alias", "a", {"endpointUri": "https://b"}))
    Alias.model_validate(doc("Alias", "v", {"type": "simple", "value": "x"}))
    GatewayConfig.model_validate(doc("GatewayConfig", "load-balancer", {"key": "loadBalancer", "value": {}}))


@pytest.mark.parametrize(("model", "document", "message"), [
    (AuthServer, doc("AuthServer", "kc", {"clientSecret": "literal"}), "clientSecret"),
    (AuthServer, doc("AuthServer", "kc", {"scopes": [{"name": "r"}, {"name": "r"}]}), "duplicate scope"),
    (AuthServer, doc("AuthServer", "kc", {"discoveryURL": "ftp://x"}), "discoveryURL"),
    (Strategy, doc("Strategy", "s", {}), "authServer"),
    (Strategy, doc("Strategy", "s", {"authServer": "kc", "type": "BASIC"}), "type"),
    (Scope, doc("Scope", "sc", {"requiredAuthScopes": []}), "requiredAuthScopes"),
    (Alias, doc("Alias", "a", {"type": "endpoint"}), "endpointUri"),
    (Alias, doc("Alias", "a", {"type": "simple", "value": "x", "readTimeout": 3}), "readTimeout"),
    (GatewayConfig, doc("GatewayConfig", "errors", {"key": "errorProcessing", "value": {}}), "error-processing"),
    (GatewayConfig, doc("GatewayConfig", "x", {"key": "settings", "value": {}}), "key"),
    (Alias, {**doc("Alias", "a", {"endpointUri": "https://b"}), "spec": {"endpointUri": "https://b"}}, "bind"),
    (Alias, doc("Alias", "a", {"endpointUri": "https://b", "typo": 1}), "typo"),
])
def test_invalid_documents(model: Any, document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(document)


def test_config_names_are_kebab_case_keys() -> None:
    assert config_name("denyByIPForFailedAuthConfig") == "deny-by-ip-for-failed-auth-config"
    assert config_name("whiteListingIPs") == "white-listing-ips"
    assert config_name("loadBalancer") == "load-balancer"
