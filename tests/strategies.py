"""Hypothesis strategies shared by the mappers' round-trip tests."""

from __future__ import annotations

from hypothesis import strategies as st

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)
"""A short printable text (names, versions, descriptions)."""
SEGMENT = st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True)
"""One path segment or host label."""
