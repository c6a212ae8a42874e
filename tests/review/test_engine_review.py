"""engine.review, pure: what a change touches, which gateways changed, --target closure, desired diff."""

from __future__ import annotations

import pytest

from reconciler.engine.review import (
    changed_gateways,
    closure,
    comparable_records,
    desired_diff,
    parse_target,
    targeted,
    touched,
)
from reconciler.manifests.loader import DesiredState, parse_tree
from reconciler.model.changes import Change, Op

SETTINGS = "apiVersion: gostoa.dev/v1alpha1\nkind: ReconcilerSettings\nspec: {owner: platform}\n"


def gateway(name: str, env: str = "dev") -> str:
    return (f"apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {{name: {name}, labels: {{env: {env}}}}}\n"
            f"spec: {{displayName: {name}, environment: {env}, gatewayType: stoa, baseUrl: 'http://127.0.0.1:1',"
            " credentials: {token: {env: T}}}\n")


def api(name: str, gw: str, backend: str = "https://b.example.com", extra: str = "") -> str:
    return (f"apiVersion: gostoa.dev/v1alpha1\nkind: API\nmetadata: {{name: {name}}}\n"
            f"spec: {{tenant: acme, version: '1', basePath: /{name}, backend: '{backend}', gateways: [{gw}]{extra}}}\n")


def policy(name: str, api_name: str, requests: int = 10) -> str:
    return (f"apiVersion: gostoa.dev/v1alpha1\nkind: Policy\nmetadata: {{name: {name}}}\n"
            f"spec: {{api: {api_name}, type: rate_limit, rateLimit: {{requests: {requests}, period: minute}}}}\n")


def consumer(name: str, subs: list[str], env: str = "KEY") -> str:
    return (f"apiVersion: gostoa.dev/v1alpha1\nkind: Consumer\nmetadata: {{name: {name}}}\n"
            f"spec: {{credential: {{type: apiKey, secretRef: {{env: {env}}}}}, subscriptions: [{', '.join(subs)}]}}\n")


def state(**files: str) -> DesiredState:
    return parse_tree({"reconciler.yaml": SETTINGS, "gw.yaml": gateway("dev") + "---\n" + gateway("prod", "prod"),
                       **{f"{k}.yaml": v for k, v in files.items()}})


BASE = dict(orders=api("orders", "dev"), rl=policy("orders-rl", "orders"), app=consumer("app", ["orders"]),
            billing=api("billing", "prod"))


def test_touched_names_added_removed_and_modified_objects_only() -> None:
    head = {**BASE, "rl": policy("orders-rl", "orders", 50), "pets": api("pets", "dev")}
    del head["app"]
    found = touched(comparable_records(state(**BASE)), comparable_records(state(**head)))
    assert found == {("dev", "Policy", "orders-rl"): "modified", ("dev", "API", "pets"): "added",
                     ("dev", "Consumer", "app"): "removed"}


def test_a_changed_secret_reference_is_a_change_and_no_value_enters_the_records() -> None:
    head = {**BASE, "app": consumer("app", ["orders"], env="OTHER_KEY")}
    before, after = comparable_records(state(**BASE)), comparable_records(state(**head))
    assert touched(before, after) == {("dev", "Consumer", "app"): "modified"}
    diff = desired_diff(before, after)["dev"][0]
    assert [(d.path, d.before, d.after) for d in diff.diffs] == [("secretRefs.apiKey", "env:KEY", "env:OTHER_KEY")]


def test_changed_gateways_says_why_for_each_gateway() -> None:
    head = {**BASE, "orders": api("orders", "dev", backend="https://new.example.com")}
    changed, same = changed_gateways(state(**BASE), state(**head), "main (abc)")
    assert changed == {"dev": "1 object(s) changed since main (abc)"}
    assert same == {"prod": "desired state unchanged since main (abc)"}


def test_a_changed_gateway_instance_or_settings_counts_as_changed() -> None:
    before = state(**BASE)
    moved = parse_tree({"reconciler.yaml": SETTINGS, "gw.yaml": gateway("dev") + "---\n" + gateway("prod", "live"),
                        **{f"{k}.yaml": v for k, v in BASE.items()}})
    changed, same = changed_gateways(before, moved, "main")
    assert changed == {"prod": "its GatewayInstance changed since main"} and set(same) == {"dev"}
    owner = parse_tree({"reconciler.yaml": SETTINGS.replace("platform", "team-b"),
                        "gw.yaml": gateway("dev") + "---\n" + gateway("prod", "prod"),
                        **{f"{k}.yaml": v for k, v in BASE.items()}})
    changed, same = changed_gateways(before, owner, "main")
    assert set(changed) == {"dev", "prod"} and same == {}


def test_parse_target_refuses_an_unknown_kind_and_a_bad_shape() -> None:
    assert parse_target("API/orders") == ("API", "orders")
    with pytest.raises(ValueError, match="unknown kind 'Api'"):
        parse_target("Api/orders")
    with pytest.raises(ValueError, match="KIND/NAME"):
        parse_target("orders")


def test_closure_brings_dependencies_not_dependents() -> None:
    records = [r for r in comparable_records(state(**BASE))["dev"].values()]
    assert closure({("Consumer", "app")}, records) == {("Consumer", "app"), ("API", "orders")}
    assert closure({("Policy", "orders-rl")}, records) == {("Policy", "orders-rl"), ("API", "orders")}
    assert closure({("API", "orders")}, records) == {("API", "orders")}


def test_targeted_keeps_dependencies_but_deletes_only_targets() -> None:
    records = [r for r in comparable_records(state(**BASE))["dev"].values()]
    changes = [Change("dev", Op.UPDATE, "API", "orders"), Change("dev", Op.CREATE, "Policy", "orders-rl"),
               Change("dev", Op.UPDATE, "Consumer", "app"), Change("dev", Op.DELETE, "API", "old"),
               Change("dev", Op.DELETE, "Policy", "gone")]
    kept = targeted(changes, {("Policy", "orders-rl"), ("Policy", "gone")}, records)
    assert [(c.kind, c.name) for c in kept] == [("API", "orders"), ("Policy", "orders-rl"), ("Policy", "gone")]


def test_desired_diff_lists_removed_fields_and_orders_deletes_last() -> None:
    head = {**BASE, "orders": api("orders", "dev"), "pets": api("pets", "dev", extra=", description: hi")}
    del head["rl"]
    before = {**BASE, "pets": api("pets", "dev", extra=", description: hello, displayName: Pets")}
    found = desired_diff(comparable_records(state(**before)), comparable_records(state(**head)))
    assert [(c.op, c.kind, c.name) for c in found["dev"]] == [(Op.UPDATE, "API", "pets"), (Op.DELETE, "Policy", "orders-rl")]
    assert {(d.path, d.before, d.after) for d in found["dev"][0].diffs} == {
        ("description", "hello", "hi"), ("displayName", "Pets", None)}
    assert desired_diff(comparable_records(state(**BASE)), comparable_records(state(**BASE))) == {}
