from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from reconciler.adapters.webmethods.adapter import WebMethodsAdapter
from reconciler.emulators.webmethods import WebMethodsEmulator
from tests.webmethods.helpers import OWNER


@pytest.fixture
def emulator() -> Iterator[WebMethodsEmulator]:
    emu = WebMethodsEmulator()
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def make_adapter(url: str, owner: str = OWNER, **auth: str) -> WebMethodsAdapter:
    return WebMethodsAdapter({"name": "wm-dev", "gateway_type": "webmethods", "base_url": url, "owner": owner,
                              "auth": auth or {"username": "Administrator", "password": "manage"}, "timeout": 10.0})


@pytest.fixture
async def adapter(emulator: WebMethodsEmulator) -> AsyncIterator[WebMethodsAdapter]:
    async with make_adapter(emulator.url) as a:
        assert isinstance(a, WebMethodsAdapter)
        yield a
