"""A daemon a person can run and read: flags from one table, `--check`, readable logs, debounced webhooks, /health."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.daemon.fields import FLAGS, env_table, flags_table
from reconciler.daemon.settings import SettingsError, load_settings
from reconciler.daemon.webhooks import github_signature
from tests.conftest import free_port
from tests.daemon.conftest import ADMIN_TOKEN, API_TOKEN, WEBHOOK_SECRET, DaemonProcess, Origin, manifests, wait_until
from tests.daemon.gitserver import GitHttpServer

README = Path(__file__).resolve().parents[2] / "README.md"
Start = Callable[..., DaemonProcess]


def reconciler(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    return subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, timeout=timeout,
                          env={**base, **(env or {})})


# ----------------------------------------------------------------------------------- one table
def test_readme_tables_are_the_generated_ones() -> None:
    text = README.read_text()
    assert flags_table() in text, "README's daemon flag table is stale: paste `reconciler daemon --settings-table`"
    assert env_table() in text, "README's environment table is stale: paste `reconciler daemon --settings-table`"
    printed = reconciler("daemon", "--settings-table")
    assert printed.returncode == 0 and printed.stdout == flags_table() + "\n\n" + env_table() + "\n"


def test_help_lists_every_flag_with_its_variable_and_what_the_daemon_does() -> None:
    out = reconciler("daemon", "--help").stdout
    for word in ("poll", "webhook", "drift", "Precedence: flags > RECONCILER_* environment > --config file"):
        assert word in out
    for flag in FLAGS:
        # the epilog's table (the options list above it has the same start)
        line = [x for x in out.splitlines() if x.startswith(f"  {flag.flag} {flag.metavar} ")][-1]
        assert flag.fields[0].env in line and flag.keys[0] in line, (flag.flag, out)
    assert "3 invalid settings" in out


def test_flags_win_over_environment_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "daemon.yaml"
    cfg.write_text("git_url: https://file.example/repo.git\ngit_branch: from-file\npoll_interval: 5\ndrift_mode: heal\n")
    env = {"RECONCILER_GIT_BRANCH": "from-env", "RECONCILER_POLL_INTERVAL": "7", "RECONCILER_PORT": "9000"}
    s = load_settings(cfg, env, {"interval": "9", "listen": "0.0.0.0:8181", "drift_mode": "DETECT"})
    assert (s.git_url, s.git_branch, s.poll_interval, s.drift_mode) == ("https://file.example/repo.git", "from-env",
                                                                        9.0, "detect")
    assert (s.host, s.port) == ("0.0.0.0", 8181)
    assert (load_settings(None, {"RECONCILER_LOCAL_PATH": "/tmp"}, {"listen": ":7000"}).host) == "0.0.0.0"
    with pytest.raises(SettingsError) as err:
        load_settings(None, {"RECONCILER_LOCAL_PATH": "/tmp"}, {"interval": "-3", "listen": "8080"})
    text = str(err.value)
    assert "--listen: expected HOST:PORT" in text
    with pytest.raises(SettingsError, match=r"poll_interval \(--interval\)"):
        load_settings(None, {"RECONCILER_LOCAL_PATH": "/tmp"}, {"interval": "-3"})


# ----------------------------------------------------------------------------------- --check
def test_check_invalid_settings_exit_3_never_2() -> None:
    done = reconciler("daemon", "--check", "--repo", "https://x.example/r.git", "--drift-mode", "sometimes")
    assert done.returncode == 3, done
    assert "drift_mode (--drift-mode)" in done.stderr
    neither = reconciler("daemon", "--check")
    assert neither.returncode == 3 and "exactly one of git_url" in neither.stderr


def test_check_a_git_url_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-repo.git"
    done = reconciler("daemon", "--check", "--repo", str(missing), env={"RECONCILER_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 1, done
    assert "settings    OK" in done.stdout and "source      error: cannot fetch" in done.stdout
    assert str(missing) in done.stdout
    assert not (tmp_path / "c").exists()  # the check fetched into a temporary directory, not the daemon's cache
    with GitHttpServer(tmp_path) as server:  # a remote that answers, without that repository
        remote = reconciler("daemon", "--check", "--repo", server.url("nothing-here.git"))
    assert remote.returncode == 1 and "source      error: cannot fetch" in remote.stdout, remote


def test_check_reads_every_gateway_once_and_applies_nothing(origin: Origin, stoa: StoaEmulator,
                                                            tmp_path: Path) -> None:
    commit = origin.push(manifests(["pets"]), "one api")
    env = {"STOA_ADMIN_TOKEN": ADMIN_TOKEN, "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}"}
    done = reconciler("daemon", "--check", "--repo", str(origin.bare), env=env)
    assert done.returncode == 0, done
    assert f"source      OK: git {origin.bare} (main), commit {commit[:12]}" in done.stdout
    assert "repository  OK: 1 gateway(s)" in done.stdout
    assert "gateway     stoa-dev (stoa): OK, 2 change(s) to apply" in done.stdout
    with httpx.Client(base_url=stoa.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        assert admin.get("/admin/apis").json() == []  # a plan: nothing written
    # the gateway down: its error, exit 1
    down = reconciler("daemon", "--check", "--repo", str(origin.bare),
                      env={**env, "RECONCILER_ENDPOINTS": f"stoa-dev=http://127.0.0.1:{free_port()}"})
    assert down.returncode == 1 and "gateway     stoa-dev (stoa): error:" in down.stdout, down
    # an invalid commit: the file and line, exit 1
    origin.push(manifests(["pets"], invalid=True), "broken")
    broken = reconciler("daemon", "--check", "--repo", str(origin.bare), env=env)
    assert broken.returncode == 1 and "repository  error: commit" in broken.stdout
    assert "apis/broken.yaml:5:" in broken.stdout, broken.stdout


# ----------------------------------------------------------------------------------- logs and /health
def test_logs_name_the_objects_and_health_hides_details_without_the_token(
        origin: Origin, stoa: StoaEmulator, start_daemon: Start) -> None:
    good = origin.push(manifests(["pets", "orders"]), "two apis")
    daemon = start_daemon({"RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}", "RECONCILER_POLL_JITTER": "0"},
                          flags=["--repo", str(origin.bare), "--interval", "0", "--drift-interval", "0.5",
                                 "--drift-mode", "detect"])
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    records = daemon.log_records()  # stderr is a file: JSON lines by default
    assert any(r["msg"] == f"listening on http://127.0.0.1:{daemon.port}" for r in records)
    applied = next(r for r in records if r["msg"].startswith("reconciled stoa-dev (apply)"))
    assert set(applied["objects"]) == {"create API/pets", "create API/orders", "create Policy/pets-rate",
                                       "create Policy/orders-rate"}
    assert "create API/pets" in applied["msg"]

    with httpx.Client(base_url=stoa.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        admin.delete("/admin/apis/platform.orders")
    drift = wait_until(lambda: next((r for r in daemon.log_records() if r["msg"].startswith("drift on stoa-dev")), None))
    assert drift["objects"] == ["create API/orders"] and drift["msg"].endswith(": create API/orders")

    public = daemon.client.get("/health")
    assert public.status_code == 200 and public.json() in ({"status": "ok"}, {"status": "degraded"})
    assert str(origin.bare) not in public.text
    detailed = daemon.client.get("/health", headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
    assert detailed["source"]["location"] == str(origin.bare) and detailed["gateways"][0]["name"] == "stoa-dev"
    wrong = daemon.client.get("/health", headers={"Authorization": "Bearer nope"}).json()
    assert set(wrong) == {"status"}
    assert daemon.terminate() == 0


def test_text_log_format_for_people(origin: Origin, stoa: StoaEmulator, start_daemon: Start) -> None:
    good = origin.push(manifests(["pets"]), "one api")
    daemon = start_daemon({"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}",
                           "RECONCILER_POLL_INTERVAL": "0"}, flags=["--log-format", "text"])
    wait_until(lambda: daemon.gateway().get("last_commit") == good)
    lines = daemon.logs().splitlines()
    assert not daemon.log_records()  # no JSON line at all
    assert any(line.endswith(f"INFO    listening on http://127.0.0.1:{daemon.port}") for line in lines), lines
    assert any("reconciled stoa-dev (apply)" in line and "changed create API/pets" in line for line in lines), lines
    assert daemon.terminate() == 0


# ----------------------------------------------------------------------------------- webhook debounce
@pytest.fixture
def open_git(origin: Origin) -> Iterator[GitHttpServer]:
    with GitHttpServer(origin.srv) as server:
        yield server


def fetches(server: GitHttpServer) -> int:
    """Fetches the daemon made: each starts with the ref advertisement of git-upload-pack."""
    return sum(1 for r in list(server.requests) if "info/refs?service=git-upload-pack" in r)


async def deliver(url: str, count: int) -> tuple[list[int], float]:
    body = b'{"ref": "refs/heads/main"}'
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(WEBHOOK_SECRET, body),
               "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.post("/webhook", content=body, headers=headers) for _ in range(count)))
        return [a.status_code for a in answers], time.monotonic() - started


def test_300_deliveries_cause_a_few_fetches(origin: Origin, stoa: StoaEmulator, start_daemon: Start,
                                            open_git: GitHttpServer) -> None:
    first = origin.push(manifests(["pets"]), "first")
    window = 1.0
    daemon = start_daemon({"RECONCILER_GIT_URL": open_git.url("origin.git"), "RECONCILER_POLL_INTERVAL": "0",
                           "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}", "RECONCILER_WEBHOOK_RATE_LIMIT": "0"},
                          flags=["--webhook-debounce", str(window)])
    wait_until(lambda: daemon.gateway().get("last_commit") == first)
    before = fetches(open_git)
    second = origin.push(manifests(["pets", "orders"]), "second")
    codes, elapsed = asyncio.run(deliver(daemon.url, 300))
    assert codes == [202] * 300
    wait_until(lambda: daemon.gateway().get("last_commit") == second)  # the pushes' commit was fetched and applied
    time.sleep(2 * window)  # let any trailing window close: no fetch may follow it
    made = fetches(open_git) - before
    # one at the first delivery, one per window the deliveries spanned (the trailing edge)
    assert 1 <= made <= 2 + int(elapsed / window), (made, elapsed)
    coalesced = daemon.metric("reconciler_webhooks_total", provider="github", result="coalesced") or 0
    accepted = daemon.metric("reconciler_webhooks_total", provider="github", result="accepted") or 0
    assert accepted + coalesced == 300 and coalesced >= 300 - made
    print(f"300 deliveries in {elapsed:.2f}s -> {made} fetch(es)")
    assert daemon.terminate() == 0


def test_deliveries_are_rate_limited_per_source_address(origin: Origin, stoa: StoaEmulator, start_daemon: Start,
                                                        open_git: GitHttpServer) -> None:
    origin.push(manifests(["pets"]), "first")
    daemon = start_daemon({"RECONCILER_GIT_URL": open_git.url("origin.git"), "RECONCILER_POLL_INTERVAL": "0",
                           "RECONCILER_ENDPOINTS": f"stoa-dev={stoa.url}", "RECONCILER_WEBHOOK_RATE_LIMIT": "10"})
    codes, _ = asyncio.run(deliver(daemon.url, 40))
    assert codes.count(202) <= 11 and codes.count(429) >= 29, codes  # a burst of 10 (+1 refilled, a slow machine)
    refused = daemon.client.post("/webhook", content=b"{}")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert json.loads(refused.text) == {"error": "too many deliveries from this address"}
    assert daemon.terminate() == 0
