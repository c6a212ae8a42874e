"""Build the `Change` an adapter's `upsert`/`remove` take, for tests that drive one adapter by hand."""

from __future__ import annotations

from typing import Any

from reconciler.model.changes import Change, Op


def upsert_change(record: dict[str, Any], current: dict[str, Any] | None = None, *, adopt: bool = False,
                  gateway: str = "test") -> Change:
    """A create (no live object) or an update of `current`; a `secret` key in the record becomes the change's secrets."""
    desired = {k: v for k, v in record.items() if k != "secret"}
    live_id = None if current is None else current.get("id")
    desired["id"] = live_id if live_id is not None else record.get("id")
    actual = current if current is not None else ({"id": record["id"]} if record.get("id") else None)
    return Change(gateway, Op.CREATE if actual is None else Op.UPDATE, str(record["kind"]), str(record["name"]),
                  desired=desired, actual=actual, adopt=adopt, secrets=dict(record.get("secret") or {}))


def delete_change(live: dict[str, Any], *, gateway: str = "test") -> Change:
    return Change(gateway, Op.DELETE, str(live["kind"]), str(live["name"]), actual=live)


async def reconcile(adapter: Any, desired: list[dict[str, Any]], *, owner: str = "platform") -> list[Change]:
    """Plan one adapter's gateway against `desired` and apply it (records' `secret` keys become the
    apply's secrets); asserts the apply succeeded and returns the changes that were not no-ops."""
    from reconciler.engine.plan import PlanOptions, plan_gateway
    from reconciler.executor.apply import apply_gateway
    from reconciler.runner import read_live

    secrets = {(r["kind"], r["name"]): r["secret"] for r in desired if r.get("secret")}
    records = [{k: v for k, v in r.items() if k != "secret"} for r in desired]
    live = await read_live(adapter)
    changes = plan_gateway(adapter.name, records, live, PlanOptions(owner=owner), view=adapter.desired_view)
    report = await apply_gateway(adapter, changes, secrets=secrets)
    assert not report.failed, report.results
    return [c for c in changes if c.op is not Op.NOOP]
