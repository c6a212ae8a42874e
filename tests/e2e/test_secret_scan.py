"""A secret scan: distinctive secret values in every kind of reference, then every output is searched.

One repo binds STOA, Kong DB-less, Kong with a database, Gravitee and webMethods emulators. Its
secrets are `SCAN-SECRET-<what>-<uuid>` values reached through every kind of reference: gateway
token / username / password and consumer API keys, each by environment variable, by a file in the
repository and by a file in a `RECONCILER_SECRET_DIRS` directory, and webMethods AuthServer client
secrets. Every plan format, the saved plan, apply reports, stdout, stderr, DEBUG logs and the
daemon's /health, /status, /metrics, /sync answers and log must hold none of them, also on the
paths where a gateway echoes a key back (Kong's `409 UNIQUE violation detected on '{key="…"}'`, Kong
DB-less's `uniqueness violation` in a `POST /config` answer).

Each test also checks that the secrets did reach the gateways (the emulators saw them): a scan of a
run that never used its secrets would prove nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from reconciler.adapters.stoa.emulator import StoaEmulator
from reconciler.cli import main
from reconciler.emulators.gravitee import GraviteeEmulator
from reconciler.emulators.kong import KongEmulator
from reconciler.emulators.server import Emulator
from reconciler.emulators.webmethods import WebMethodsEmulator
from reconciler.manifests.secret_files import SECRET_DIRS_ENV
from tests.conftest import ROOT
from tests.daemon.conftest import API_TOKEN, DaemonProcess, Origin, wait_until

pytestmark = pytest.mark.e2e

NAMES = ("stoa_token", "kong_token", "kong_pg_token", "gravitee_user", "gravitee_password", "wm_user",
         "wm_password", "mobile_key", "mobile_key_2", "partner_key", "keycloak_secret", "okta_secret")
ENV_VARS = {"stoa_token": "SCAN_STOA_TOKEN", "gravitee_user": "SCAN_GRAVITEE_USER", "wm_password": "SCAN_WM_PASSWORD",
            "mobile_key": "SCAN_MOBILE_KEY", "keycloak_secret": "SCAN_KEYCLOAK_SECRET"}
IN_REPO = {"kong_pg_token": "secrets/kong-pg-token", "wm_user": "secrets/wm-user", "okta_secret": "secrets/okta-secret"}
IN_SECRET_DIR = {"kong_token": "kong-token", "gravitee_password": "gravitee-password", "partner_key": "partner-key"}
SPECIAL = "-q\"uo\\te/+&%"
"""Characters that JSON, a Python repr and a URL each escape differently."""
GATEWAYS = ("gravitee-dev", "kong-dev", "kong-pg", "stoa-dev", "webmethods-dev")


def gateway(name: str, gateway_type: str, credentials: str, options: str = "") -> str:
    labels = "{env: dev, oidc: 'true'}" if gateway_type == "webmethods" else "{env: dev}"
    return (f"apiVersion: gostoa.dev/v1alpha1\nkind: GatewayInstance\nmetadata: {{name: {name}, labels: {labels}}}\n"
            f"spec:\n  displayName: {name}\n  gatewayType: {gateway_type}\n  environment: dev\n"
            f"  baseUrl: http://127.0.0.1:9\n  credentials:\n{credentials}{options}")


def encodings(value: str) -> set[str]:
    """A value as a message may carry it: raw, in a JSON string, in a Python repr, in a URL (computed
    here, not taken from the scrubber under test)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
            quote(value, safe=""), quote_plus(value, safe="")}


@dataclass
class Scan:
    """The repo, its secrets, the emulators and everything the runs printed, saved or logged."""

    repo: Path
    secret_dir: Path
    secrets: dict[str, str]
    emulators: dict[str, Emulator]
    outputs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def endpoints(self) -> list[str]:
        return [arg for name, emu in sorted(self.emulators.items()) for arg in ("--endpoint", f"{name}={emu.url}")]

    def env(self) -> dict[str, str]:
        return {var: self.secrets[name] for name, var in ENV_VARS.items()} | {SECRET_DIRS_ENV: str(self.secret_dir)}

    def forms(self) -> dict[str, str]:
        """Each secret, and the Basic-auth headers made of them (base64 would hide a raw value)."""
        out = {f"{name} ({form!r})": form for name, value in self.secrets.items() for form in encodings(value)}
        for who in ("gravitee", "wm"):
            pair = f"{self.secrets[who + '_user']}:{self.secrets[who + '_password']}"
            out[f"{who} basic auth"] = base64.b64encode(pair.encode()).decode()
        return out

    def leaks(self) -> list[str]:
        return [f"{name} in {where}" for where, text in self.outputs for name, value in self.forms().items()
                if value in text]

    def reached(self, name: str) -> bool:
        """True when some emulator received the secret (body, header or Basic auth)."""
        forms = encodings(self.secrets[name])
        for emu in self.emulators.values():
            for request in emu.requests:
                decoded = [base64.b64decode(h.split(" ", 1)[1] + "==").decode(errors="replace")
                           for h in request.headers.values() if h.lower().startswith("basic ")]
                seen = " ".join([request.body.decode(errors="replace"), *request.headers.values(), *decoded])
                if any(form in seen for form in forms):
                    return True
        return False


