"""Round trip: random desired API specs -> the proxy bundle the Apigee adapter imports -> what it reads
back from that bundle equals the desired view (no field silently lost on the way)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters.apigee.adapter import ApigeeAdapter
from reconciler.adapters.apigee.bundle import build_bundle, bundle_owner, read_bundle
from tests.strategies import SEGMENT

# XML text loses surrounding blanks and line separators: compare what a bundle can hold.
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                max_size=20).map(str.strip).filter(bool)
_segment = SEGMENT


@st.composite
def api_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tenant": draw(_segment), "version": draw(_text),
        "basePath": "/" + "/".join(draw(st.lists(_segment, min_size=1, max_size=3))),
        "backend": f"https://{draw(_segment)}.example.com/{draw(_segment)}",
        "methods": draw(st.lists(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), min_size=1, unique=True)),
        "displayName": draw(st.one_of(st.none(), _text)),
        "description": draw(st.one_of(st.none(), _text)),
        "openapiHash": draw(st.one_of(st.none(), st.just("sha256:" + "ab" * 32))),
    }
    return spec


@settings(max_examples=150, deadline=None)
@given(api_specs(), st.sampled_from(["platform", "team-b"]))
def test_bundle_round_trip_equals_the_desired_view(spec: dict[str, Any], owner: str) -> None:
    data = build_bundle("pets", spec, owner=owner)
    back = {k: v for k, v in read_bundle(data).items() if k != "cors"}
    view = {k: v for k, v in ApigeeAdapter.desired_view("API", spec).items() if k != "product"}
    assert back == view
    assert bundle_owner(data) == owner
