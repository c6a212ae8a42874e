"""Renderings of a plan made with a base ref: sections kept in a cut comment, a saved plan read back."""

from __future__ import annotations

from reconciler.model.changes import Change, FieldDiff, Op
from reconciler.model.plans import GatewayPlan, PlanBase, RepoPlan
from reconciler.output.render import plan_from_json, plan_json, plan_markdown, plan_text


def big_plan() -> RepoPlan:
    changes = [Change("gw", Op.UPDATE, "API", f"api-{i:03}", diffs=(FieldDiff("backend", "a" * 60, "b" * 60),))
               for i in range(300)]
    changes.append(Change("gw", Op.DELETE, "API", "gone"))
    touched = {("gw", "API", f"api-{i:03}"): "modified" for i in range(0, 300, 2)}
    plan = RepoPlan(gateways={"gw": GatewayPlan("gw", "stoa", changes=changes)}, owner="platform",
                    base=PlanBase("main", "f" * 40, touched), skipped={"other": "desired state unchanged since main"},
                    targets=[])
    return plan


def test_a_cut_comment_keeps_both_section_titles_and_every_delete() -> None:
    out = plan_markdown(big_plan(), limit=6000)
    assert len(out) <= 6000
    assert "### This change" in out and "### Drift" in out and "too long for one comment" in out
    assert "- API gone" in out[out.index("### Drift"):]  # not touched by the change: drift, and never cut
    assert "- Skipped gateway `other`: desired state unchanged since main" in out


def test_a_saved_plan_keeps_its_base_skipped_gateways_and_targets() -> None:
    plan = big_plan()
    plan.targets = ["API/api-000"]
    again = plan_from_json(plan_json(plan))
    assert again.base == plan.base and again.skipped == plan.skipped and again.targets == plan.targets
    assert plan_text(again) == plan_text(plan)
    assert plan_text(again).startswith("Warning: Resource targeting is in effect")
