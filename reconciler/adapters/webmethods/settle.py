"""What one API's policy must enforce once every writer is done (pure; issue 13).

`PUT /policies/{id}` replaces the whole list of enforcements and webMethods offers no version or
precondition on it (APIGatewayPolicyManagement.json: no ETag, no If-Match, no version field), so two
runs of one owner (CI and a laptop) that read-modify-write one API's policy at once can overwrite
each other, and two runs that both create a policy action leave two actions of one name. After
each write the adapter reads the policy and the action list back and settles them with these
functions: per group of this owner's actions for the API (one template, one name), the survivor is
the action with the smallest id (every run picks the same one, whatever it saw first); it is
enforced in its template's stage, and the other members are detached, then deleted.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.adapters.webmethods import mappers

Group = tuple[str, str]
"""(template key, name) of a policy action."""


def group_of(action: Mapping[str, Any], owner: str, api_name: str) -> Group | None:
    """The group of one of this owner's actions made for `api_name`; None for any other action."""
    template = str(action.get("templateKey"))
    if template not in mappers.POLICY_STAGES:
        return None
    _, marked_owner, marked_api = mappers.unmark(((action.get("descriptions") or [{}])[0]).get("value"))
    if (marked_owner, marked_api) != (owner, api_name):
        return None
    return template, str(((action.get("names") or [{}])[0]).get("value"))


def survivors(actions: Iterable[Mapping[str, Any]], owner: str, api_name: str,
              leaving: frozenset[str] = frozenset()) -> tuple[dict[Group, Mapping[str, Any]], list[str]]:
    """Per group, the action that stays (smallest id), and the ids of the others; `leaving`: ids being
    deleted, in no group."""
    groups: dict[Group, list[Mapping[str, Any]]] = {}
    for action in actions:
        key = group_of(action, owner, api_name)
        if key is not None and str(action.get("id")) not in leaving:
            groups.setdefault(key, []).append(action)
    kept: dict[Group, Mapping[str, Any]] = {}
    losers: list[str] = []
    for key, members in groups.items():
        ordered = sorted(members, key=lambda a: str(a.get("id")))
        kept[key] = ordered[0]
        losers += [str(a.get("id")) for a in ordered[1:]]
    return kept, sorted(losers)


def normalized(stages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stages as they are written: no unset keys in an enforcement (the samples show `"order": null`,
    the schema types `order` as a string), no empty stage."""
    out = []
    for stage in stages:
        enforcements = [{k: v for k, v in e.items() if v is not None} for e in stage.get("enforcements") or []]
        if enforcements:
            out.append({**copy.deepcopy(dict(stage)), "enforcements": enforcements})
    return out


def settled(stages: Iterable[Mapping[str, Any]], kept: Mapping[Group, Mapping[str, Any]], remove: Iterable[str],
            templates: Mapping[str, str]) -> list[dict[str, Any]]:
    """The stages with every kept action enforced in its template's stage only, the `remove`d ids
    nowhere, and no Identify & Authorize action but ours in the IAM stage (an API takes one);
    `templates`: action id -> template key, for every action on the gateway."""
    out = normalized(stages)
    gone = set(remove)
    wanted = {str(a.get("id")): mappers.POLICY_STAGES[t] for (t, _), a in kept.items()}
    if any(t == mappers.IAM_TEMPLATE for t, _ in kept):
        gone |= {i for i, t in templates.items() if t == mappers.IAM_TEMPLATE and i not in wanted}
    for stage in out:
        stage["enforcements"] = [e for e in stage["enforcements"]
                                 if str(e.get("enforcementObjectId")) not in gone
                                 and wanted.get(str(e.get("enforcementObjectId")), stage.get("stageKey"))
                                 == stage.get("stageKey")]
    for action_id, stage_key in wanted.items():
        here = [s for s in out if s.get("stageKey") == stage_key]
        if any(str(e.get("enforcementObjectId")) == action_id for s in here for e in s["enforcements"]):
            continue
        if here:
            here[0]["enforcements"].append({"enforcementObjectId": action_id})
        else:
            out.append({"stageKey": stage_key, "enforcements": [{"enforcementObjectId": action_id}]})
    return [s for s in out if s["enforcements"]]
