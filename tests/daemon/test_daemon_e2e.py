"""The daemon as a real subprocess, a real bare Git origin on 127.0.0.1, and the STOA emulator over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.daemon.webhooks import github_signature
from reconciler.runner import RunOptions, plan_repo
from tests.conftest import free_port
from tests.daemon.conftest import (
    ADMIN_TOKEN,
    API_TOKEN,
    MOBILE_KEY,
    WEBHOOK_SECRET,
    DaemonProcess,
    Origin,
    manifests,
    policies,
    routes,
    wait_until,
)
from tests.daemon.gitserver import GitHttpServer

pytestmark = pytest.mark.e2e

Start = Callable[..., DaemonProcess]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def settings_for(url: str, stoa: StoaEmulator, **extra: str) -> dict[str, str]:
    return {"RECONCILER_GIT_URL": url, "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}",
            "RECONCILER_POLL_INTERVAL": "0", **extra}


def push_webhook(daemon: DaemonProcess, *, secret: str = WEBHOOK_SECRET) -> httpx.Response:
    body = b'{"ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000"}'
    return daemon.client.post("/webhook", content=body, headers={
        "X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(secret, body),
        "Content-Type": "application/json"})


def test_push_then_webhook_converges_and_second_push_prunes(origin: Origin, stoa: StoaEmulator, admin: httpx.Client,
                                                            start_daemon: Start) -> None:
    first = origin.push(manifests(["pets", "orders"], consumer=True), "two apis")
    daemon = start_daemon(settings_for(str(origin.bare), stoa))
    wait_until(lambda: daemon.gateway().get("last_commit") == first)
    assert routes(admin) == {"platform.pets", "platform.orders"}
    assert policies(admin) == {"platform.pets-rate", "platform.orders-rate"}
    health = daemon.health()
    assert health["status"] == "ok" and health["source"]["good_commit"] == first
    gw = daemon.gateway()
    assert gw["type"] == "stoa" and gw["discovered_apis"] == 0 and gw["last_sync"] > 0

    second = origin.push(manifests(["pets", "users"]), "replace orders with users")
    assert push_webhook(daemon).status_code == 202
    wait_until(lambda: daemon.gateway().get("last_commit") == second)
    assert routes(admin) == {"platform.pets", "platform.users"}
    assert daemon.gateway()["discovered_apis"] == 2  # pets and orders were on the gateway when it planned
    assert daemon.metric("reconciler_changes_applied_total", gateway="stoa-dev", kind="API", op="create") == 3.0
    assert daemon.metric("reconciler_changes_applied_total", gateway="stoa-dev", kind="API", op="delete") == 1.0
    assert daemon.metric("reconciler_last_successful_sync_timestamp_seconds", gateway="stoa-dev") > time.time() - 60

    # a force-push that rewrites history is just another head
    origin.push(manifests(["pets"]), "rewritten")
    subprocess.run(["git", "commit", "-q", "--amend", "-m", "rewritten again"], cwd=origin.work, check=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin"})
    subprocess.run(["git", "push", "-q", "--force", "origin", "main"], cwd=origin.work, check=True)
    rewritten = subprocess.run(["git", "rev-parse", "HEAD"], cwd=origin.work, check=True, capture_output=True,
                               text=True).stdout.strip()
    assert push_webhook(daemon).status_code == 202
    wait_until(lambda: daemon.gateway().get("last_commit") == rewritten)
    assert routes(admin) == {"platform.pets"}
    logs = daemon.logs()
    for secret in (ADMIN_TOKEN, MOBILE_KEY, WEBHOOK_SECRET, API_TOKEN):
        assert secret not in logs
    assert daemon.terminate() == 0
    lines = daemon.logs().splitlines()
    records = daemon.log_records()
    assert len(records) == len(lines) > 0  # every line is one JSON object
    applied = [r for r in records if r["msg"].startswith("reconciled stoa-dev")]
    assert applied and {"ts", "level", "logger", "gateway", "commit", "mode", "duration"} <= set(applied[0])


def test_invalid_commit_changes_nothing_and_health_reports_it(origin: Origin, stoa: StoaEmulator, admin: httpx.Client,
                                                              start_daemon: Start) -> None:
    good = origin.push(manifests(["pets"]), "good")
    daemon = start_daemon(settings_for(str(origin.bare), stoa))
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    stoa.clear_log()

    bad = origin.push(manifests(["pets", "orders"], invalid=True), "broken method")
    assert push_webhook(daemon).status_code == 202
    health = wait_until(lambda: (h := daemon.health())["source"]["invalid"] and h)
    assert health["status"] == "degraded"
    invalid = health["source"]["invalid"]
    assert invalid["commit"] == bad
    assert any(e["file"] == "apis/broken.yaml" and e["line"] == 5 and "methods" in e["field"] for e in invalid["errors"])
    assert health["source"]["good_commit"] == good and health["source"]["head"] == bad
    assert stoa.writes == []  # nothing applied: orders is valid, but the commit as a whole is not
    assert routes(admin) == {"platform.pets"}
    assert daemon.gateway()["last_commit"] == good
    assert daemon.metric("reconciler_invalid_commits_total") == 1.0
    records = [r for r in daemon.log_records() if r.get("file") == "apis/broken.yaml"]
    assert records and records[0]["commit"] == bad and records[0]["line"] == 5

    fixed = origin.push(manifests(["pets", "orders"]), "fixed")
    assert push_webhook(daemon).status_code == 202
    wait_until(lambda: daemon.gateway().get("last_commit") == fixed)
    assert daemon.health()["source"]["invalid"] is None and daemon.health()["status"] == "ok"
    assert routes(admin) == {"platform.pets", "platform.orders"}
    assert daemon.terminate() == 0


def test_wrong_hmac_is_401_and_does_not_fetch(origin: Origin, stoa: StoaEmulator, admin: httpx.Client,
                                              start_daemon: Start) -> None:
    good = origin.push(manifests(["pets"]), "good")
    daemon = start_daemon(settings_for(str(origin.bare), stoa))
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    fetches = daemon.metric("reconciler_source_fetches_total", result="ok")
    origin.push(manifests(["pets", "orders"]), "new")
    assert push_webhook(daemon, secret="not-the-secret").status_code == 401
    assert daemon.client.post("/webhook", content=b"{}", headers={"X-Gitlab-Token": "nope"}).status_code == 401
    assert daemon.client.post("/webhook", content=b"{}").status_code == 401
    gitlab = daemon.client.post("/webhook", content=b"{}", headers={"X-Gitlab-Token": WEBHOOK_SECRET,
                                                                    "X-Gitlab-Event": "Push Hook"})
    time.sleep(0.5)
    # the rejected deliveries caused no fetch; only the valid GitLab one did
    assert gitlab.status_code == 202
    wait_until(lambda: routes(admin) == {"platform.pets", "platform.orders"})
    assert daemon.metric("reconciler_source_fetches_total", result="ok") == (fetches or 0) + 1
    assert daemon.metric("reconciler_webhooks_total", provider="github", result="rejected") == 1.0
    assert daemon.metric("reconciler_webhooks_total", provider="gitlab", result="rejected") == 1.0
    assert daemon.terminate() == 0


@pytest.mark.parametrize("mode", ["detect", "heal"])
def test_out_of_band_delete_detect_reports_heal_restores(mode: str, origin: Origin, stoa: StoaEmulator,
                                                         admin: httpx.Client, start_daemon: Start) -> None:
    good = origin.push(manifests(["pets", "orders"]), "good")
    daemon = start_daemon(settings_for(str(origin.bare), stoa, RECONCILER_DRIFT_INTERVAL="0.5",
                                       RECONCILER_DRIFT_MODE=mode, RECONCILER_POLL_JITTER="0"))
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    assert admin.delete("/admin/apis/platform.orders").status_code == 204
    if mode == "detect":
        gw = wait_until(lambda: (g := daemon.gateway())["drift"] == 1 and g)
        assert daemon.metric("reconciler_drift_objects", gateway="stoa-dev") == 1.0
        time.sleep(1.2)  # two more drift intervals: still not restored
        assert routes(admin) == {"platform.pets"}
        with httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
            plan = client.get("/status").json()["gateways"]["stoa-dev"]["last_plan"]
        assert plan["mode"] == "detect"
        assert plan["pending"] == [{"op": "create", "kind": "API", "name": "orders", "fields": []}]
        assert gw["last_commit"] == good
    else:
        wait_until(lambda: routes(admin) == {"platform.pets", "platform.orders"})
        wait_until(lambda: daemon.metric("reconciler_changes_applied_total", gateway="stoa-dev", kind="API",
                                         op="create") == 3.0)
    assert daemon.terminate() == 0


def test_restarted_empty_stoa_gateway_is_resynced_within_one_drift_interval(
        origin: Origin, stoa: StoaEmulator, admin: httpx.Client, start_daemon: Start) -> None:
    good = origin.push(manifests(["pets", "orders"], consumer=True), "good")
    daemon = start_daemon(settings_for(str(origin.bare), stoa, RECONCILER_DRIFT_INTERVAL="1",
                                       RECONCILER_DRIFT_MODE="detect", RECONCILER_POLL_JITTER="0"))
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    creds = admin.get("/admin/consumer-credentials").json()
    stoa.restart()
    assert routes(admin) == set()
    restarted = time.monotonic()
    wait_until(lambda: routes(admin) == {"platform.pets", "platform.orders"}
               and admin.get("/admin/consumer-credentials").json() == creds, timeout=10)
    assert time.monotonic() - restarted < 1.0 + 1.0  # one interval, plus the reconcile itself
    assert any("restarted empty" in r.get("msg", "") for r in daemon.log_records())
    assert daemon.terminate() == 0


class SlowStoa(StoaEmulator):
    """Each write waits, so a SIGTERM reliably lands in the middle of an apply."""

    delay = 0.3

    def asgi(self) -> Any:
        inner = super().asgi()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
                await asyncio.sleep(self.delay)
            await inner(scope, receive, send)

        return app


def test_sigterm_during_apply_finishes_it_and_leaves_no_half_applied_object(origin: Origin, start_daemon: Start,
                                                                             tmp_path: Path) -> None:
    names = [f"api{i}" for i in range(6)]
    with SlowStoa(admin_token=ADMIN_TOKEN) as slow:
        files = manifests(names, consumer=True)
        origin.push(files, "six apis")
        daemon = start_daemon(settings_for(str(origin.bare), slow))  # type: ignore[arg-type]
        wait_until(lambda: len(slow.writes) >= 1, timeout=20)
        daemon.proc.send_signal(signal.SIGTERM)
        at_signal = len(slow.writes)
        assert daemon.proc.wait(timeout=30) == 0
        writes_at_exit = len(slow.writes)
        assert at_signal < writes_at_exit == 6 + 6 + 1  # the signal came mid-apply; the apply then completed
        time.sleep(0.5)
        assert len(slow.writes) == writes_at_exit  # nothing in flight after exit
        # the apply that was running finished: a plan of the same commit finds nothing to do
        repo = tmp_path / "check"
        for rel, text in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        plan = asyncio.run(plan_repo(repo, RunOptions(endpoints={"stoa-dev": slow.url},
                                                      env={"STOA_ADMIN_TOKEN": ADMIN_TOKEN,
                                                           "MOBILE_APP_KEY": MOBILE_KEY})))
        assert not plan.failed
        assert plan.gateways["stoa-dev"].pending == []
        assert "stopping" in daemon.logs() and "daemon stopped" in daemon.logs()


def test_polling_over_git_daemon(origin: Origin, stoa: StoaEmulator, admin: httpx.Client, start_daemon: Start) -> None:
    port = free_port()
    server = subprocess.Popen(["git", "daemon", "--listen=127.0.0.1", f"--port={port}", f"--base-path={origin.srv}",
                               "--export-all", "--reuseaddr", str(origin.srv)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = origin.push(manifests(["pets"]), "first")
        wait_until(lambda: subprocess.run(["git", "ls-remote", f"git://127.0.0.1:{port}/origin.git"],
                                          capture_output=True, check=False).returncode == 0)
        daemon = start_daemon(settings_for(f"git://127.0.0.1:{port}/origin.git", stoa,
                                           RECONCILER_POLL_INTERVAL="0.3", RECONCILER_POLL_JITTER="0"))
        wait_until(lambda: daemon.gateway().get("last_commit") == first)
        second = origin.push(manifests(["pets", "orders"]), "second")
        wait_until(lambda: daemon.gateway().get("last_commit") == second)  # no webhook: the poll found it
        assert routes(admin) == {"platform.pets", "platform.orders"}
        assert daemon.terminate() == 0
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def http_git(origin: Origin) -> Iterator[GitHttpServer]:
    with GitHttpServer(origin.srv, token="git-token-s3cret") as server:
        yield server


def test_smart_http_with_token_and_cli_status_sync(origin: Origin, stoa: StoaEmulator, admin: httpx.Client,
                                                   start_daemon: Start, http_git: GitHttpServer,
                                                   tmp_path: Path) -> None:
    first = origin.push(manifests(["pets"]), "first")
    token_file = tmp_path / "git-token"
    token_file.write_text("git-token-s3cret\n")
    daemon = start_daemon(settings_for(http_git.url("origin.git"), stoa, RECONCILER_GIT_TOKEN_FILE=str(token_file)))
    wait_until(lambda: daemon.gateway().get("last_commit") == first)
    assert http_git.denied >= 1  # the first request had no credentials: libgit2 answered the challenge

    second = origin.push(manifests(["pets", "orders"]), "second")
    api_token = tmp_path / "api-token"
    api_token.write_text(API_TOKEN)
    base = [__import__("sys").executable, "-m", "reconciler"]
    done = subprocess.run([*base, "sync", "--url", daemon.url, "--token-file", str(api_token)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"synced commit {second[:12]}" in done.stdout
    assert re.search(r"^stoa-dev\s+apply\s+ok\s+create 2, no-op 2\s+-\n    create API/orders\n    create Policy/orders-rate$",
                     done.stdout, re.M), done.stdout
    assert routes(admin) == {"platform.pets", "platform.orders"}
    env = {"RECONCILER_API_TOKEN": API_TOKEN, "PATH": "/usr/bin:/bin"}
    status = subprocess.run([*base, "status", "--url", daemon.url], capture_output=True, text=True, timeout=60, env=env)
    assert status.returncode == 0, status.stderr
    # a table for people: one row per gateway, the commit, the last sync in ISO 8601 (UTC)
    row = re.search(r"^stoa-dev\s+stoa\s+\S+\s+(\w{12})\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+0\s+-\s+apply: 2 changed\s+-$",
                    status.stdout, re.M)
    assert row is not None, status.stdout
    assert row.group(1) == second[:12]
    machine = subprocess.run([*base, "status", "--json", "--url", daemon.url], capture_output=True, text=True,
                             timeout=60, env=env)
    assert json.loads(machine.stdout)["gateways"]["stoa-dev"]["last_commit"] == second
    denied = subprocess.run([*base, "status", "--url", daemon.url], capture_output=True, text=True, timeout=60,
                            env={"RECONCILER_API_TOKEN": "wrong", "PATH": "/usr/bin:/bin"})
    assert denied.returncode == 3 and "401" in denied.stderr and "RECONCILER_API_TOKEN" in denied.stderr
    assert "--token-file" in denied.stderr and "Traceback" not in denied.stderr
    for command in (["status"], ["status", "--json"], ["sync"]):  # `reconciler status | head`: the reader is gone
        closed_read, write_end = os.pipe()
        os.close(closed_read)
        try:
            piped = subprocess.run([*base, *command, "--url", daemon.url], stdout=write_end, stderr=subprocess.PIPE,
                                   text=True, timeout=60, env=env)
        finally:
            os.close(write_end)
        assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr, piped.stderr
    assert "git-token-s3cret" not in daemon.logs()
    assert daemon.terminate() == 0


def test_wrong_git_token_is_reported_without_leaking_it(origin: Origin, stoa: StoaEmulator, start_daemon: Start,
                                                        http_git: GitHttpServer) -> None:
    origin.push(manifests(["pets"]), "first")
    daemon = start_daemon(settings_for(http_git.url("origin.git"), stoa, RECONCILER_GIT_TOKEN="wrong-token-value"))
    response = wait_until(lambda: (r := daemon.client.get("/health", headers=AUTH)).json()["source"]["last_fetch_error"] and r)
    assert response.status_code == 503 and response.json()["status"] == "failing"
    assert "wrong-token-value" not in response.text and "wrong-token-value" not in daemon.logs()
    assert daemon.terminate() == 0


def test_sighup_reloads_settings(origin: Origin, stoa: StoaEmulator, admin: httpx.Client, start_daemon: Start,
                                 tmp_path: Path) -> None:
    good = origin.push(manifests(["pets", "orders"]), "good")
    config: dict[str, Any] = {"git_url": str(origin.bare), "poll_interval": 0, "drift_interval": 0.4,
                              "drift_mode": "detect", "poll_jitter": 0, "endpoints": {"stoa-dev": stoa.url}}
    daemon = start_daemon({"RECONCILER_DRIFT_INTERVAL": "", "RECONCILER_POLL_INTERVAL": ""}, config=config)
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    admin.delete("/admin/apis/platform.orders")
    wait_until(lambda: daemon.gateway()["drift"] == 1)
    assert routes(admin) == {"platform.pets"}
    cfg = next(tmp_path.glob("daemon-*.yaml"))
    cfg.write_text(__import__("json").dumps({**config, "drift_mode": "heal"}))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: routes(admin) == {"platform.pets", "platform.orders"})
    assert daemon.health()["drift_mode"] == "heal"
    cfg.write_text("drift_mode: sometimes\n")  # invalid: refused, the old settings stay
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in daemon.logs())
    assert daemon.health()["drift_mode"] == "heal" and daemon.proc.poll() is None
    assert daemon.terminate() == 0


def test_local_directory_is_watched(stoa: StoaEmulator, admin: httpx.Client, start_daemon: Start,
                                    tmp_path: Path) -> None:
    src = tmp_path / "manifests"
    for rel, text in manifests(["pets"]).items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    daemon = start_daemon({"RECONCILER_LOCAL_PATH": str(src), "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}",
                           "RECONCILER_RESCAN_INTERVAL": "0"})
    wait_until(lambda: routes(admin) == {"platform.pets"})
    for rel, text in manifests(["pets", "orders"]).items():
        (src / rel).write_text(text)
    wait_until(lambda: routes(admin) == {"platform.pets", "platform.orders"})  # no rescan: the watcher saw it
    assert daemon.health()["source"]["kind"] == "local"
    assert daemon.terminate() == 0


def test_heartbeat_reports_gateway_health(origin: Origin, start_daemon: Start) -> None:
    good = origin.push(manifests(["pets"]), "good")
    emulator = StoaEmulator(admin_token=ADMIN_TOKEN).start()
    url = emulator.url
    try:
        daemon = start_daemon({"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ENDPOINTS": f"stoa-dev={url}",
                               "RECONCILER_POLL_INTERVAL": "0", "RECONCILER_HEARTBEAT_INTERVAL": "0.3"})
        wait_until(lambda: daemon.gateway().get("last_commit") == good)
        wait_until(lambda: daemon.gateway()["healthy"] is True)
        assert daemon.metric("reconciler_gateway_up", gateway="stoa-dev") == 1.0
        emulator.stop()
        health = wait_until(lambda: (h := daemon.health())["gateways"][0]["healthy"] is False and h)
        assert health["status"] == "degraded" and daemon.client.get("/health").status_code == 200
        assert daemon.metric("reconciler_gateway_up", gateway="stoa-dev") == 0.0
        # it comes back empty on the same port: the heartbeat sees it and re-syncs at once (drift timer is off)
        back = StoaEmulator(admin_token=ADMIN_TOKEN).start(port=emulator.port or 0)
        try:
            wait_until(lambda: "platform.pets" in back.apis)
            assert daemon.gateway()["healthy"] is True
        finally:
            back.stop()
        assert daemon.terminate() == 0
    finally:
        emulator.stop()


def test_invalid_settings_fail_at_start_with_clear_errors(tmp_path: Path) -> None:
    done = subprocess.run([__import__("sys").executable, "-m", "reconciler", "daemon"], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "RECONCILER_LOCAL_PATH": str(tmp_path),
                                           "RECONCILER_DRIFT_MODE": "fix", "RECONCILER_ADOPT": "maybe",
                                           "RECONCILER_API_TOKEN": "do-not-print-me"})
    assert done.returncode == 3  # invalid settings; never 2, which means "changes present"
    assert "RECONCILER_ADOPT: expected true or false" in done.stderr
    assert "do-not-print-me" not in done.stderr + done.stdout


def test_port_in_use_stops_cleanly_with_exit_code_3(tmp_path: Path) -> None:
    import json
    import socket
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "reconciler", "daemon"], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "RECONCILER_LOCAL_PATH": str(tmp_path),
                                   "RECONCILER_CACHE_DIR": str(tmp_path / ".cache"), "RECONCILER_PORT": str(port)})
    assert done.returncode == 3
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(r["msg"].startswith("the HTTP server could not start") for r in records)
    assert records[-1]["msg"] == "daemon stopped"


def test_https_remote_with_private_ca_and_token(origin: Origin, stoa: StoaEmulator, admin: httpx.Client,
                                                start_daemon: Start, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    first = origin.push(manifests(["pets"]), "first")
    with GitHttpServer(origin.srv, token="tls-git-token", tls=(cert, key)) as server:
        untrusted = start_daemon(settings_for(server.url("origin.git"), stoa, RECONCILER_GIT_TOKEN="tls-git-token"))
        error = wait_until(lambda: untrusted.health()["source"]["last_fetch_error"])
        assert "certificate" in error.lower() and untrusted.terminate() == 0
        assert routes(admin) == set()
        daemon = start_daemon(settings_for(server.url("origin.git"), stoa, RECONCILER_GIT_TOKEN="tls-git-token",
                                           RECONCILER_GIT_CA_FILE=str(cert)))
        wait_until(lambda: daemon.gateway().get("last_commit") == first)
        assert routes(admin) == {"platform.pets"}
        assert daemon.terminate() == 0
