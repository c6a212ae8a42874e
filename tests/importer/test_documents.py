"""The pure core of `reconciler import`: selection, dependency closure, report, stable YAML."""

from __future__ import annotations

import yaml

from reconciler.adapters.importing import default_import_spec
from reconciler.importer.documents import Selection, build
from reconciler.model.records import make_record


def api(name: str, owner: str | None = None, **extra: object) -> dict[str, object]:
    spec = {"tenant": "acme", "version": "1.0", "basePath": f"/{name}", "backend": f"https://{name}.example.com",
            "methods": ["POST", "GET"], "openapi": None, "openapiHash": None, **extra}
    return make_record("API", name, spec, id=name, owner=owner)


def items(*records: dict[str, object]) -> list[tuple[dict[str, object], object]]:
    return [(r, default_import_spec(str(r["kind"]), r)) for r in records]


POLICY = make_record("Policy", "pets-limit", {"api": "pets", "type": "rate_limit",
                                              "config": {"requests": 5, "period": "second"}}, id="p1")
CONSUMER = make_record("Consumer", "mobile", {"subscriptions": ["pets"],
                                              "credential": {"type": "apiKey", "fingerprint": "sha256:0123456789abcdef"}})


def test_documents_are_loadable_yaml_bound_to_the_gateway_in_stable_order() -> None:
    result = build("kong-prod", items(CONSUMER, POLICY, api("pets")))  # type: ignore[arg-type]
    assert [f.path for f in result.files] == ["apis/pets.yaml", "policies/pets-limit.yaml", "consumers/mobile.yaml"]
    first = yaml.safe_load(result.files[0].text)
    assert list(first) == ["apiVersion", "kind", "metadata", "spec"]
    assert first["spec"]["gateways"] == ["kong-prod"] and first["spec"]["methods"] == ["GET", "POST"]
    assert "gateways" not in yaml.safe_load(result.files[1].text)["spec"]
    consumer = yaml.safe_load(result.files[2].text)["spec"]
    assert consumer["credential"] == {"type": "apiKey", "secretRef": {"env": "MOBILE_API_KEY"}}
    assert "sha256" not in result.files[2].text
    assert [(e.name, e.detail) for e in result.secrets] == [("mobile", "MOBILE_API_KEY")]
    assert build("kong-prod", items(api("pets"), POLICY, CONSUMER)).files == result.files  # type: ignore[arg-type]


def test_selection_pulls_in_what_a_selected_object_refers_to() -> None:
    result = build("gw", items(api("pets"), api("orders", owner="team-b"), POLICY),  # type: ignore[arg-type]
                   selection=Selection(names=("pets-*",)))
    assert [(e.kind, e.name) for e in result.imported] == [("API", "pets"), ("Policy", "pets-limit")]
    owned = build("gw", items(api("pets"), api("orders", owner="team-b")), selection=Selection(owner="team-b"))  # type: ignore[arg-type]
    assert [e.name for e in owned.imported] == ["orders"]
    unowned = build("gw", items(api("pets"), api("orders", owner="team-b")), selection=Selection(unowned_only=True))  # type: ignore[arg-type]
    assert [e.name for e in unowned.imported] == ["pets"]


def test_what_cannot_be_expressed_is_reported_not_dropped() -> None:
    bad_name = api("Pets API")
    other_type = make_record("Policy", "jwt", {"api": "pets", "type": "jwt", "config": {}})
    basic = make_record("Consumer", "ops", {"subscriptions": [], "credential": {"type": "basic-auth"}})
    orphan = make_record("Policy", "lost", {"api": "gone", "type": "rate_limit",
                                            "config": {"requests": 1, "period": "second"}})
    result = build("gw", items(bad_name, api("pets"), other_type, basic, orphan),  # type: ignore[arg-type]
                   declared={("API", "pets"): "repo/apis/pets.yaml"})
    reasons = {e.name: e.detail for e in result.skipped}
    assert set(reasons) == {"Pets API", "pets", "jwt", "ops", "lost"}
    assert "metadata.name" in reasons["Pets API"]
    assert "already declared in repo/apis/pets.yaml" == reasons["pets"]
    assert "'jwt'" in reasons["jwt"] and "basic-auth" in reasons["ops"] and "API gone" in reasons["lost"]
    assert result.files == []


def test_an_openapi_document_is_saved_beside_its_api() -> None:
    doc = {"openapi": "3.0.3", "info": {"title": "Pets", "version": "1"}, "paths": {"/pets": {"get": {
        "responses": {"200": {"description": "ok"}}}}}}
    result = build("gw", items(api("pets", openapi=doc)))  # type: ignore[arg-type]
    files = {f.path: f.text for f in result.files}
    assert yaml.safe_load(files["apis/pets.yaml"])["spec"]["openapi"] == "../openapi/pets.yaml"
    assert yaml.safe_load(files["openapi/pets.yaml"]) == doc


def test_plain_secret_references_are_listed_to_set() -> None:
    from reconciler.importer.documents import _secrets_of

    spec = {"clientId": "gw", "clientSecret": {"env": "IDP_CLIENT_SECRET"}, "nested": [{"secretRef": {"env": "K"}}],
            "labels": {"env": "prod", "team": "a"}}
    assert list(_secrets_of(spec)) == ["IDP_CLIENT_SECRET", "K"]