def build_repo(tmp_path: Path, secrets: dict[str, str]) -> tuple[Path, Path]:
    repo, secret_dir = tmp_path / "repo", tmp_path / "mounted-secrets"
    shutil.copytree(ROOT / "examples" / "repo", repo)
    shutil.rmtree(repo / "gateways")
    (repo / "gateways").mkdir()
    secret_dir.mkdir()
    for name, rel in IN_REPO.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(secrets[name] + "\n")
    for name, rel in IN_SECRET_DIR.items():
        (secret_dir / rel).write_text(secrets[name] + "\n")
    mounted = {name: str(secret_dir / rel) for name, rel in IN_SECRET_DIR.items()}
    files = {
        "stoa-dev": gateway("stoa-dev", "stoa", "    token: {env: SCAN_STOA_TOKEN}\n"),
        "kong-dev": gateway("kong-dev", "kong", f"    token: {{file: '{mounted['kong_token']}'}}\n",
                            "  options: {mode: dbless}\n"),
        "kong-pg": gateway("kong-pg", "kong", "    token: {file: secrets/kong-pg-token}\n",
                           "  options: {mode: postgres}\n"),
        "gravitee-dev": gateway("gravitee-dev", "gravitee", "    username: {env: SCAN_GRAVITEE_USER}\n"
                                f"    password: {{file: '{mounted['gravitee_password']}'}}\n",
                                "  options: {organization: DEFAULT, environment: DEFAULT}\n"),
        "webmethods-dev": gateway("webmethods-dev", "webmethods", "    username: {file: secrets/wm-user}\n"
                                  "    password: {env: SCAN_WM_PASSWORD}\n",
                                  "  options: {consumerKeys: gateway-generated}\n"),
    }
    for name, text in files.items():
        (repo / "gateways" / f"{name}.yaml").write_text(text)
    consumers = repo / "consumers" / "mobile-app.yaml"
    consumers.write_text(consumers.read_text().replace("{env: MOBILE_APP_API_KEY}", "{env: SCAN_MOBILE_KEY}")
                         .replace("{env: PARTNER_PORTAL_API_KEY}", f"{{file: '{mounted['partner_key']}'}}"))
    oidc = repo / "webmethods" / "oidc.yaml"
    oidc.write_text(oidc.read_text().replace("{env: KEYCLOAK_CLIENT_SECRET}", "{env: SCAN_KEYCLOAK_SECRET}") + (
        "---\napiVersion: gostoa.dev/v1alpha1\nkind: AuthServer\nmetadata:\n  name: okta\nspec:\n"
        "  introspectionURL: https://okta.example.com/oauth2/v1/introspect\n  clientId: gateway\n"
        "  clientSecret: {file: secrets/okta-secret}\n  gatewaySelector: {matchLabels: {oidc: \"true\"}}\n"))
    return repo, secret_dir


