"""Renderings never lie: incomplete plans, error kinds, list elements, Markdown cut per gateway."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from reconciler.model.changes import Change, FieldDiff, GatewayReport, ItemResult, Op, Status
from reconciler.model.plan_schema import PLAN_SCHEMA
from reconciler.model.plans import GatewayPlan, RepoPlan
from reconciler.output import render


def change(op: Op, name: str, kind: str = "API", gateway: str = "gw", diffs: tuple[FieldDiff, ...] = ()) -> Change:
    spec = {"basePath": f"/{name}"}
    desired = None if op is Op.DELETE else {"kind": kind, "name": name, "spec": spec}
    actual = None if op is Op.CREATE else {"kind": kind, "name": name, "id": f"id-{name}", "spec": spec}
    return Change(gateway, op, kind, name, desired=desired, actual=actual, diffs=diffs)


def repo_plan(*gateways: GatewayPlan) -> RepoPlan:
    return RepoPlan(gateways={g.name: g for g in gateways}, owner="platform")


UNREACHABLE = "cannot read gateway: GET /admin/apis: ConnectError: All connection attempts failed"


# ------------------------------------------------------------------------------- incomplete plans
def test_an_unreadable_gateway_makes_the_plan_incomplete_never_no_changes() -> None:
    plan = repo_plan(GatewayPlan("down", "stoa", error=UNREACHABLE))
    text = render.plan_text(plan)
    assert "No changes" not in text
    assert text.endswith("Plan incomplete: 1 of 1 gateway(s) could not be planned (1 unreachable); "
                         "their changes are unknown.")
    markdown = render.plan_markdown(plan)
    assert "No changes" not in markdown
    assert "**Plan incomplete:** 1 of 1 gateway(s) could not be planned (1 unreachable)" in markdown
    data = render.plan_json(plan)
    jsonschema.validate(data, PLAN_SCHEMA)
    assert data["complete"] is False and data["summary"]["failed_gateways"] == 1
    assert data["gateways"][0]["error_kind"] == "unreachable"


def test_an_incomplete_plan_still_shows_what_the_other_gateways_need() -> None:
    plan = repo_plan(GatewayPlan("down", "stoa", error=UNREACHABLE),
                     GatewayPlan("up", "kong", changes=[change(Op.CREATE, "pets", gateway="up")]),
                     GatewayPlan("same", "kong", changes=[change(Op.NOOP, "cats", gateway="same")]),
                     GatewayPlan("nocreds", "kong", error="cannot configure gateway: no token", error_kind="config"))
    lines = render.plan_text(plan).splitlines()
    assert lines[-2:] == ["Plan incomplete: 2 of 4 gateway(s) could not be planned (1 unreachable, 1 not configured); "
                          "their changes are unknown.",
                          "Plan for the 2 other gateway(s): 1 to create, 0 to update, 0 to delete."]
    in_sync = repo_plan(GatewayPlan("down", "stoa", error=UNREACHABLE), GatewayPlan("same", "kong"))
    assert render.plan_text(in_sync).splitlines()[-1] == "The 1 other gateway(s) match the desired state."
    assert render.plan_json(plan)["summary"]["failed_gateways"] == 2


def test_a_complete_plan_renders_as_before() -> None:
    plan = repo_plan(GatewayPlan("gw", "stoa", changes=[change(Op.NOOP, "pets")]))
    assert render.plan_text(plan).splitlines()[-1] == "No changes. Every gateway matches the desired state."
    assert "**No changes.** Every gateway matches." in render.plan_markdown(plan)
    data = render.plan_json(plan)
    assert data["complete"] is True and data["summary"]["failed_gateways"] == 0
    assert data["gateways"][0]["error_kind"] is None
    changed = repo_plan(GatewayPlan("gw", "stoa", changes=[change(Op.DELETE, "pets")]))
    assert render.plan_text(changed).splitlines()[-1] == "Plan: 0 to create, 0 to update, 1 to delete."


# ------------------------------------------------------------------------------- error kinds
def test_a_stale_gateway_is_not_reported_as_unreachable() -> None:
    stale = "the live state changed since this plan was made; run plan again"
    plan = repo_plan(GatewayPlan("moved", "stoa", error=stale, error_kind="stale"),
                     GatewayPlan("down", "stoa", error=UNREACHABLE),
                     GatewayPlan("ok", "stoa"))
    reports = {"moved": GatewayReport("moved", error=stale), "down": GatewayReport("down", error=UNREACHABLE),
               "ok": GatewayReport("ok", [ItemResult("ok", "API", "a", Op.CREATE, Status.APPLIED)])}
    last = render.report_text(reports, plan).splitlines()[-1]
    assert last == ("Apply finished with errors: 1 applied, 0 failed, 0 not attempted, 1 gateway(s) unreachable, "
                    "1 gateway(s) changed since the plan (run plan again).")
    only_stale = render.report_text({"moved": reports["moved"]}, plan).splitlines()[-1]
    assert "unreachable" not in only_stale and "1 gateway(s) changed since the plan" in only_stale
    assert "Plan incomplete: 2 of 3 gateway(s) could not be planned (1 unreachable, 1 changed since the plan)" \
        in render.plan_text(plan)


def test_item_failures_alone_keep_the_old_summary() -> None:
    reports = {"gw": GatewayReport("gw", [ItemResult("gw", "API", "a", Op.CREATE, Status.FAILED, error="boom")])}
    assert render.report_text(reports).splitlines()[-1] == (
        "Apply finished with errors: 0 applied, 1 failed, 0 not attempted, 0 gateway(s) unreachable.")


def test_error_kinds_and_list_elements_survive_a_saved_plan() -> None:
    diffs = (FieldDiff("methods", "GET", None, element="removed"), FieldDiff("methods", None, "PATCH", element="added"),
             FieldDiff("backend", "https://a", "https://b"))
    plan = repo_plan(GatewayPlan("moved", "stoa", error="changed", error_kind="stale"),
                     GatewayPlan("gw", "stoa", changes=[change(Op.UPDATE, "pets", diffs=diffs)]))
    data = json.loads(json.dumps(render.plan_json(plan)))
    jsonschema.validate(data, PLAN_SCHEMA)
    back = render.plan_from_json(data)
    assert back.gateways["moved"].failure == "stale"
    assert back.gateways["gw"].changes[0].diffs == diffs
    assert [d.get("element") for d in data["gateways"][0]["changes"][0]["diffs"]] == ["removed", "added", None]
    data["gateways"][0]["error_kind"] = "gone"
    with pytest.raises(ValueError, match="error_kind"):
        render.plan_from_json(data)


# ------------------------------------------------------------------------------- list elements
def methods_plan() -> RepoPlan:
    diffs = (FieldDiff("backend", "https://a", "https://b"),
             FieldDiff("methods", "GET", None, element="removed"), FieldDiff("methods", None, "PATCH", element="added"),
             FieldDiff("grants[2]", None, "refresh_token", element="added"))
    return repo_plan(GatewayPlan("gw", "stoa", changes=[change(Op.UPDATE, "pets", diffs=diffs)]))


def test_text_shows_added_and_removed_list_elements() -> None:
    assert render.plan_text(methods_plan()).splitlines()[1:8] == [
        "  ~ API pets",
        '      ~ backend: "https://a" -> "https://b"',
        "      ~ methods:",
        '          - "GET"',
        '          + "PATCH"',
        "      ~ grants:",
        '          + [2] "refresh_token"',
    ]


def test_markdown_shows_added_and_removed_list_elements_as_diff_lines() -> None:
    markdown = render.plan_markdown(methods_plan())
    assert '~     methods:\n-         "GET"\n+         "PATCH"\n~     grants:\n+         [2] "refresh_token"' in markdown


def test_sensitive_list_elements_are_never_printed() -> None:
    diffs = (FieldDiff("secret.keys", None, "k-123-secret", sensitive=True, element="added"),)
    plan = repo_plan(GatewayPlan("gw", "stoa", changes=[change(Op.UPDATE, "pets", diffs=diffs)]))
    for out in (render.plan_text(plan), render.plan_markdown(plan), json.dumps(render.plan_json(plan))):
        assert "k-123-secret" not in out and "(sensitive)" in out


# ------------------------------------------------------------------------------- Markdown for PR comments
def big_plan(creates: int = 600, deletes: int = 7) -> RepoPlan:
    diffs = tuple(FieldDiff(f, None, "x" * 40) for f in ("backend", "basePath", "description", "tenant"))
    main = [change(Op.CREATE, f"api-{i:04}", diffs=diffs) for i in range(creates)]
    main += [change(Op.CREATE, f"policy-{i:04}", kind="Policy", diffs=diffs) for i in range(creates)]
    main += [change(Op.DELETE, f"old-{i}", gateway="gw") for i in range(deletes)]
    other = [change(Op.DELETE, "legacy", kind="Consumer", gateway="edge"), change(Op.CREATE, "new", gateway="edge")]
    return repo_plan(GatewayPlan("a-main", "stoa", changes=main), GatewayPlan("edge", "kong", changes=other),
                     GatewayPlan("z-quiet", "kong", changes=[change(Op.CREATE, "q", gateway="z-quiet")]),
                     GatewayPlan("b-down", "stoa", error=UNREACHABLE))


def test_a_long_markdown_plan_keeps_every_gateway_and_every_delete() -> None:
    plan = big_plan()
    assert len(render.plan_markdown(plan, limit=10**9)) > render.MARKDOWN_LIMIT  # it must be cut
    out = render.plan_markdown(plan, repo="infra/gateways", commit="0123abcd" * 5)
    assert len(out) <= render.MARKDOWN_LIMIT
    assert out.startswith("<!-- stoa-reconciler plan: infra/gateways -->\n## stoa-reconciler plan\n\n"
                          f"Repo `infra/gateways` at commit `{'0123abcd' * 5}`.\n")
    assert "too long for one comment" in out
    headings = re.findall(r"^### `([^`]+)`", out, flags=re.M)
    assert headings == ["b-down", "a-main", "edge", "z-quiet"]  # errors, then deletes, then the rest
    assert "### `a-main` (stoa): 1200 to create, 0 to update, 7 to delete" in out
    assert all(f"- API old-{i}\n" in out for i in range(7)) and "- Consumer legacy\n" in out
    assert "> :x: " + UNREACHABLE in out
    assert "more not shown" in out and "1 change(s) not shown" in out  # edge's and z-quiet's creates were cut


def test_markdown_that_fits_is_not_cut() -> None:
    out = render.plan_markdown(big_plan(creates=3), repo=".")
    assert "not shown" not in out and "too long" not in out
    assert out.startswith("<!-- stoa-reconciler plan: . -->\n")
    assert "+ Policy policy-0002" in out and "- API old-6" in out


@pytest.mark.parametrize("limit", [3_000, 6_000, 20_000, 65_536])
def test_markdown_never_exceeds_its_limit(limit: int) -> None:
    out = render.plan_markdown(big_plan(deletes=150), limit=limit)
    assert len(out) <= limit
    assert "| `a-main` | stoa | 1200 | 0 | 150 | 0 | changes |" in out  # counts survive any cut


def test_too_many_deletes_for_one_line_each_are_still_named_per_kind() -> None:
    plan = big_plan(creates=0, deletes=400)
    assert len(render.plan_markdown(plan, limit=10**9)) > 5_500  # one line a delete does not fit
    out = render.plan_markdown(plan, limit=5_500)
    assert len(out) <= 5_500
    assert "- API (400): old-0, old-1, old-2" in out and "old-399" in out
    tight = render.plan_markdown(plan, limit=3_000)
    assert len(tight) <= 3_000 and re.search(r"- API \(400\): old-0, .*, … and \d+ more", tight)


def test_the_marker_cannot_close_its_html_comment() -> None:
    first = render.plan_markdown(repo_plan(), repo="a-->b").splitlines()[0]
    assert first.count("-->") == 1 and first.endswith(" -->")
