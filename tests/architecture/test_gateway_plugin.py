"""A third-party gateway is one installed distribution away: no edit of this project.

The test builds a fake distribution in tmp_path (a package `acme_gw` declaring `GATEWAYS` and an
`acme_gw-0.1.dist-info` with its `stoa_reconciler.gateways` entry point), puts it on PYTHONPATH of a
fresh interpreter, and checks that every consumer of the gateway-type table sees the new type: the
table itself, the manifests' `GatewayType`, the JSON Schema, `reconciler validate`, and both
registries (adapter and emulator). A run without the distribution is the baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

CLI = Path(sys.executable).parent / "reconciler"

INIT = '''
from reconciler.model.gateways import GatewayTypeInfo

GATEWAYS = (GatewayTypeInfo(
    name="acme",
    adapter="acme_gw.adapter:AcmeAdapter",
    emulator="acme_gw.emulator:AcmeEmulator",
    credentials={"token": "token"},
    description="ACME gateway (a third-party plugin)",
),)
'''

ADAPTER = '''
from typing import Any, ClassVar

from reconciler.adapters.base import GatewayAdapter
from reconciler.model.results import AdapterResult


class AcmeAdapter(GatewayAdapter):
    gateway_type: ClassVar[str] = "acme"

    async def health_check(self) -> AdapterResult:
        return AdapterResult(success=True, data={"gateway": "acme"})

    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_apis(self) -> list[dict[str, Any]]:
        return []

    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_policies(self) -> list[dict[str, Any]]:
        return []

    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_applications(self) -> list[dict[str, Any]]:
        return []
'''

EMULATOR = '''
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.emulators.server import Emulator


class AcmeEmulator(Emulator):
    gateway_type = "acme"

    def routes(self):
        return [Route("/health", lambda request: JSONResponse({"status": "ok"}))]
'''

# Runs in the child interpreter; prints one JSON object of what it saw.
PROBE = '''
import asyncio, json

from reconciler.model.gateways import gateway_types

out = {"types": list(gateway_types())}
if "acme" in out["types"]:
    from reconciler.adapters.base import GatewayAdapter
    from reconciler.adapters.registry import adapter_class, create
    from reconciler.emulators.registry import emulator_class
    from reconciler.emulators.server import Emulator
    from reconciler.manifests.models import GatewayType

    adapter = adapter_class("acme")
    emulator = emulator_class("acme")
    health = asyncio.run(create("acme", {"name": "acme-dev"}).health_check())
    out.update(
        enum_value=GatewayType("acme").value,
        adapter=f"{adapter.__module__}:{adapter.__qualname__}",
        adapter_is_gateway_adapter=issubclass(adapter, GatewayAdapter),
        adapter_health=[health.success, health.data],
        emulator=f"{emulator.__module__}:{emulator.__qualname__}",
        emulator_is_emulator=issubclass(emulator, Emulator),
    )
print(json.dumps(out))
'''

SETTINGS = """\
apiVersion: gostoa.dev/v1alpha1
kind: ReconcilerSettings
spec:
  owner: platform
"""

GATEWAY = """\
apiVersion: gostoa.dev/v1alpha1
kind: GatewayInstance
metadata:
  name: acme-dev
spec:
  displayName: ACME (dev)
  gatewayType: acme
  environment: dev
  baseUrl: http://127.0.0.1:8099
  credentials:
    token: {env: ACME_TOKEN}
"""

API = """\
apiVersion: gostoa.dev/v1alpha1
kind: API
metadata:
  name: orders
spec:
  displayName: Orders
  tenant: acme
  version: "2.1.0"
  basePath: /orders
  backend: https://orders.example.com/api
  methods: [GET, POST]
  gateways: [acme-dev]
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """A fake installed distribution `acme_gw` 0.1, importable from `tmp_path/site`."""
    site = tmp_path / "site"
    _write(site / "acme_gw" / "__init__.py", INIT)
    _write(site / "acme_gw" / "adapter.py", ADAPTER)
    _write(site / "acme_gw" / "emulator.py", EMULATOR)
    _write(site / "acme_gw-0.1.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: acme_gw\nVersion: 0.1\n")
    _write(site / "acme_gw-0.1.dist-info" / "entry_points.txt", "[stoa_reconciler.gateways]\nacme = acme_gw:GATEWAYS\n")
    return site


def _run(args: list[str], cwd: Path, pythonpath: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _probe(cwd: Path, pythonpath: Path | None) -> dict[str, Any]:
    result = _run([sys.executable, "-c", PROBE], cwd, pythonpath)
    assert result.returncode == 0, result.stderr
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


def test_an_installed_plugin_adds_its_gateway_type_everywhere(plugin_dir: Path, tmp_path: Path) -> None:
    built_in = _probe(tmp_path, None)["types"]
    assert "acme" not in built_in and "kong" in built_in

    seen = _probe(tmp_path, plugin_dir)
    assert seen["types"] == [*built_in, "acme"]  # after the built-ins (default rank), their order kept
    assert seen["enum_value"] == "acme"
    assert seen["adapter"] == "acme_gw.adapter:AcmeAdapter" and seen["adapter_is_gateway_adapter"] is True
    assert seen["adapter_health"] == [True, {"gateway": "acme"}]
    assert seen["emulator"] == "acme_gw.emulator:AcmeEmulator" and seen["emulator_is_emulator"] is True


def test_the_schema_lists_the_plugin_type(plugin_dir: Path, tmp_path: Path) -> None:
    result = _run([str(CLI), "schema", "GatewayInstance"], tmp_path, plugin_dir)
    assert result.returncode == 0, result.stderr
    enum = json.loads(result.stdout)["$defs"]["GatewayType"]["enum"]
    assert enum[-1] == "acme" and "kong" in enum


def test_validate_accepts_a_repo_bound_to_the_plugin_type(plugin_dir: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo / "reconciler.yaml", SETTINGS)
    _write(repo / "gateways" / "acme-dev.yaml", GATEWAY)
    _write(repo / "apis" / "orders.yaml", API)

    without = _run([str(CLI), "validate", str(repo)], tmp_path, None)
    assert without.returncode != 0  # the type really comes from the plugin
    assert "acme-dev.yaml:7: spec.gatewayType: Input should be" in without.stderr

    result = _run([str(CLI), "validate", str(repo)], tmp_path, plugin_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid (1 API, 1 GatewayInstance;" in result.stdout
