"""moto in server mode, on a free loopback port, for the AWS tests (a real third-party emulator)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from reconciler.emulators.moto import install_tagging
from tests.conftest import free_port


def start_moto() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    install_tagging()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """One moto server per test module (reset it between tests with POST /moto-api/reset)."""
    yield from start_moto()
