"""End-to-end: the Apigee adapter against the Apigee emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.apigee.adapter import ApigeeAdapter
from reconciler.emulators.apigee import ApigeeEmulator
from reconciler.model.records import make_record, secret_fingerprint
from tests.changes import delete_change, reconcile, upsert_change

TOKEN = "ya29.test-token"
KEY = "mobile-app-key-0123456789"


@pytest.fixture
def emu() -> Iterator[ApigeeEmulator]:
    with ApigeeEmulator(token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


def config(url: str, owner: str = "platform") -> dict[str, Any]:
    return {"name": "apigee-dev", "gateway_type": "apigee", "base_url": url, "owner": owner,
            "auth": {"token": TOKEN}, "options": {"organization": "acme-org", "environment": "test"}}


def api(name: str = "pets", **over: Any) -> dict[str, Any]:
    spec = {"tenant": "acme", "version": "1.0.0", "basePath": f"/{name}", "backend": f"https://{name}.example.com/v1",
            "methods": ["GET", "POST"], "displayName": "Pets", "description": None, "openapi": None, "openapiHash": None}
    spec.update(over)
    return make_record("API", name, spec)


def policy(requests: int = 100, period: str = "minute", api_name: str = "pets") -> dict[str, Any]:
    return make_record("Policy", f"{api_name}-rate", {"api": api_name, "type": "rate_limit",
                                                       "config": {"requests": requests, "period": period}})


def consumer(subs: list[str], key: str = KEY, name: str = "mobile-app") -> dict[str, Any]:
    rec = make_record("Consumer", name, {"displayName": "Mobile app", "email": "dev@example.com", "subscriptions": subs,
                                         "credential": {"type": "apiKey", "fingerprint": secret_fingerprint(key)}})
    rec["secret"] = {"apiKey": key}
    return rec


def same(desired: dict[str, Any], live: dict[str, Any], kind: str) -> bool:
    view = ApigeeAdapter.desired_view(kind, desired["spec"])
    return all(live["spec"].get(k) == v for k, v in view.items())


async def apply_all(adapter: ApigeeAdapter, records: list[dict[str, Any]]) -> None:
    for record in records:
        live = {(r["kind"], r["name"]): r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)}
        current = live.get((record["kind"], record["name"]))
        if current is not None and same(record, current, record["kind"]):
            continue
        result = await adapter.upsert(upsert_change(record, current))
        assert result.success, result.error


def org(emu: ApigeeEmulator) -> Any:
    return emu.orgs["acme-org"]


async def test_apply_then_read_back_exactly(emu: ApigeeEmulator) -> None:
    desired = [api(), policy(), consumer(["pets"])]
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, desired)
        (live_api,) = await adapter.fetch_apis()
        assert live_api["owner"] == "platform" and same(desired[0], live_api, "API")
        (pol,) = await adapter.fetch_policies()
        assert pol["owner"] == "platform" and pol["spec"] == desired[1]["spec"]
        (con,) = await adapter.fetch_applications()
        assert con["owner"] == "platform" and same(desired[2], con, "Consumer")
    proxy = org(emu).proxies["pets"]
    assert proxy["labels"]["stoa-owner"] == "platform" and list(proxy["revisions"]) == ["1"]
    assert org(emu).deployments[("test", "pets")]["revision"] == "1"
    bundle = zipfile.ZipFile(io.BytesIO(proxy["revisions"]["1"]["bundle"]))
    assert "<BasePath>/pets</BasePath>" in bundle.read("apiproxy/proxies/default.xml").decode()
    assert "https://pets.example.com/v1" in bundle.read("apiproxy/targets/default.xml").decode()
    product = org(emu).products["pets"]
    assert product["quota"] == "100" and product["quotaTimeUnit"] == "minute" and product["proxies"] == ["pets"]
    (app,) = org(emu).apps.values()
    (cred,) = app["credentials"]
    assert cred["consumerKey"] == KEY and cred["apiProducts"] == [{"apiproduct": "pets", "status": "approved"}]


async def test_second_apply_sends_zero_writes(emu: ApigeeEmulator) -> None:
    desired = [api(), policy(), consumer(["pets"])]
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, desired)
    emu.clear_log()
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, desired)
        assert adapter.write_count == 0
    assert emu.writes == []


async def test_changed_api_imports_new_revision_and_swaps_deployment(emu: ApigeeEmulator) -> None:
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, [api()])
        await apply_all(adapter, [api(backend="https://v2.example.com", methods=["GET"])])
        (live,) = await adapter.fetch_apis()
        assert live["spec"]["backend"] == "https://v2.example.com" and live["spec"]["methods"] == ["GET"]
    proxy = org(emu).proxies["pets"]
    assert sorted(proxy["revisions"]) == ["1", "2"]
    assert org(emu).deployments[("test", "pets")]["revision"] == "2"
    imports = [r for r in emu.requests if r.method == "POST" and r.path.endswith("/apis")]
    assert len(imports) == 2


async def test_reverting_reuses_labeled_revision_without_import(emu: ApigeeEmulator) -> None:
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, [api()])
        # someone deploys a hand-made revision of the same proxy out of band
        files = {"file": ("b.zip", _bundle("/hacked", "https://evil.example.com"), "application/octet-stream")}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        base = f"{emu.url}/v1/organizations/acme-org"
        rev = httpx.post(f"{base}/apis", params={"name": "pets", "action": "import"}, files=files, headers=headers).json()
        httpx.post(f"{base}/environments/test/apis/pets/revisions/{rev['revision']}/deployments",
                   params={"override": "true"}, headers=headers).raise_for_status()
        (live,) = await adapter.fetch_apis()
        assert not same(api(), live, "API")  # drift is visible
        emu.clear_log()
        await apply_all(adapter, [api()])
    assert org(emu).deployments[("test", "pets")]["revision"] == "1"
    assert not [r for r in emu.writes if r.path.endswith("/apis")]  # no new import: revision 1 is reused


async def test_out_of_band_quota_change_is_drift(emu: ApigeeEmulator) -> None:
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, [api(), policy(5, "second")])
        (pol,) = await adapter.fetch_policies()
        assert pol["spec"]["config"] == {"requests": 5, "period": "second"}
        org(emu).products["pets"]["quota"] = "600"
        (pol,) = await adapter.fetch_policies()
        assert pol["spec"]["config"] == {"requests": 10, "period": "second"}
        await apply_all(adapter, [policy(5, "second")])
        assert org(emu).products["pets"]["quota"] == "300"


async def test_prune_deletes_owned_objects_only(emu: ApigeeEmulator) -> None:
    async with ApigeeAdapter(config(emu.url, owner="someone-else")) as other:
        await apply_all(other, [api("orders"), consumer(["orders"], key="other-key-123", name="partner")])
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, [api(), policy(), consumer(["pets"])])
        owned = [r for kind in ("Consumer", "Policy", "API") for r in await adapter.fetch(kind) if r["owner"] == "platform"]
        assert {(r["kind"], r["name"]) for r in owned} == {("API", "pets"), ("Policy", "pets-rate"),
                                                            ("Consumer", "mobile-app")}
        for record in owned:
            result = await adapter.remove(delete_change(record))
            assert result.success, result.error
        assert not (await adapter.delete_api("orders")).success
        assert [(r["name"], r["owner"]) for r in await adapter.fetch_apis()] == [("orders", "someone-else")]
    assert set(org(emu).proxies) == {"orders"} and set(org(emu).products) == {"orders"}
    assert [k[1] for k in org(emu).apps] == ["partner"]
    assert ("test", "orders") in org(emu).deployments


async def test_subscription_change_and_key_rotation(emu: ApigeeEmulator) -> None:
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, [api(), api("orders"), consumer(["pets"])])
        await apply_all(adapter, [consumer(["orders"])])
        (con,) = await adapter.fetch_applications()
        assert con["spec"]["subscriptions"] == ["orders"]
        await apply_all(adapter, [consumer(["orders", "pets"], key="rotated_key-42")])
        (con,) = await adapter.fetch_applications()
        assert con["spec"]["credential"]["fingerprint"] == secret_fingerprint("rotated_key-42")
        assert con["spec"]["subscriptions"] == ["orders", "pets"]
    (app,) = org(emu).apps.values()
    assert [c["consumerKey"] for c in app["credentials"]] == ["rotated_key-42"]


async def test_conflict_with_unowned_proxy(emu: ApigeeEmulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    files = {"file": ("b.zip", _bundle("/pets", "https://legacy.example.com"), "application/octet-stream")}
    httpx.post(f"{emu.url}/v1/organizations/acme-org/apis", params={"name": "pets", "action": "import"},
               files=files, headers=headers).raise_for_status()
    async with ApigeeAdapter(config(emu.url)) as adapter:
        result = await adapter.sync_api(api(), "acme")
        assert not result.success and result.category == "conflict"
        (live,) = await adapter.fetch_apis()
        assert live["owner"] is None


async def test_wrong_token_fails_cleanly(emu: ApigeeEmulator) -> None:
    cfg = config(emu.url)
    cfg["auth"] = {"token": "wrong-token-value"}
    async with ApigeeAdapter(cfg) as adapter:
        result = await adapter.health_check()
        assert not result.success and "401" in (result.error or "") and "wrong-token-value" not in (result.error or "")
        with pytest.raises(Exception, match="401"):
            await adapter.fetch_apis()


def _bundle(base_path: str, url: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("apiproxy/pets.xml", '<APIProxy name="pets"/>')
        z.writestr("apiproxy/proxies/default.xml", f'<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>'
                   f'{base_path}</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>default'
                   f"</TargetEndpoint></RouteRule></ProxyEndpoint>")
        z.writestr("apiproxy/targets/default.xml", f'<TargetEndpoint name="default"><HTTPTargetConnection><URL>{url}'
                   "</URL></HTTPTargetConnection></TargetEndpoint>")
    return buffer.getvalue()


CORS = {"origins": ["https://app.example.com", "https://admin.example.com"], "methods": ["GET", "POST"],
        "headers": ["X-Api-Key"], "exposeHeaders": ["X-Request-Id"], "credentials": True, "maxAge": 600}


def cors(config: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_record("Policy", "pets-cors", {"api": "pets", "type": "cors", "config": config or CORS})


async def test_cors_policy_lives_in_the_bundle_and_survives_api_updates(emu: ApigeeEmulator) -> None:
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await apply_all(adapter, [api(), policy(), cors()])
        by_name = {p["name"]: p for p in await adapter.fetch_policies()}
        assert by_name["pets-cors"]["spec"] == cors()["spec"] and by_name["pets-cors"]["owner"] == "platform"
        emu.clear_log()
        await apply_all(adapter, [api(), policy(), cors()])
        assert emu.writes == []
        await apply_all(adapter, [api(backend="https://v3.example.com")])  # regenerated bundle keeps CORS
        by_name = {p["name"]: p for p in await adapter.fetch_policies()}
        assert by_name["pets-cors"]["spec"] == cors()["spec"]
        await apply_all(adapter, [cors({**CORS, "maxAge": 60})])
        (live,) = [p for p in await adapter.fetch_policies() if p["name"] == "pets-cors"]
        assert live["spec"]["config"]["maxAge"] == 60
        assert (await adapter.remove(delete_change(live))).success
        assert [p["name"] for p in await adapter.fetch_policies()] == ["pets-rate"]
        (live_api,) = await adapter.fetch_apis()
        assert live_api["spec"]["backend"] == "https://v3.example.com"
    deployed = org(emu).deployments[("test", "pets")]["revision"]
    bundle = zipfile.ZipFile(io.BytesIO(org(emu).proxies["pets"]["revisions"][deployed]["bundle"]))
    assert not [n for n in bundle.namelist() if "cors-" in n]


@pytest.mark.parametrize("kind", ["rate_limit", "cors"])
async def test_moving_a_policy_to_another_api_converges(emu: ApigeeEmulator, kind: str) -> None:
    """The policy leaves its old API (product quota / bundle CORS) when its spec names another."""
    cfg = {"requests": 100, "period": "minute"} if kind == "rate_limit" else {
        "origins": ["https://a.example.com"], "methods": ["GET"], "headers": [], "exposeHeaders": [],
        "credentials": False, "maxAge": 60}

    def pol(target: str) -> dict[str, Any]:
        return make_record("Policy", "moving", {"api": target, "type": kind, "config": cfg})

    async with ApigeeAdapter(config(emu.url)) as adapter:
        await reconcile(adapter, [api("pets"), api("orders"), pol("pets")])
        moved = await reconcile(adapter, [api("pets"), api("orders"), pol("orders")])
        assert [(c.kind, c.name, c.op.value) for c in moved] == [("Policy", "moving", "update")]
        policies = [p for p in await adapter.fetch("Policy") if p["name"] == "moving"]
        assert [p["spec"]["api"] for p in policies] == ["orders"]
        assert await reconcile(adapter, [api("pets"), api("orders"), pol("orders")]) == []


async def test_an_api_without_its_product_is_drift_and_healed(emu: ApigeeEmulator) -> None:
    """An apply cut between the deployment and the API product (or a product deleted by hand) leaves
    an API whose policies and consumers cannot attach: the next plan sees it, the next apply heals."""
    desired = [api("pets"), policy(), consumer(["pets"])]
    async with ApigeeAdapter(config(emu.url)) as adapter:
        await reconcile(adapter, desired)
        import httpx
        async with httpx.AsyncClient(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            assert (await c.delete("/v1/organizations/acme-org/apiproducts/pets")).status_code == 200
        healed = await reconcile(adapter, desired)
        assert ("API", "pets", "update") in [(c.kind, c.name, c.op.value) for c in healed]
        assert await reconcile(adapter, desired) == []


async def test_a_proxy_left_unlabelled_by_an_interrupted_import_is_recovered(emu: ApigeeEmulator) -> None:
    """The import that creates a proxy cannot carry labels; if the apply stops before the label PATCH,
    the bundle's owner marker proves the proxy is ours: the next apply labels and finishes it, where a
    foreign unlabelled proxy stays a conflict."""
    import httpx

    from reconciler.adapters.apigee.bundle import build_bundle

    desired = [api("pets"), api("orders")]
    mine = build_bundle("pets", desired[0]["spec"], owner="platform")
    theirs = build_bundle("orders", desired[1]["spec"])  # an operator's copy: no owner marker
    async with httpx.AsyncClient(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        for name, data in (("pets", mine), ("orders", theirs)):
            r = await c.post("/v1/organizations/acme-org/apis", params={"name": name, "action": "import"},
                             files={"file": (f"{name}.zip", data, "application/octet-stream")})
            assert r.status_code == 200, r.text
    async with ApigeeAdapter(config(emu.url)) as adapter:
        from reconciler.engine.plan import PlanOptions, plan_gateway
        from reconciler.executor.apply import apply_gateway
        from reconciler.runner import read_live

        live = await read_live(adapter)
        changes = {(c.kind, c.name): c for c in plan_gateway("apigee-dev", desired, live, PlanOptions(owner="platform"),
                                                             view=adapter.desired_view)}
        assert changes[("API", "pets")].op.value == "update"
        assert changes[("API", "orders")].op.value == "conflict"
        report = await apply_gateway(adapter, list(changes.values()))
        assert [r.status.value for r in report.results if r.name == "pets"] == ["applied"]
        assert await reconcile(adapter, [desired[0]]) == []
        pets = next(r for r in await adapter.fetch("API") if r["name"] == "pets")
        assert pets["owner"] == "platform"
