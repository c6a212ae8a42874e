"""Kong DB-less: a read is `GET /status` + `GET /config`, and the apply after a plan reuses that export:
one change costs a hash probe, the `POST /config` and a hash probe, and a writer in between is still
caught (the race of two owners is tests/kong/test_kong_dbless_race.py)."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.kong import KongEmulator
from reconciler.engine.plan import PlanOptions, plan_gateway
from reconciler.executor.apply import apply_gateway
from reconciler.model.changes import Change, Op, Status
from reconciler.model.records import make_record
from tests.conftest import run_cli
from tests.kong.kong_helpers import KEY, OWNER, desired, make_adapter, reconcile
from tests.kong.test_kong_e2e_adapter import UNOWNED
from tests.kong.test_kong_e2e_cli import KEYS, REPO, TOKEN

READ = [("GET", "/status"), ("GET", "/config")]
APPLY = [("GET", "/status"), ("POST", "/config"), ("GET", "/status")]


@pytest.fixture
def kong() -> Iterator[KongEmulator]:
    seed = copy.deepcopy(UNOWNED)
    # what a plan must see although nobody tagged it: a service to adopt, a consumer with a key and acls
    seed["services"].append({"name": "inventory", "url": "http://inventory.internal", "routes": [
        {"name": "inventory-by-hand", "paths": ["/inventory"]}], "plugins": [{"name": "key-auth", "config": {}}]})
    seed["consumers"].append({"username": "partner", "keyauth_credentials": [{"key": "partner-key-0123456789"}],
                              "acls": [{"group": "pets"}]})
    with KongEmulator(mode="dbless") as emu:
        emu.load_config(seed)
        yield emu


def requests(kong: KongEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in kong.requests]


async def plan(adapter: Any, records: list[dict[str, Any]]) -> list[Change]:
    live = [r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)]
    return [c for c in plan_gateway(adapter.name, records, live, PlanOptions(owner=OWNER), view=adapter.desired_view)
            if c.op is not Op.NOOP]


def rate_limit(kong: KongEmulator) -> Any:
    plugin = next(p for p in kong.entities("plugins") if "stoa-name:pets-rate" in (p.get("tags") or []))
    return plugin["config"]["minute"]


async def test_reading_the_export_gives_the_records_the_admin_api_listings_give(kong: KongEmulator) -> None:
    async with make_adapter(kong.url) as a:
        await reconcile(a, desired(apis=("pets",)))
    async with make_adapter(kong.url) as exported, make_adapter(kong.url) as listed:
        kong.clear_log()
        from_export = [r for kind in ("API", "Policy", "Consumer") for r in await exported.fetch(kind)]
        assert requests(kong) == [("GET", "/"), *READ]
        listed._mode = "database"  # the paged `GET /services`, `/routes`, … the emulator serves in DB-less too
        from_listings = [r for kind in ("API", "Policy", "Consumer") for r in await listed.fetch(kind)]
    assert {(r["kind"], r["name"], r["owner"]) for r in from_export} >= {
        ("API", "pets", OWNER), ("API", "inventory", None), ("Consumer", "partner", None), ("Policy", "pets-rate", OWNER)}
    assert from_export == from_listings


async def test_one_change_after_a_plan_is_the_plans_read_and_one_post(kong: KongEmulator) -> None:
    async with make_adapter(kong.url) as a:
        await reconcile(a, desired())
    async with make_adapter(kong.url) as a:
        kong.clear_log()
        changes = await plan(a, desired(rate=101))
        assert [(c.op, c.kind, c.name) for c in changes] == [(Op.UPDATE, "Policy", "pets-rate")]
        assert requests(kong) == [("GET", "/"), *READ]
        kong.clear_log()
        report = await apply_gateway(a, changes, secrets={("Consumer", "mobile"): {"apiKey": KEY}})
        assert requests(kong) == APPLY
    assert [r.status for r in report.results] == [Status.APPLIED]
    assert rate_limit(kong) == 101


async def test_a_second_read_of_the_same_adapter_reads_the_export_afresh(kong: KongEmulator) -> None:
    """Shared by the kinds of one read only: a drift check on a long-lived adapter sees a new config."""
    async with make_adapter(kong.url) as a:
        await reconcile(a, desired())
        assert await plan(a, desired()) == []
        kong.clear_log()
        await a.fetch("Policy")
        assert requests(kong) == READ


async def test_a_writer_between_the_plan_and_the_apply_is_caught_and_kept(kong: KongEmulator) -> None:
    async with make_adapter(kong.url) as a:
        await reconcile(a, desired())
        changes = await plan(a, desired(rate=101))
        other = {"name": "kong-test", "gateway_type": "kong", "base_url": kong.url, "owner": "team-b",
                 "options": {}, "timeout": 5.0}
        async with type(a)(other) as b:  # another team's reconciler posts between our plan and our apply
            theirs = make_record("API", "billing", {"tenant": "b", "version": "1", "basePath": "/billing",
                                                    "backend": "https://billing.example.com", "methods": ["GET"]})
            assert not (await apply_gateway(b, await plan_as(b, [theirs]))).failed
        kong.clear_log()
        report = await apply_gateway(a, changes, secrets={("Consumer", "mobile"): {"apiKey": KEY}})
    # the probe sees the hash moved: re-read and re-merge, then the same probe / POST / probe
    assert requests(kong) == [("GET", "/status"), *READ, *APPLY]
    assert [r.status for r in report.results] == [Status.APPLIED]
    assert rate_limit(kong) == 101
    assert {"billing", "pets", "orders", "inventory", "legacy"} <= {s["name"] for s in kong.entities("services")}


async def plan_as(adapter: Any, records: list[dict[str, Any]]) -> list[Change]:
    live = [r for kind in ("API", "Policy", "Consumer") for r in await adapter.fetch(kind)]
    return plan_gateway(adapter.name, records, live, PlanOptions(owner=adapter.owner), view=adapter.desired_view)


def test_one_change_through_the_cli_reads_once_and_posts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KONG_ADMIN_TOKEN", TOKEN)
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    root = tmp_path / "repo"
    for name, text in REPO.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).strip() + "\n")
    with KongEmulator(mode="dbless", admin_token=TOKEN) as kong:
        kong.load_config(UNOWNED)
        assert run_cli("apply", root, {"kong-dev": kong.url}) == 0
        apis = root / "apis" / "pets.yaml"
        apis.write_text(apis.read_text().replace("requests: 100", "requests: 101"))
        kong.clear_log()
        assert run_cli("apply", root, {"kong-dev": kong.url}) == 0
        assert requests(kong) == [("GET", "/"), *READ, *APPLY]
        assert rate_limit(kong) == 101
