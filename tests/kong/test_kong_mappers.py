"""Pure mappers and the DB-less merge: round trips and preservation, no I/O."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters.kong import dbless
from reconciler.adapters.kong import mappers as m
from reconciler.adapters.kong.adapter import KongAdapter
from reconciler.model.changes import Change, Op
from reconciler.model.records import make_record

OWNER = "platform"
API: dict[str, Any] = {"tenant": "acme", "version": "1.0.0", "basePath": "/pets", "backend": "https://pets.example.com/v1",
                       "methods": ["POST", "GET"], "openapi": {"openapi": "3.0.0"}, "openapiHash": "sha256:abc"}


@pytest.mark.parametrize(("url", "expected"), [
    ("https://pets.example.com/v1", "https://pets.example.com/v1"),
    ("https://pets.example.com:443/v1", "https://pets.example.com/v1"),
    ("http://orders.internal:8080", "http://orders.internal:8080/"),  # no path proxies as "/" does
    ("https://x.example.com/", "https://x.example.com/"),
])
def test_backend_normalization_matches_read_back(url: str, expected: str) -> None:
    assert m.normalize_backend(url) == expected
    assert m.join_backend(m.split_backend(url)) == expected


@given(text=st.text(min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
def test_tag_encoding_round_trips_and_is_kong_safe(text: str) -> None:
    tag = "stoa-display:" + m.enc(text)
    assert "," not in tag and "/" not in tag
    assert m.tag_value([tag], "stoa-display:") == text


def test_api_round_trip_equals_desired_view() -> None:
    spec = {**API, "displayName": "Pets / v1, beta", "description": "50% off"}
    record = make_record("API", "pets", spec)
    service = {"id": "sid", **m.api_to_service(record, OWNER)}
    route = {"id": "rid", **m.api_to_route(record, OWNER), "service": {"id": "sid"}}
    back = m.api_from_kong(service, route)
    assert back["spec"] == m.desired_view("API", spec)
    assert back["owner"] == OWNER and back["name"] == "pets" and "openapi" not in back["spec"]


@pytest.mark.parametrize("period", ["second", "minute", "hour", "day"])
def test_rate_limit_round_trip_every_period(period: str) -> None:
    spec = {"api": "pets", "type": "rate_limit", "config": {"requests": 42, "period": period}}
    plugin = m.policy_to_plugin(make_record("Policy", "r", spec), OWNER)
    assert plugin["config"] == {period: 42}
    back = m.plugin_to_policy({**plugin, "id": "p"}, "pets")
    assert back is not None and back["spec"] == spec


def test_cors_round_trip() -> None:
    spec = {"api": "pets", "type": "cors", "config": {"origins": ["https://b", "https://a"], "methods": ["POST", "GET"],
                                                       "headers": [], "exposeHeaders": ["X-Id"], "credentials": True,
                                                       "maxAge": 600}}
    plugin = m.policy_to_plugin(make_record("Policy", "c", spec), OWNER)
    assert plugin["config"]["exposed_headers"] == ["X-Id"] and plugin["config"]["max_age"] == 600
    back = m.plugin_to_policy({**plugin, "id": "p"}, "pets")
    assert back is not None and back["spec"] == m.desired_view("Policy", spec)


def test_unmanaged_entities_have_no_owner() -> None:
    assert m.owner_of({"tags": None}) is None
    assert m.owner_of({"tags": ["stoa-owner:platform"]}) is None  # the managed marker is required too
    assert m.owner_of({"tags": [m.MANAGED_TAG, "stoa-owner:team-b"]}) == "team-b"
    # an operator's plugin reads as an unowned Policy (for the import report), never as ours
    glob = m.plugin_to_policy({"id": "0123456789", "name": "cors", "tags": None, "config": {}}, None)
    assert glob is not None and glob["owner"] is None and glob["name"] == "cors-01234567"
    assert any("global-scoped" in n for n in glob["unexpressed"])
    # the key-auth/acl pair of a service is the API's protection, not a Policy
    assert m.plugin_to_policy({"name": "key-auth", "tags": None, "config": {}}, "pets") is None
    other = m.plugin_to_policy({"name": "request-termination", "tags": ["team-a"], "config": {"message": "x"}}, "pets")
    assert other is not None and other["name"] == "pets-request-termination" and other["spec"]["config"] == {}


def test_merge_tags_keeps_foreign_tags() -> None:
    assert m.merge_tags(["team-a", m.MANAGED_TAG, "stoa-owner:old"], ["stoa-x:1"]) == ["team-a", "stoa-x:1"]


def _export() -> dict[str, Any]:
    return {
        "_format_version": "3.0", "_transform": False,
        "services": [{"id": "s-legacy", "name": "legacy", "host": "l", "port": 80, "protocol": "http", "retries": 9}],
        "routes": [{"id": "r-free", "name": "free", "paths": ["/f"]}],
        "plugins": [{"id": "p-global", "name": "prometheus", "config": {"per_consumer": None}, "updated_at": 5}],
        "consumers": [{"id": "c-ops", "username": "ops"}],
        "basicauth_credentials": [{"id": "b1", "consumer": "c-ops", "username": "ops", "password": "hash"}],
        "upstreams": [{"id": "u1", "name": "up", "healthchecks": {"active": {"headers": None, "timeout": 1}}}],
        "targets": [{"id": "t1", "upstream": "u1", "target": "10.0.0.1:80"}],
        "certificates": [{"id": "cert1", "cert": "C", "key": "K"}],
        "snis": [{"id": "sni1", "name": "a.example.com", "certificate": "cert1"}],
        "vaults": [{"id": "v1", "prefix": "env", "name": "env"}],
    }


def test_merge_preserves_everything_not_owned() -> None:
    cfg = dbless.Config.from_export(copy.deepcopy(_export()))
    dbless.apply_change(cfg, Change("g", Op.CREATE, "API", "pets", desired=make_record("API", "pets", API)), OWNER)
    doc = dbless.to_document(cfg)
    assert doc["_transform"] is False
    assert {"id": "s-legacy", "name": "legacy", "host": "l", "port": 80, "protocol": "http", "retries": 9} in doc[
        "services"]
    assert {"id": "r-free", "name": "free", "paths": ["/f"]} in doc["routes"]
    assert {"id": "p-global", "name": "prometheus", "config": {"per_consumer": None}} in doc["plugins"]
    assert doc["consumers"] == [{"id": "c-ops", "username": "ops", "basicauth_credentials": [
        {"id": "b1", "username": "ops", "password": "hash"}]}]
    assert doc["upstreams"] == [{"id": "u1", "name": "up", "healthchecks": {"active": {"timeout": 1}},
                                 "targets": [{"id": "t1", "target": "10.0.0.1:80"}]}]
    assert doc["certificates"] == [{"id": "cert1", "cert": "C", "key": "K",
                                    "snis": [{"id": "sni1", "name": "a.example.com"}]}]
    assert doc["vaults"] == [{"id": "v1", "prefix": "env", "name": "env"}]


def test_merge_consumer_replaces_only_owned_acls_and_keys() -> None:
    cfg = dbless.Config.from_export(_export())
    consumer = make_record("Consumer", "ops", {"subscriptions": ["pets"], "credential": {"type": "apiKey"}})
    change = Change("g", Op.CREATE, "Consumer", "ops", desired=consumer, secrets={"apiKey": "k-123456"})
    with pytest.raises(dbless.MergeError):  # 'ops' exists and is not ours
        dbless.apply_change(cfg, change, OWNER)
    mobile = make_record("Consumer", "mobile", {"subscriptions": ["pets", "orders"], "credential": {"type": "apiKey"}})
    change = Change("g", Op.CREATE, "Consumer", "mobile", desired=mobile, secrets={"apiKey": "k-123456"})
    cid = dbless.apply_change(cfg, change, OWNER)
    assert sorted(a["group"] for a in cfg.find_all("acls", consumer=cid)) == ["orders", "pets"]
    fewer = {**mobile, "spec": {**mobile["spec"], "subscriptions": ["pets"]}}
    dbless.apply_change(cfg, Change("g", Op.UPDATE, "Consumer", "mobile", desired=fewer, secrets={"apiKey": "k-999999"}),
                        OWNER)
    assert [a["group"] for a in cfg.find_all("acls", consumer=cid)] == ["pets"]
    assert [k["key"] for k in cfg.find_all("keyauth_credentials", consumer=cid)] == ["k-999999"]


def test_policy_refuses_a_foreign_plugin_in_the_same_slot() -> None:
    cfg = dbless.Config.from_export(_export())
    sid = dbless.apply_change(cfg, Change("g", Op.CREATE, "API", "pets", desired=make_record("API", "pets", API)),
                              OWNER)
    cfg.put("plugins", {"id": "hand-made", "name": "cors", "service": sid, "config": {}}, ("x", "y"))
    policy = make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": {"origins": ["*"]}})
    with pytest.raises(dbless.MergeError):
        dbless.apply_change(cfg, Change("g", Op.CREATE, "Policy", "pets-cors", desired=policy), OWNER)


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,8}){1,2}", fullmatch=True)
_segments = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True), max_size=3)
_words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@st.composite
def _api_specs(draw: st.DrawFn) -> tuple[dict[str, object], str, bool]:
    scheme = draw(st.sampled_from(["http", "https"]))
    port = draw(st.one_of(st.none(), st.integers(1, 65535)))
    path = "/" + "/".join(draw(_segments)) + draw(st.sampled_from(["", "/"]))
    userinfo = draw(st.sampled_from(["", "user:pw@", "user@"]))
    query = draw(st.sampled_from(["", "?region=eu", "?a=1&b=2"]))
    fragment = draw(st.sampled_from(["", "#frag"]))
    netloc = draw(_hosts) + (f":{port}" if port is not None else "")
    url = f"{scheme}://{userinfo}{netloc}{path if path != '/' else ''}{query}{fragment}"
    default = {"http": 80, "https": 443}[scheme]
    # What a service holds, written independently of the mappers: default port dropped, nothing else.
    # No path reads as "/": Kong's upstream base path is `service.path or "/"` (kong/router/utils.lua).
    stored = f"{scheme}://{netloc if port not in (None, default) else netloc.split(':')[0]}{path}"
    lossy = bool(userinfo or query or fragment)
    spec: dict[str, object] = {
        "tenant": draw(_words), "version": draw(_words), "basePath": "/" + "/".join(draw(_segments)),
        "backend": url, "methods": sorted(set(draw(st.lists(st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
                                                             min_size=1)))),
        "openapiHash": draw(st.one_of(st.none(), st.just("sha256:" + "a" * 64))),
    }
    for key in ("displayName", "description"):
        if draw(st.booleans()):
            spec[key] = draw(_words)
    return spec, stored, lossy


@settings(max_examples=300, deadline=None)
@given(_api_specs())
def test_api_round_trip_is_exact_or_refused_by_check(case: tuple[dict[str, object], str, bool]) -> None:
    """Random desired API -> Kong service and route -> read back: equals the desired view, unless
    `check` refuses the spec (a URL part a service cannot hold). No third outcome: no silent loss."""
    spec, stored, lossy = case
    record = make_record("API", "pets", dict(spec))
    service = {"id": "s1", **m.api_to_service(record, OWNER)}
    route = {"id": "r1", **m.api_to_route(record, OWNER)}
    back = m.api_from_kong(service, route)["spec"]
    view = {k: v for k, v in m.desired_view("API", dict(spec)).items() if v is not None}
    back = {k: v for k, v in back.items() if v is not None}
    refused = KongAdapter.check([record], {})
    assert bool(refused) == lossy, (spec["backend"], refused)
    if not refused:
        assert back == view and back["backend"] == stored
