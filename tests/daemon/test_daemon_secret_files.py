"""A commit cannot make the daemon read a file outside its repository: not its own Git token file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from tests.daemon.conftest import DaemonProcess, Origin, manifests, routes, wait_until
from tests.daemon.gitserver import GitHttpServer

pytestmark = pytest.mark.e2e

GIT_TOKEN = "git-token-never-a-consumer-key-7f3a"


@pytest.fixture
def http_git(origin: Origin) -> Iterator[GitHttpServer]:
    with GitHttpServer(origin.srv, token=GIT_TOKEN) as server:
        yield server


def with_key_file(files: dict[str, str], path: str) -> dict[str, str]:
    out = dict(files)
    out["consumers/mobile.yaml"] = out["consumers/mobile.yaml"].replace("{env: MOBILE_APP_KEY}", f"{{file: '{path}'}}")
    return out


@pytest.mark.parametrize("style", ["absolute", "dot-dot"])
def test_a_commit_pointing_a_key_at_the_git_token_file_is_invalid_and_sends_nothing(
        style: str, origin: Origin, stoa: StoaEmulator, admin: httpx.Client, http_git: GitHttpServer,
        start_daemon: Callable[..., DaemonProcess], tmp_path: Path) -> None:
    token_file = tmp_path / "git-token"
    token_file.write_text(GIT_TOKEN + "\n")
    good = origin.push(manifests(["pets"], consumer=True), "good")
    daemon = start_daemon({"RECONCILER_GIT_URL": http_git.url("origin.git"), "RECONCILER_POLL_INTERVAL": "0",
                           "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}",
                           "RECONCILER_GIT_TOKEN_FILE": str(token_file)})
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    assert routes(admin) == {"platform.pets"}
    stoa.clear_log()

    path = str(token_file) if style == "absolute" else "../" * 30 + str(token_file).lstrip("/")
    bad = origin.push(with_key_file(manifests(["pets", "orders"], consumer=True), path), "steal the token")
    sync = daemon.client.post("/sync?wait=true", headers={"Authorization": "Bearer api-token-for-tests-0123"})
    assert sync.status_code == 409 and sync.json()["invalid"] is True  # the last good commit ran again
    health = wait_until(lambda: (h := daemon.health())["source"]["invalid"] and h)
    invalid = health["source"]["invalid"]
    assert invalid["commit"] == bad
    assert [(e["file"], e["field"]) for e in invalid["errors"]] == [
        ("consumers/mobile.yaml", "spec.credential.secretRef.file")]
    assert "is outside the repository" in invalid["errors"][0]["message"]
    assert stoa.writes == []  # nothing of the commit was applied
    assert all(GIT_TOKEN.encode() not in r.body and GIT_TOKEN not in str(r.headers) for r in stoa.requests)
    assert routes(admin) == {"platform.pets"}
    assert GIT_TOKEN not in daemon.logs() and GIT_TOKEN not in daemon.client.get("/metrics").text
    assert daemon.terminate() == 0
