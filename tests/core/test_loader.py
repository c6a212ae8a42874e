"""Loader: every error names file, line and field; cross-references are checked; nothing slips."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.manifests.loader import ValidationFailed, load, parse_tree

GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata: {name: stoa-dev, labels: {env: dev}}
spec: {displayName: STOA, gatewayType: stoa, environment: dev, baseUrl: "http://127.0.0.1:8080",
       credentials: {token: {env: T}}}
"""

API = """\
apiVersion: gostoa.dev/v1alpha1
kind: API
metadata:
  name: pets
spec:
  tenant: acme
  version: "1"
  basePath: /pets
  backend: https://pets.example.com
  gateways: [stoa-dev]
"""


def errors_of(files: dict[str, str]) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        parse_tree(files, display_root="repo")
    return [str(e) for e in info.value.errors]


def test_valid_tree_parses_all_kinds_and_several_documents_per_file() -> None:
    state = parse_tree({"gw.yaml": GATEWAY, "apis/pets.yaml": API + "---\n" + API.replace("pets", "cats")})
    assert sorted(state.of_kind("API")) == ["cats", "pets"]
    assert state.settings.owner == "stoa-reconciler"
    assert state.of_kind("API")["cats"].line == 12  # line 11 is the --- separator


def test_bad_url_names_file_line_and_field() -> None:
    bad = API.replace("https://pets.example.com", "not a url")
    assert errors_of({"gw.yaml": GATEWAY, "apis/pets.yaml": bad}) == ["repo/apis/pets.yaml:9: spec.backend: not a URL"]


def test_unknown_field_missing_field_and_bad_name_are_all_reported() -> None:
    bad = API.replace("  tenant: acme\n", "  tenannt: acme\n").replace("name: pets", "name: Pets_1")
    errs = errors_of({"gw.yaml": GATEWAY, "a.yaml": bad})
    assert "repo/a.yaml:4: metadata.name: not a valid name" in errs[0]
    assert "repo/a.yaml:5: spec.tenant: required field missing" in errs
    assert "repo/a.yaml:6: spec.tenannt: unknown field; did you mean 'tenant'?" in errs


def test_literal_credentials_are_rejected() -> None:
    literal = GATEWAY.replace("{token: {env: T}}", "{token: s3cr3t-value}")
    errs = errors_of({"gw.yaml": literal})
    assert len(errs) == 1 and "literal credentials are not allowed" in errs[0]
    assert "s3cr3t-value" not in errs[0]


def test_cross_references() -> None:
    policy = textwrap.dedent("""\
        apiVersion: gostoa.dev/v1alpha1
        kind: Policy
        metadata: {name: rl}
        spec: {api: nope, type: rate_limit, rateLimit: {requests: 1}}
        ---
        apiVersion: gostoa.dev/v1alpha1
        kind: Consumer
        metadata: {name: app}
        spec: {credential: {secretRef: {env: K}}, subscriptions: [pets, ghost]}
        """)
    api = API.replace("gateways: [stoa-dev]", "gateways: [stoa-prod]")
    errs = errors_of({"gw.yaml": GATEWAY, "api.yaml": api, "more.yaml": policy})
    assert "repo/api.yaml:10: spec.gateways: unknown gateway 'stoa-prod'; did you mean 'stoa-dev'?" in errs
    assert "repo/more.yaml:4: spec.api: unknown API 'nope'" in errs
    assert "repo/more.yaml:9: spec.subscriptions: unknown API 'ghost'" in errs


def test_duplicate_names_point_at_both_places() -> None:
    errs = errors_of({"gw.yaml": GATEWAY, "a.yaml": API, "b.yaml": API})
    assert errs == ["repo/b.yaml:4: metadata.name: duplicate API 'pets' (first defined at repo/a.yaml:1)"]


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "../outside.yaml"])
def test_openapi_path_escaping_the_repo_is_an_error(ref: str) -> None:
    api = API + f"  openapi: {ref}\n"
    errs = errors_of({"gw.yaml": GATEWAY, "api.yaml": api})
    assert errs == [f"repo/api.yaml:1: spec.openapi: path {ref!r} escapes the repository"]


def test_openapi_is_read_relative_to_the_manifest() -> None:
    api = API + "  openapi: ../specs/pets.yaml\n"
    state = parse_tree({"gw.yaml": GATEWAY, "apis/pets.yaml": api,
                        "specs/pets.yaml": "openapi: 3.0.3\ninfo: {title: P, version: '1'}\npaths: {}\n"})
    assert state.openapi["pets"]["info"]["title"] == "P"
    errs = errors_of({"gw.yaml": GATEWAY, "apis/pets.yaml": api})
    assert errs == ["repo/apis/pets.yaml:1: spec.openapi: file 'specs/pets.yaml' not found in the repository"]


def test_invalid_yaml_reports_its_line() -> None:
    errs = errors_of({"gw.yaml": GATEWAY, "bad.yaml": "apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: [\n"})
    assert errs[0].startswith("repo/bad.yaml:") and "invalid YAML" in errs[0]


def test_unknown_kind_and_version() -> None:
    doc = "apiVersion: gostoa.dev/v1alpha1\nkind: Route\nmetadata: {name: x}\nspec: {}\n"
    errs = errors_of({"x.yaml": doc, "y.yaml": doc.replace("v1alpha1", "v9").replace("Route", "API")})
    assert errs[0].startswith("repo/x.yaml:2: kind: unknown kind 'Route'")
    assert errs[1].startswith("repo/y.yaml:1: apiVersion: unsupported apiVersion 'gostoa.dev/v9'")