@pytest.fixture
def scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scan]:
    secrets = {name: f"SCAN-SECRET-{name.replace('_', '-')}-{uuid.uuid4()}" for name in NAMES}
    for name in ("mobile_key", "partner_key", "keycloak_secret", "stoa_token"):
        secrets[name] += SPECIAL  # a gateway's answer carries these escaped: each form is searched
    repo, secret_dir = build_repo(tmp_path, secrets)
    emulators: dict[str, Emulator] = {
        "stoa-dev": StoaEmulator(admin_token=secrets["stoa_token"]),
        "kong-dev": KongEmulator(mode="dbless", admin_token=secrets["kong_token"]),
        "kong-pg": KongEmulator(mode="postgres", admin_token=secrets["kong_pg_token"]),
        # Custom API keys on: Gravitee's default refuses a declared key (plan.security.apikey.allowCustom.enabled).
        "gravitee-dev": GraviteeEmulator(username=secrets["gravitee_user"], password=secrets["gravitee_password"],
                                         allow_custom_api_key=True),
        "webmethods-dev": WebMethodsEmulator(username=secrets["wm_user"], password=secrets["wm_password"]),
    }
    for emu in emulators.values():
        emu.start()
    result = Scan(repo, secret_dir, secrets, emulators)
    for var, value in result.env().items():
        monkeypatch.setenv(var, value)
    try:
        yield result
    finally:
        for emu in emulators.values():
            emu.stop()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("reconciler", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def run(scan: Scan, capsys: pytest.CaptureFixture[str], label: str, *args: str, endpoints: bool = True) -> tuple[int, str]:
    """One CLI command in-process; its stdout and stderr join the scanned outputs."""
    code = main([*args, *(scan.endpoints if endpoints else [])])
    out = capsys.readouterr()
    scan.outputs += [(f"{label} stdout", out.out), (f"{label} stderr", out.err)]
    return code, out.out + out.err


def seed_kong_conflicts(scan: Scan) -> None:
    """Unowned Kong consumers that already hold our consumers' keys, created directly on the emulators."""
    pg = scan.emulators["kong-pg"]
    with httpx.Client(base_url=pg.url, headers={"Kong-Admin-Token": scan.secrets["kong_pg_token"]}) as kong:
        kong.put("/consumers/legacy", json={}).raise_for_status()
        kong.post("/consumers/legacy/key-auth", json={"key": scan.secrets["mobile_key"]}).raise_for_status()
    dbless = scan.emulators["kong-dev"]
    assert isinstance(dbless, KongEmulator)
    dbless.load_config({"_format_version": "3.0", "consumers": [
        {"username": "legacy", "keyauth_credentials": [{"key": scan.secrets["partner_key"]}]}]})


def responded(emu: Emulator, status: int) -> bool:
    return any(r.status == status for r in emu.requests)


# ------------------------------------------------------------------------------------------ CLI
def test_no_cli_output_holds_a_secret(scan: Scan, capsys: pytest.CaptureFixture[str],
                                      debug_logs: pytest.LogCaptureFixture, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo = str(scan.repo)
    saved = tmp_path / "plan.json"
    assert run(scan, capsys, "validate", "validate", repo, endpoints=False)[0] == 0
    assert run(scan, capsys, "plan text", "plan", repo, "--detailed-exitcode")[0] == 2
    assert run(scan, capsys, "plan verbose", "plan", repo, "-v")[0] == 0
    code, out = run(scan, capsys, "plan json", "plan", repo, "--format", "json")
    assert code == 0 and not json.loads(out)["errors"]
    assert run(scan, capsys, "plan markdown", "plan", repo, "--format", "markdown")[0] == 0
    assert run(scan, capsys, "plan --out", "plan", repo, "--out", str(saved))[0] == 0
    scan.outputs.append(("saved plan", saved.read_text()))
    code, out = run(scan, capsys, "apply saved", "apply", str(saved), "--auto-approve", "--repo", repo, endpoints=False)
    assert code == 0, out
    assert run(scan, capsys, "re-plan", "plan", repo, "--detailed-exitcode", "-v")[0] == 0
    assert run(scan, capsys, "apply no-op json", "apply", repo, "--auto-approve", "--format", "json")[0] == 0

    # a new key for one consumer: an update of the credential everywhere, then in sync again
    monkeypatch.setenv("SCAN_MOBILE_KEY", scan.secrets["mobile_key_2"])
    code, out = run(scan, capsys, "plan key change", "plan", repo, "--detailed-exitcode")
    assert code == 2 and "~ Consumer mobile-app" in out
    code, out = run(scan, capsys, "apply key change", "apply", repo, "--auto-approve")
    assert code == 0, out
    monkeypatch.setenv("SCAN_MOBILE_KEY", scan.secrets["mobile_key"])
    assert run(scan, capsys, "apply key back json", "apply", repo, "--auto-approve", "--format", "json")[0] == 0
    monkeypatch.delenv("SCAN_MOBILE_KEY")
    code, out = run(scan, capsys, "plan missing key", "plan", repo, "--format", "json")
    assert code == 0 and json.loads(out)["missing_secrets"]
    assert run(scan, capsys, "apply missing key", "apply", repo, "--auto-approve")[0] == 1
    scan.outputs.append(("logs", debug_logs.text))
    scan.outputs.append(("log records", "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text}"
                                                  for r in debug_logs.records)))

    assert all(scan.reached(name) for name in NAMES), [n for n in NAMES if not scan.reached(n)]
    assert scan.leaks() == []


def test_kong_echoing_a_key_back_shows_no_secret(scan: Scan, capsys: pytest.CaptureFixture[str],
                                                 debug_logs: pytest.LogCaptureFixture) -> None:
    seed_kong_conflicts(scan)
    repo = str(scan.repo)
    code, out = run(scan, capsys, "apply conflicting keys", "apply", repo, "--auto-approve")
    assert code == 1
    assert "UNIQUE violation detected on" in out  # Kong with a database: 409 on the key-auth credential
    assert "uniqueness violation" in out  # Kong DB-less: POST /config refused
    code, out = run(scan, capsys, "apply conflicting keys json", "apply", repo, "--auto-approve", "--format", "json")
    assert code == 1 and "UNIQUE violation" in out
    assert responded(scan.emulators["kong-pg"], 409) and responded(scan.emulators["kong-dev"], 400)
    scan.outputs.append(("logs", debug_logs.text))
    assert scan.reached("mobile_key") and scan.reached("partner_key")
    assert scan.leaks() == []


def test_gateways_refusing_our_credentials_show_no_secret(scan: Scan, capsys: pytest.CaptureFixture[str],
                                                          debug_logs: pytest.LogCaptureFixture) -> None:
    """Every gateway answers 401/403: the errors name the gateway, never the credentials sent."""
    for emu in scan.emulators.values():
        emu.stop()
    scan.emulators = {
        "stoa-dev": StoaEmulator(admin_token="other-stoa-token"),
        "kong-dev": KongEmulator(mode="dbless", admin_token="other-kong-token"),
        "kong-pg": KongEmulator(mode="postgres", admin_token="other-kong-token"),
        "gravitee-dev": GraviteeEmulator(username="admin", password="other-password"),
        "webmethods-dev": WebMethodsEmulator(username="Administrator", password="other-password"),
    }
    for emu in scan.emulators.values():
        emu.start()
    repo = str(scan.repo)
    code, out = run(scan, capsys, "plan refused", "plan", repo)
    assert code == 1 and out.count("error: cannot read gateway") == len(GATEWAYS), out
    assert run(scan, capsys, "plan refused json", "plan", repo, "--format", "json")[0] == 1
    assert run(scan, capsys, "plan refused markdown", "plan", repo, "--format", "markdown")[0] == 1
    assert run(scan, capsys, "apply refused", "apply", repo, "--auto-approve", "--format", "json")[0] == 1
    scan.outputs.append(("logs", debug_logs.text))
    gateway_secrets = ("stoa_token", "kong_token", "kong_pg_token", "gravitee_user", "gravitee_password", "wm_user",
                       "wm_password")
    assert all(scan.reached(name) for name in gateway_secrets)
    assert all(emu.writes == [] for emu in scan.emulators.values())
    assert scan.leaks() == []


# ------------------------------------------------------------------------------------------ daemon
def repo_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(settings: dict[str, str]) -> DaemonProcess:
        started.append(DaemonProcess(tmp_path, settings))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


def test_no_daemon_output_holds_a_secret(scan: Scan, tmp_path: Path, start_daemon: Callable[..., DaemonProcess]) -> None:
    seed_kong_conflicts(scan)
    (tmp_path / "git").mkdir()
    origin = Origin(tmp_path / "git")
    commit = origin.push(repo_files(scan.repo), "scan")
    endpoints = ",".join(f"{name}={emu.url}" for name, emu in sorted(scan.emulators.items()))
    daemon = start_daemon({"RECONCILER_GIT_URL": str(origin.bare), "RECONCILER_ENDPOINTS": endpoints,
                           "RECONCILER_POLL_INTERVAL": "0", "RECONCILER_HEARTBEAT_INTERVAL": "0.3",
                           "RECONCILER_DRIFT_INTERVAL": "0.5", "RECONCILER_LOG_LEVEL": "DEBUG", **scan.env()})
    wait_until(lambda: all(daemon.gateway(n).get("last_commit") == commit for n in GATEWAYS if n != "kong-dev"
                           and n != "kong-pg"), timeout=60)
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    status = wait_until(lambda: (s := daemon.client.get("/status", headers=auth)).status_code == 200
                        and all(n in s.text for n in GATEWAYS) and s, timeout=30)
    sync = daemon.client.post("/sync?wait=true", headers=auth, timeout=120)
    time.sleep(1.5)  # a few heartbeats and drift checks
    scan.outputs += [("/health", daemon.client.get("/health").text), ("/status", status.text),
                     ("/status later", daemon.client.get("/status", headers=auth).text), ("/sync", sync.text),
                     ("/metrics", daemon.client.get("/metrics").text)]
    assert daemon.terminate() == 0
    logs = daemon.logs()
    scan.outputs.append(("daemon log", logs))
    assert "UNIQUE violation" in logs or "UNIQUE violation" in sync.text  # the 409 path was taken
    assert responded(scan.emulators["kong-pg"], 409)
    assert '"level":"debug"' in logs
    assert all(scan.reached(name) for name in NAMES if name != "mobile_key_2")
    assert scan.leaks() == []
