"""Round trip: random desired API specs -> the body the webMethods adapter imports -> read back (as the
gateway stores it, active) equals the desired view: no field silently lost or altered."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters.webmethods import mappers
from reconciler.model.records import make_record
from tests.strategies import SEGMENT, TEXT

_text, _segment = TEXT, SEGMENT


@st.composite
def api_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tenant": draw(_segment), "version": draw(st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True)),
        "basePath": "/" + "/".join(draw(st.lists(_segment, min_size=1, max_size=3))),
        "backend": f"https://{draw(_segment)}.example.com/{draw(_segment)}",
        "methods": sorted(draw(st.lists(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), min_size=1,
                                        unique=True))),
        "displayName": draw(_text),
        "openapiHash": draw(st.one_of(st.none(), st.just("sha256:" + "ab" * 32))),
    }
    if draw(st.booleans()):
        spec["description"] = draw(_text)
    return spec


@settings(max_examples=150, deadline=None)
@given(api_specs())
def test_api_round_trip_equals_the_desired_view(spec: dict[str, Any]) -> None:
    body, _ = mappers.api_payload(make_record("API", "pets", spec), "platform")
    stored = {**body, "id": "a1", "isActive": True}
    back = mappers.api_from_gateway(stored)
    assert back["owner"] == "platform" and back["name"] == "pets"
    view = mappers.api_desired_view(spec)
    assert {k: v for k, v in back["spec"].items() if k in view} == view
