"""Round trip, per the plan-never-lies rule: random desired specs -> what the STOA adapter writes ->
what it reads back equals the desired view; any field a route cannot hold survives as its hash."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters.stoa import mappers
from reconciler.model.records import make_record
from tests.strategies import SEGMENT, TEXT

_text, _segment = TEXT, SEGMENT


@st.composite
def api_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tenant": draw(_segment), "version": draw(_text),
        "basePath": "/" + "/".join(draw(st.lists(_segment, min_size=1, max_size=3))),
        "backend": f"https://{draw(_segment)}.example.com/{draw(_segment)}",
        "methods": draw(st.lists(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), min_size=1, unique=True)),
    }
    for key in ("displayName", "description"):
        if draw(st.booleans()):
            spec[key] = draw(_text)
    if draw(st.booleans()):
        spec["openapiHash"] = "sha256:" + draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True))
    return spec


@settings(max_examples=200, deadline=None)
@given(api_specs())
def test_api_round_trip_equals_the_desired_view(spec: dict[str, Any]) -> None:
    route = mappers.api_to_gateway(make_record("API", "pets", spec), "platform")
    back = mappers.api_from_gateway(route)
    assert back["owner"] == "platform" and back["name"] == "pets"
    assert back["spec"] == mappers.api_view(spec)


@settings(max_examples=200, deadline=None)
@given(api_specs(), api_specs())
def test_a_change_of_any_hashed_field_is_visible(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two specs that differ in a field the route keeps only as a hash read back differently."""
    for key in mappers.HASHED_API_FIELDS:
        changed = {**a, key: b.get(key)}
        if changed.get(key) != a.get(key):
            one = mappers.api_from_gateway(mappers.api_to_gateway(make_record("API", "p", a), "o"))["spec"]
            two = mappers.api_from_gateway(mappers.api_to_gateway(make_record("API", "p", changed), "o"))["spec"]
            assert one["specHash"][key] != two["specHash"][key]
