"""End to end through `reconciler.cli.main` against the Kong emulator, DB-less and database mode."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.emulators.kong import KongEmulator
from tests.conftest import run_cli
from tests.kong.kong_helpers import restamp_free
from tests.kong.test_kong_e2e_adapter import SNAPSHOT_PATHS, UNOWNED

pytestmark = pytest.mark.e2e

TOKEN = "kong-cli-admin-token"
KEYS = {"MOBILE_KEY": "mobile-key-0123456789", "PARTNER_KEY": "partner-key-9876543210"}

REPO = {
    "reconciler.yaml": """
        apiVersion: gostoa.dev/v1alpha1
        kind: ReconcilerSettings
        spec: {owner: platform, prune: true, maxDeletes: 10}
    """,
    "gateways/kong.yaml": """
        apiVersion: gostoa.dev/v1alpha1
        kind: GatewayInstance
        metadata: {name: kong-dev, labels: {env: dev}}
        spec: {displayName: Kong dev, gatewayType: kong, environment: dev, baseUrl: "http://127.0.0.1:8001",
               credentials: {token: {env: KONG_ADMIN_TOKEN}}}
    """,
    "apis/pets.yaml": """
        apiVersion: gostoa.dev/v1alpha1
        kind: API
        metadata: {name: pets}
        spec: {tenant: acme, version: "1.0.0", basePath: /pets, backend: "https://pets.example.com/v1",
               displayName: "Pets, v1", methods: [GET, POST], gateways: [kong-dev]}
        ---
        apiVersion: gostoa.dev/v1alpha1
        kind: Policy
        metadata: {name: pets-rate}
        spec: {api: pets, type: rate_limit, rateLimit: {requests: 100, period: minute}}
        ---
        apiVersion: gostoa.dev/v1alpha1
        kind: Policy
        metadata: {name: pets-cors}
        spec: {api: pets, type: cors, cors: {origins: ["https://app.example.com"], methods: [GET],
               credentials: false, maxAge: 600}}
    """,
    "apis/orders.yaml": """
        apiVersion: gostoa.dev/v1alpha1
        kind: API
        metadata: {name: orders}
        spec: {tenant: acme, version: "2.0.0", basePath: /orders, backend: "http://orders.internal:8080",
               gatewaySelector: {matchLabels: {env: dev}}}
        ---
        apiVersion: gostoa.dev/v1alpha1
        kind: Policy
        metadata: {name: orders-rate}
        spec: {api: orders, type: rate_limit, rateLimit: {requests: 5, period: second}}
    """,
    "consumers.yaml": """
        apiVersion: gostoa.dev/v1alpha1
        kind: Consumer
        metadata: {name: mobile-app}
        spec: {displayName: Mobile app, email: mobile@example.com,
               credential: {type: apiKey, secretRef: {env: MOBILE_KEY}}, subscriptions: [pets, orders]}
        ---
        apiVersion: gostoa.dev/v1alpha1
        kind: Consumer
        metadata: {name: partner}
        spec: {credential: {type: apiKey, secretRef: {env: PARTNER_KEY}}, subscriptions: [pets]}
    """,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name, text in REPO.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).strip() + "\n")
    return root


@pytest.fixture(params=["dbless", "postgres"])
def kong(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[KongEmulator]:
    monkeypatch.setenv("KONG_ADMIN_TOKEN", TOKEN)
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    with KongEmulator(mode=request.param, admin_token=TOKEN) as emu:
        emu.load_config(UNOWNED)
        yield emu


def run(command: str, repo: Path, kong: KongEmulator, *extra: str) -> int:
    return run_cli(command, repo, {"kong-dev": kong.url}, *extra)


def admin(kong: KongEmulator) -> httpx.Client:
    return httpx.Client(base_url=kong.url, headers={"Kong-Admin-Token": TOKEN}, timeout=5)


def snapshot(kong: KongEmulator) -> dict[str, bytes]:
    with admin(kong) as c:
        return {p: restamp_free(kong.mode, c.get(p).content) for p in SNAPSHOT_PATHS}


def test_apply_then_plan_is_empty_and_second_apply_writes_nothing(kong: KongEmulator, repo: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(kong)
    assert run("plan", repo, kong, "--detailed-exitcode") == 2
    assert run("apply", repo, kong) == 0
    if kong.mode == "dbless":
        assert [(w.method, w.path) for w in kong.writes] == [("POST", "/config")]
    with admin(kong) as c:
        assert {s["name"] for s in c.get("/services").json()["data"]} == {"pets", "orders", "legacy"}
        assert {k["key"] for k in c.get("/key-auths").json()["data"]} == set(KEYS.values())
        groups = {a["group"] for a in c.get("/consumers/mobile-app/acls").json()["data"]}
        assert groups == {"pets", "orders"}
    kong.clear_log()
    assert run("plan", repo, kong, "--detailed-exitcode") == 0
    assert run("apply", repo, kong) == 0
    assert kong.writes == []
    assert snapshot(kong) == before
    out = capsys.readouterr()
    for secret in (TOKEN, *KEYS.values()):
        assert secret not in out.out and secret not in out.err


def test_drift_is_planned_and_healed(kong: KongEmulator, repo: Path) -> None:
    assert run("apply", repo, kong) == 0
    with admin(kong) as c:
        if kong.mode == "postgres":
            plugin = next(p for p in c.get("/plugins?tags=stoa-name:pets-rate").json()["data"])
            assert c.patch(f"/plugins/{plugin['id']}", json={"config": {"minute": 1}}).status_code == 200
            assert c.patch("/services/orders", json={"host": "evil.example.com"}).status_code == 200
        else:
            assert c.patch("/services/orders", json={"host": "evil.example.com"}).status_code == 405
            kong.db["services"][next(s["id"] for s in kong.entities("services") if s["name"] == "orders")][
                "host"] = "evil.example.com"  # what an out-of-band POST /config would leave
    assert run("plan", repo, kong, "--detailed-exitcode") == 2
    assert run("apply", repo, kong) == 0
    assert run("plan", repo, kong, "--detailed-exitcode") == 0
    with admin(kong) as c:
        assert c.get("/services/orders").json()["host"] == "orders.internal"


def test_prune_removes_only_owned_objects(kong: KongEmulator, repo: Path) -> None:
    before = snapshot(kong)
    assert run("apply", repo, kong) == 0
    (repo / "apis" / "orders.yaml").unlink()
    text = (repo / "consumers.yaml").read_text().replace("subscriptions: [pets, orders]", "subscriptions: [pets]")
    (repo / "consumers.yaml").write_text(text)
    assert run("apply", repo, kong) == 0
    with admin(kong) as c:
        assert {s["name"] for s in c.get("/services").json()["data"]} == {"pets", "legacy"}
        assert c.get("/routes/orders").status_code == 404
        assert {p["name"] for p in c.get("/plugins?tags=stoa-kind:Policy").json()["data"]} == {"rate-limiting",
                                                                                                "cors"}
    assert snapshot(kong) == before
    assert run("plan", repo, kong, "--detailed-exitcode") == 0


def test_rejected_config_leaves_kong_unchanged(kong: KongEmulator, repo: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run("apply", repo, kong) == 0
    with admin(kong) as c:
        before = {p: c.get(p).content for p in ("/services", "/routes", "/plugins", "/consumers", "/key-auths")}
    monkeypatch.setenv("PARTNER_KEY", KEYS["MOBILE_KEY"])  # two consumers, one key: Kong refuses it
    text = (repo / "apis" / "pets.yaml").read_text().replace("requests: 100", "requests: 50")
    (repo / "apis" / "pets.yaml").write_text(text)
    capsys.readouterr()
    assert run("apply", repo, kong) != 0
    out = capsys.readouterr()
    assert KEYS["MOBILE_KEY"] not in out.out + out.err
    if kong.mode == "dbless":
        with admin(kong) as c:
            after = {p: c.get(p).content for p in before}
        assert after == before  # the 50 req/min change was in the same rejected config
        assert len([w for w in kong.writes if w.path == "/config" and w.status == 400]) == 1


def test_reconciler_emulate_kong_serves_the_requested_mode(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from tests.conftest import free_port

    port = free_port()
    code = "import sys; from reconciler.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "emulate", "kong", "--port", str(port), "--mode", "postgres"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert body["configuration"]["database"] == "postgres"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
