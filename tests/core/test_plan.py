"""Pure engine: pairing, field diffs, ownership, ordering, ignore rules."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.engine.diff import diff_spec
from reconciler.engine.plan import PlanOptions, fingerprint, plan_gateway
from reconciler.manifests.models import IgnoreRule
from reconciler.model.changes import Op
from reconciler.model.kinds import creation_order, deletion_order
from reconciler.model.records import make_record

OPTS = PlanOptions(owner="platform")


def api(name: str, owner: str | None = "platform", id: str | None = None, **spec: Any) -> dict[str, Any]:
    base = {"tenant": "acme", "basePath": f"/{name}", "backend": "https://x.example.com", "methods": ["GET"]}
    return make_record("API", name, {**base, **spec}, owner=owner, id=id)


def ops(changes: list[Any]) -> list[tuple[str, str, str]]:
    return [(c.op.value, c.kind, c.name) for c in changes]


def test_server_filled_fields_are_not_drift() -> None:
    live = api("pets", id="1", createdAt="2026-01-01", upstreams=[], load_balancer="round_robin")
    assert ops(plan_gateway("gw", [api("pets")], [live], OPTS)) == [("no-op", "API", "pets")]


def test_update_lists_field_diffs() -> None:
    changes = plan_gateway("gw", [api("pets", backend="https://new.example.com")], [api("pets", id="1")], OPTS)
    (change,) = changes
    assert change.op is Op.UPDATE and change.desired is not None and change.desired["id"] == "1"
    assert [(d.path, d.before, d.after) for d in change.diffs] == [
        ("backend", "https://x.example.com", "https://new.example.com")]


def test_nested_and_missing_fields() -> None:
    desired = {"api": "pets", "config": {"requests": 10, "period": "minute"}}
    diffs = diff_spec(desired, {"api": "pets", "config": {"requests": 5}})
    assert [(d.path, d.before, d.after) for d in diffs] == [("config.period", None, "minute"),
                                                            ("config.requests", 5, 10)]


def test_ignore_rules_skip_fields() -> None:
    desired = [api("pets", description="mine")]
    live = [api("pets", id="1", description="edited by hand")]
    rule = IgnoreRule(kind="API", fields=["spec.description"])
    assert ops(plan_gateway("gw", desired, live, PlanOptions(owner="platform", ignore=(rule,)))) == [("no-op", "API", "pets")]
    assert ops(plan_gateway("gw", desired, live, OPTS)) == [("update", "API", "pets")]


def test_credential_fingerprint_diffs_are_sensitive() -> None:
    diffs = diff_spec({"credential": {"type": "apiKey", "fingerprint": "sha256:aa"}},
                      {"credential": {"type": "apiKey", "fingerprint": "sha256:bb"}})
    assert [(d.path, d.sensitive) for d in diffs] == [("credential.fingerprint", True)]


def test_unowned_object_is_a_conflict_and_never_deleted() -> None:
    live = [api("pets", owner=None, id="9"), api("legacy", owner=None, id="8"), api("theirs", owner="team-b", id="7")]
    changes = plan_gateway("gw", [api("pets"), api("theirs")], live, OPTS)
    assert ops(changes) == [("conflict", "API", "pets"), ("conflict", "API", "theirs")]


def test_adopt_takes_only_unowned_objects() -> None:
    live = [api("pets", owner=None, id="9"), api("theirs", owner="team-b", id="7")]
    changes = plan_gateway("gw", [api("pets"), api("theirs")], live, PlanOptions(owner="platform", adopt=True))
    assert ops(changes) == [("update", "API", "pets"), ("conflict", "API", "theirs")]
    assert changes[0].adopt and changes[0].desired is not None and changes[0].desired["id"] == "9"


def test_prune_deletes_only_owned_and_can_be_turned_off() -> None:
    live = [api("old", id="1"), api("foreign", owner=None, id="2")]
    assert ops(plan_gateway("gw", [], live, OPTS)) == [("delete", "API", "old")]
    kept = plan_gateway("gw", [], live, PlanOptions(owner="platform", prune=False))
    assert ops(kept) == [("no-op", "API", "old")] and "prune is off" in kept[0].notes[0]


def test_order_creates_up_deletes_down() -> None:
    desired = [make_record("Consumer", "c", {"subscriptions": ["a"]}, owner="platform"),
               make_record("Policy", "p", {"api": "a"}, owner="platform"), api("a")]
    live = [make_record("Consumer", "oldc", {}, owner="platform", id="1"),
            make_record("Policy", "oldp", {}, owner="platform", id="2"), api("olda", id="3")]
    assert ops(plan_gateway("gw", desired, live, OPTS)) == [
        ("create", "API", "a"), ("create", "Policy", "p"), ("create", "Consumer", "c"),
        ("delete", "Consumer", "oldc"), ("delete", "Policy", "oldp"), ("delete", "API", "olda")]


def test_dependency_levels_table() -> None:
    assert creation_order(["Consumer", "API", "Policy"]) == [["API"], ["Policy"], ["Consumer"]]
    assert deletion_order(["Consumer", "API", "Policy"]) == [["Consumer"], ["Policy"], ["API"]]


def test_desired_view_hides_what_the_gateway_cannot_store() -> None:
    def view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in spec.items() if k != "version"}

    desired = [api("pets", version="2.0")]
    assert ops(plan_gateway("gw", desired, [api("pets", id="1")], OPTS, view=view)) == [("no-op", "API", "pets")]
    assert ops(plan_gateway("gw", desired, [api("pets", id="1")], OPTS)) == [("update", "API", "pets")]


@pytest.mark.parametrize("mutate", [
    lambda r: r["spec"].__setitem__("backend", "https://other"),
    lambda r: r.__setitem__("owner", None),
    lambda r: r.__setitem__("id", "other"),
])
def test_fingerprint_changes_with_live_state(mutate: Any) -> None:
    live = [api("pets", id="1"), api("cats", id="2")]
    before = fingerprint(live)
    assert fingerprint(list(reversed(live))) == before
    mutate(live[0])
    assert fingerprint(live) != before


# ------------------------------------------------------------------------------- lists of scalars
def element_rows(diffs: Any) -> list[tuple[str, str | None, Any]]:
    return [(d.path, d.element, d.after if d.element == "added" else d.before) for d in diffs]


def test_a_set_like_list_diffs_by_added_and_removed_elements() -> None:
    # before: methods[1]: "POST" -> "PATCH", methods[2]: null -> "POST" (an index diff that never happened)
    diffs = diff_spec({"methods": ["GET", "PATCH", "POST"]}, {"methods": ["GET", "POST"]})
    assert element_rows(diffs) == [("methods", "added", "PATCH")]
    diffs = diff_spec({"methods": ["PATCH", "POST"]}, {"methods": ["DELETE", "GET", "POST"]})
    assert element_rows(diffs) == [("methods", "removed", "DELETE"), ("methods", "removed", "GET"),
                                   ("methods", "added", "PATCH")]


def test_list_elements_sit_among_the_other_fields_in_path_order() -> None:
    desired = {"config": {"methods": ["GET"], "origins": ["https://a", "https://c"], "maxAge": 60}, "api": "pets"}
    live = {"config": {"methods": ["GET"], "origins": ["https://a", "https://b"], "maxAge": 600}, "api": "cats"}
    assert [(d.path, d.element, d.before, d.after) for d in diff_spec(desired, live)] == [
        ("api", None, "cats", "pets"),
        ("config.maxAge", None, 600, 60),
        ("config.origins", "removed", "https://b", None),
        ("config.origins", "added", None, "https://c"),
    ]


def test_an_ordered_list_names_the_index_of_each_element() -> None:
    # not sorted: its order may matter (extended kinds keep the user's order), so positions are kept
    diffs = diff_spec({"grants": ["client_credentials", "authorization_code"]},
                      {"grants": ["authorization_code", "client_credentials"]})
    assert element_rows(diffs) == [("grants[0]", "added", "client_credentials"),
                                   ("grants[1]", "removed", "client_credentials")]
    diffs = diff_spec({"grants": ["z", "a", "m"]}, {"grants": ["z", "m"]})
    assert element_rows(diffs) == [("grants[1]", "added", "a")]


def test_a_reordered_set_is_not_hidden() -> None:
    # same elements, other order: no element was added or removed, yet the lists differ
    diffs = diff_spec({"methods": ["GET", "POST"]}, {"methods": ["POST", "GET"]})
    assert diffs and all(d.element for d in diffs)
    assert element_rows(diffs) == [("methods[0]", "added", "GET"), ("methods[1]", "removed", "GET")]


def test_lists_that_are_not_lists_of_scalars_keep_their_field_diffs() -> None:
    assert [(d.path, d.before, d.after, d.element) for d in diff_spec({"m": ["A"]}, {"m": None})] == [
        ("m", None, ["A"], None)]
    diffs = diff_spec({"scopes": [{"name": "a"}, {"name": "c"}]}, {"scopes": [{"name": "a"}, {"name": "b"}]})
    assert [(d.path, d.before, d.after, d.element) for d in diffs] == [("scopes[1].name", "b", "c", None)]


def test_list_element_diffs_honour_ignore_rules_and_sensitivity() -> None:
    assert diff_spec({"methods": ["GET", "PATCH"], "x": 1}, {"methods": ["GET"], "x": 1}, ignore=("methods",)) == ()
    (diff,) = diff_spec({"secret": {"keys": ["k2"]}}, {"secret": {"keys": []}})
    assert diff.sensitive and diff.element == "added"


def test_element_diffs_turn_the_live_list_into_the_desired_one() -> None:
    import random

    rng = random.Random(11)
    for _ in range(300):
        before = rng.sample("ABCDEFG", rng.randint(0, 6))
        after = rng.sample("ABCDEFG", rng.randint(0, 6))
        if rng.random() < 0.5:
            after.sort()
        diffs = diff_spec({"l": after}, {"l": before})
        if before == after:
            assert diffs == ()
            continue
        assert diffs and all(d.element in ("added", "removed") for d in diffs)
        if all(d.path == "l" for d in diffs):  # a set: membership is enough
            removed = {d.before for d in diffs if d.element == "removed"}
            added = [d.after for d in diffs if d.element == "added"]
            assert sorted([v for v in before if v not in removed] + added) == after
        else:  # positions: removals at indices of `before`, additions at indices of `after`
            gone = {int(d.path[2:-1]) for d in diffs if d.element == "removed"}
            kept = [v for i, v in enumerate(before) if i not in gone]
            new = {int(d.path[2:-1]): d.after for d in diffs if d.element == "added"}
            rebuilt, it = [], iter(kept)
            for j in range(len(after)):
                rebuilt.append(new[j] if j in new else next(it))
            assert rebuilt == after and next(it, None) is None


def test_owned_duplicates_are_collapsed_outside_max_deletes() -> None:
    from reconciler.model.plans import GatewayPlan, RepoPlan

    live = [api("pets", id="1"), api("pets", id="2"), api("pets", id="3"), api("old", id="4")]
    changes = plan_gateway("gw", [api("pets")], live, PlanOptions(owner="platform", prune=True))
    assert sorted(ops(changes)) == [("delete", "API", "old"), ("delete", "API", "pets"), ("delete", "API", "pets"),
                                    ("no-op", "API", "pets")]
    assert [c.notes for c in changes if c.op is Op.DELETE and c.name == "pets"] == [
        ("duplicate of the managed API 'pets'",)] * 2
    plan = RepoPlan(gateways={"gw": GatewayPlan("gw", "stoa", changes=changes)})
    assert plan.guarded_deletes() == (1, 2)
    from reconciler.runner import _check_deletes

    _check_deletes(plan, 1)
    assert plan.errors == []
    _check_deletes(plan, 0)
    assert plan.errors == ["the plan deletes 1 objects (and collapses 2 owned duplicate(s), not counted), more than "
                           "the limit of 0 (maxDeletes); check the source, or pass --max-deletes 1 to allow it"]


def test_fingerprint_is_the_content_hash_of_the_sorted_live_state() -> None:
    """Hashed item by item, the fingerprint must stay the digest saved plans were made with."""
    from reconciler.engine.plan import fingerprint
    from reconciler.model.records import content_hash

    live = [make_record("Policy", "b", {"config": {"z": 1, "a": [1, {"q": None}]}}, id="o.b", owner="o"),
            make_record("API", "a", {"basePath": "/a", "methods": ["GET"]}, id="o.a", owner="o"),
            make_record("API", "manual", {}, id="manual")]
    items = sorted(((r["kind"], r["name"], r["id"], r["owner"], r["spec"]) for r in live),
                   key=lambda t: (str(t[0]), str(t[1]), str(t[2])))
    assert fingerprint(live) == content_hash(items)
    assert fingerprint([]) == content_hash([])
    assert fingerprint(live[:2]) != fingerprint(live)