def test_non_manifest_yaml_is_an_error_unless_it_is_openapi() -> None:
    assert list(parse_tree({"gw.yaml": GATEWAY, "docs/openapi.yaml": "openapi: 3.0.3\ninfo: {title: x}\n"}).gateways)
    stray = {"gw.yaml": GATEWAY, "docs/openapi.yaml": "openapi: 3.0.3\ninfo: {title: x}\n", "docs/pet.yaml": "type: object\n"}
    assert errors_of(stray) == [
        "repo/docs/pet.yaml:1: not a manifest (no apiVersion or kind) and no API's spec.openapi refers to it "
        "or to its folder; list it in .reconcilerignore if the reconciler should skip it"]
    api = API + "  openapi: ../docs/openapi.yaml\n"
    state = parse_tree({**stray, "apis/pets.yaml": api, "docs/schemas/tag.yaml": "type: string\n"})
    assert state.openapi["pets"]["info"]["title"] == "x"  # and the split spec's fragment is no stray


def test_selector_matching_nothing_is_an_error() -> None:
    api = API.replace("gateways: [stoa-dev]", "gatewaySelector: {matchLabels: {env: prod}}")
    assert errors_of({"gw.yaml": GATEWAY, "api.yaml": api}) == [
        "repo/api.yaml:10: spec.gatewaySelector: matches no GatewayInstance"]


def test_every_gateway_type_of_stoa_is_valid() -> None:
    types = ["stoa", "stoa_edge_mcp", "stoa_sidecar", "stoa_proxy", "stoa_shadow", "kong", "gravitee",
             "webmethods", "apigee", "aws_apigateway"]
    files = {f"{t}.yaml": GATEWAY.replace("stoa-dev", t.replace("_", "-")).replace("gatewayType: stoa", f"gatewayType: {t}")
             for t in types}
    state = parse_tree(files)
    assert sorted(g.spec.gatewayType.value for g in state.gateways.values()) == sorted(types)


def test_examples_repo_is_valid() -> None:
    state = load(Path(__file__).resolve().parents[2] / "examples" / "repo")
    assert state.settings.owner == "platform"
    assert {"pets", "orders"} <= set(state.of_kind("API"))


def test_duplicate_keys_are_refused_with_their_line() -> None:
    doc = API.replace("  tenant: acme\n", "  tenant: acme\n  tenant: other\n")
    errs = errors_of({"gw.yaml": GATEWAY, "apis/pets.yaml": doc})
    assert len(errs) == 1 and errs[0].startswith("repo/apis/pets.yaml:7: invalid YAML") and "duplicate key 'tenant'" in errs[0]


def test_yaml_12_scalars_and_dates_stay_strings() -> None:
    doc = API.replace('version: "1"', "version: 2024-01-01")
    state = parse_tree({"gw.yaml": GATEWAY, "a.yaml": doc})
    assert state.of_kind("API")["pets"].model.spec.version == "2024-01-01"  # type: ignore[attr-defined]


def test_validate_of_a_single_file_names_that_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.cli import main

    bad = tmp_path / "api.yaml"
    bad.write_text("apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata:\n  name: pets\nspec:\n  tenannt: x\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:6: spec.tenannt: unknown field; did you mean 'tenant'?" in err
    assert f"{bad}/api.yaml" not in err


def test_documents_of_one_shape_share_their_fields_set_and_dump_as_before() -> None:
    """The loader pools pydantic's per-instance fields-sets (memory at 90,000 documents): models given
    the same fields share one set, others keep their own, and what a model dumps is unchanged."""
    docs = "\n---\n".join(
        f"apiVersion: gostoa.dev/v1alpha1\nkind: Policy\nmetadata: {{name: p{i}}}\n"
        f"spec: {{api: a, type: rate_limit, rateLimit: {{requests: {i + 1}, period: minute}}}}" for i in range(3))
    api = ("apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {name: a, labels: {team: x}}\n"
           "spec: {tenant: t, version: '1', basePath: /a, backend: 'https://b.example.com', gateways: [g]}\n")
    gateway = ("apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {name: g}\n"
               "spec: {displayName: g, gatewayType: stoa, environment: dev, baseUrl: 'http://127.0.0.1:9'}\n")
    state = parse_tree({"p.yaml": docs, "a.yaml": api, "g.yaml": gateway})
    policies = [state.of_kind("Policy")[f"p{i}"].model for i in range(3)]
    specs = [p.spec for p in policies]  # type: ignore[attr-defined]
    assert specs[0].__pydantic_fields_set__ is specs[2].__pydantic_fields_set__
    assert specs[0].rateLimit.__pydantic_fields_set__ is specs[1].rateLimit.__pydantic_fields_set__
    api_model = state.of_kind("API")["a"].model
    assert api_model.metadata.__pydantic_fields_set__ == {"name", "labels"}  # type: ignore[attr-defined]
    assert policies[0].metadata.__pydantic_fields_set__ == {"name"}  # type: ignore[attr-defined]
    assert [p.model_dump(exclude_unset=True)["spec"]["rateLimit"]["requests"] for p in policies] == [1, 2, 3]
    assert api_model.model_dump(exclude_unset=True)["metadata"] == {"name": "a", "labels": {"team": "x"}}
