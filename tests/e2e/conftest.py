"""Shared fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator


@pytest.fixture
def stoa(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoaEmulator]:
    """A STOA emulator whose admin token is the test module's `TOKEN`; the module's `KEYS` (consumer
    key variables of examples/repo) and `STOA_ADMIN_TOKEN` are set in the environment."""
    token = str(request.module.TOKEN)
    monkeypatch.setenv("STOA_ADMIN_TOKEN", token)
    for name, value in dict(getattr(request.module, "KEYS", {})).items():
        monkeypatch.setenv(name, value)
    with StoaEmulator(admin_token=token) as emulator:
        yield emulator  # type: ignore[misc]
