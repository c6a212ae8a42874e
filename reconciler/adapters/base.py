"""The gateway adapter contract (STOA Control Plane's), plus the hooks the reconciler needs.

Contract, for every adapter:
- 16 async methods in 5 groups (lifecycle, APIs, policies, consumers, extended); each returns
  `AdapterResult(success, resource_id, data, error)` (`list_*` return `list[dict]`) and NEVER raises;
- unsupported methods return `success=False, error="Not supported by <gateway>"`;
- HTTP goes through `reconciler.adapters.http.GatewayHttp` (httpx.AsyncClient, retries, pacing).

What the reconciler adds, without changing that contract:
- `fetch_apis / fetch_policies / fetch_applications` (and `fetch(kind)`) return canonical records
  (`reconciler.model.records`) and RAISE `GatewayError` on failure, so a failed read can never be
  mistaken for an empty gateway. The public `list_*` wrap them and return `[]` on failure, as the
  contract says.
- `desired_view(kind, spec)` (pure): drops or reshapes what this gateway cannot store, so the diff
  never sees a perpetual difference.
- `apply_batch(changes)`: gateways that must write everything at once (Kong DB-less) take the whole
  plan for the gateway here and return one result per change; the default returns None, and the
  executor calls the per-resource methods level by level.
- `batch_notes(changes)` (pure): notes on changes the rest of the batch shapes (an intermediate step
  of a swap of unique paths), added to the plan by the runner, so the plan says what the apply does.
- `AdapterResult.category`: machine-readable error category (`reconciler.model.errors`), so the
  engine never parses error strings.

Adapter config (the `config` dict of the constructor), built by the CLI from a GatewayInstance:
    {"name": gateway name, "gateway_type": str, "base_url": str, "owner": owner id,
     "auth": {"token"?, "username"?, "password"?, "access_key_id"?, "secret_access_key"?}  # resolved
     "options": {...GatewaySpec.options...}, "timeout": float, "transport": httpx transport (tests)}
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from reconciler.adapters.http import GatewayHttp
from reconciler.adapters.importing import default_import_spec
from reconciler.model.changes import Change, ItemResult
from reconciler.model.checks import Problem
from reconciler.model.errors import UNSUPPORTED, ConflictError, GatewayError, UnsupportedError, sanitize
from reconciler.model.gateways import CORE, GatewayTypeInfo, gateway_types
from reconciler.model.imports import ImportedSpec
from reconciler.model.results import AdapterResult
from reconciler.model.scrub import Scrubber

log = logging.getLogger("reconciler.adapters")

T = TypeVar("T")


async def gather_bounded(calls: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Per-object requests `limit` at a time, results in the order of `calls`: for gateways whose
    listings do not carry what a record needs (plans per API, resources per REST API)."""
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))
DEFAULT_CONCURRENCY = 10
"""Writes in flight per gateway unless `options.concurrency` says otherwise (decK's and the vendors'
own tools default to 10 parallel requests)."""


class GatewayAdapter(ABC):
    """Base class of every adapter. Subclasses set `gateway_type` and implement the contract."""

    gateway_type: ClassVar[str] = "template"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self._config: dict[str, Any] = dict(config or {})
        self.name: str = str(self._config.get("name", self.gateway_type))
        self.owner: str = str(self._config.get("owner", "stoa-reconciler"))
        self.options: dict[str, Any] = dict(self._config.get("options") or {})
        self.http: GatewayHttp | None = None
        given = self._config.get("scrubber")
        self.scrubber: Scrubber = given if isinstance(given, Scrubber) else Scrubber()
        """The run's scrubber (shared with the executor and the other gateways); our credentials join it."""
        self.scrubber.add(*self.auth.values())

    # ------------------------------------------------------------------ capabilities (data, from the table)
    @property
    def type_info(self) -> GatewayTypeInfo | None:
        """This gateway type's row of `reconciler.model.gateways` (None for an unregistered adapter)."""
        return gateway_types().get(str(self._config.get("gateway_type", self.gateway_type)))

    @property
    def supported_kinds(self) -> frozenset[str]:
        """Kinds this adapter reconciles: the table's, so the loader and the adapter cannot disagree."""
        info = self.type_info
        return info.kinds if info is not None else CORE

    @property
    def can_export(self) -> bool:
        info = self.type_info
        return info is not None and info.can_export

    # ------------------------------------------------------------------ helpers for subclasses
    @property
    def auth(self) -> dict[str, str]:
        return dict(self._config.get("auth") or {})

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from every message this adapter produces: every secret of the run it knows."""
        return self.scrubber.values

    @property
    def concurrency(self) -> int | None:
        """`options.concurrency` of this gateway (changes applied at once, writes in flight), if set."""
        value = self.options.get("concurrency")
        return max(1, int(value)) if value not in (None, "") else None

    def make_http(self, **kwargs: Any) -> GatewayHttp:
        """Build the shared HTTP client from the config (base_url, timeout, test transport); writes in
        flight are bounded by `concurrency` and halved while the gateway answers 429."""
        kwargs.setdefault("write_concurrency", self.concurrency or DEFAULT_CONCURRENCY)
        kwargs.setdefault("timeout", float(self._config.get("timeout", 30.0)))
        kwargs.setdefault("transport", self._config.get("transport"))
        kwargs.setdefault("secrets", self.scrubber)
        return GatewayHttp(str(self._config.get("base_url", "")), **kwargs)

    def not_supported(self) -> AdapterResult:
        return AdapterResult(success=False, error=f"Not supported by {self.gateway_type}", category=UNSUPPORTED)

    def failure(self, exc: BaseException, *, what: str = "") -> AdapterResult:
        """Turn any exception into a failed AdapterResult with a sanitized message."""
        if isinstance(exc, GatewayError):
            message, category = exc.message, exc.category
        else:
            message, category = f"{type(exc).__name__}: {exc}", "permanent"
        message = sanitize(f"{what}: {message}" if what else message, secrets=self.secrets)
        return AdapterResult(success=False, error=message, category=category)

    async def guard(self, what: str, call: Callable[[], Awaitable[AdapterResult]]) -> AdapterResult:
        """Run `call`, converting any exception to a failed result: the never-raise rule in one place."""
        try:
            return await call()
        except Exception as exc:  # noqa: BLE001 - the contract forbids raising
            log.warning("%s %s failed: %s", self.name, what, sanitize(str(exc), secrets=self.secrets))
            return self.failure(exc, what=what)

    async def delete_owned(self, what: str, resource_id: str, *, read: Callable[[], Awaitable[T | None]],
                           owner: Callable[[T], str | None], delete: Callable[[T], Awaitable[None]]) -> AdapterResult:
        """The one delete protocol: read the object; gone is success; not ours is a conflict; else delete.

        `what` names the object in messages (`REST API abc`). Never raises (runs under `guard`).
        """
        async def run() -> AdapterResult:
            live = await read()
            if live is None:
                return AdapterResult(True, resource_id=resource_id, data={"deleted": False})
            if owner(live) != self.owner:
                raise ConflictError(f"{what} is not owned by {self.owner!r}; not deleted")
            await delete(live)
            return AdapterResult(True, resource_id=resource_id, data={"deleted": True})

        return await self.guard(f"delete {what}", run)

    async def retire_moved(self, previous: Any, result: AdapterResult) -> AdapterResult:
        """After a policy was written at its new place (`result`), delete it from its old one when the
        live id the plan passed (`previous`) is another place: a policy moved to another API."""
        if not (result.success and isinstance(previous, str) and previous and previous != result.resource_id):
            return result
        retired = await self.delete_policy(previous)
        if retired.success:
            return result
        return AdapterResult(False, resource_id=result.resource_id, category=retired.category,
                             error=f"written on its new API, but its old place {previous} remains: {retired.error}")

    async def _safe_list(self, fetch: Callable[[], Awaitable[list[dict[str, Any]]]], what: str) -> list[dict[str, Any]]:
        try:
            return await fetch()
        except Exception as exc:  # noqa: BLE001
            log.warning("%s %s failed: %s", self.name, what, sanitize(str(exc), secrets=self.secrets))
            return []

    # ------------------------------------------------------------------ lifecycle
    @abstractmethod
    async def health_check(self) -> AdapterResult: ...

    async def connect(self) -> None:
        if self.http is None:
            self.http = self.make_http()

    async def disconnect(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    async def __aenter__(self) -> GatewayAdapter:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def client(self) -> GatewayHttp:
        if self.http is None:
            self.http = self.make_http()
        return self.http

    # ------------------------------------------------------------------ APIs
    @abstractmethod
    async def sync_api(self, api_spec: dict[str, Any], tenant_id: str, auth_token: str | None = None) -> AdapterResult: ...

    @abstractmethod
    async def delete_api(self, api_id: str, auth_token: str | None = None) -> AdapterResult: ...

    @abstractmethod
    async def fetch_apis(self) -> list[dict[str, Any]]: ...

    async def list_apis(self, auth_token: str | None = None) -> list[dict[str, Any]]:
        return await self._safe_list(self.fetch_apis, "list_apis")

    # ------------------------------------------------------------------ policies
    @abstractmethod
    async def upsert_policy(self, policy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult: ...

    @abstractmethod
    async def delete_policy(self, policy_id: str, auth_token: str | None = None) -> AdapterResult: ...

    @abstractmethod
    async def fetch_policies(self) -> list[dict[str, Any]]: ...

    async def list_policies(self, auth_token: str | None = None) -> list[dict[str, Any]]:
        return await self._safe_list(self.fetch_policies, "list_policies")

    # ------------------------------------------------------------------ consumers
    @abstractmethod
    async def provision_application(self, app_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult: ...

    @abstractmethod
    async def deprovision_application(self, app_id: str, auth_token: str | None = None) -> AdapterResult: ...

    @abstractmethod
    async def fetch_applications(self) -> list[dict[str, Any]]: ...

    async def list_applications(self, auth_token: str | None = None) -> list[dict[str, Any]]:
        return await self._safe_list(self.fetch_applications, "list_applications")

    # ------------------------------------------------------------------ extended (webMethods)
    async def upsert_auth_server(self, auth_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def upsert_strategy(self, strategy_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def upsert_scope(self, scope_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def upsert_alias(self, alias_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def apply_config(self, config_spec: dict[str, Any], auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def export_archive(self, auth_token: str | None = None) -> AdapterResult:
        """On success, `data = {"content": <bytes>, "media_type": "application/zip"}`."""
        return self.not_supported()

    # ------------------------------------------------------------------ extended kinds: reads and deletes
    # Not part of the STOA contract (it has upserts only); the reconciler needs them to diff and prune.
    async def fetch_auth_servers(self) -> list[dict[str, Any]]:
        raise UnsupportedError(f"Not supported by {self.gateway_type}")

    async def delete_auth_server(self, alias_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_aliases(self) -> list[dict[str, Any]]:
        raise UnsupportedError(f"Not supported by {self.gateway_type}")

    async def delete_alias(self, alias_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_strategies(self) -> list[dict[str, Any]]:
        raise UnsupportedError(f"Not supported by {self.gateway_type}")

    async def delete_strategy(self, strategy_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_scopes(self) -> list[dict[str, Any]]:
        raise UnsupportedError(f"Not supported by {self.gateway_type}")

    async def delete_scope(self, scope_id: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    async def fetch_configs(self) -> list[dict[str, Any]]:
        raise UnsupportedError(f"Not supported by {self.gateway_type}")

    async def release_config(self, key: str, auth_token: str | None = None) -> AdapterResult:
        return self.not_supported()

    # ------------------------------------------------------------------ reconciler hooks
    async def fetch(self, kind: str) -> list[dict[str, Any]]:
        """Canonical records of one kind; raises GatewayError when the gateway cannot be read."""
        return await HANDLERS[kind].fetch(self)

    async def upsert(self, change: Change) -> AdapterResult:
        """Send a create/update change to the contract method of its kind."""
        if change.kind not in self.supported_kinds:
            return self.not_supported()
        return await HANDLERS[change.kind].upsert(self, change)

    async def remove(self, change: Change) -> AdapterResult:
        """Send a delete change to the contract method of its kind (by the live object's id)."""
        handler = HANDLERS[change.kind]
        if change.kind not in self.supported_kinds or handler.delete is None:
            return self.not_supported()
        return await handler.delete(self, change)

    @staticmethod
    def desired_view(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The part of a desired spec this gateway stores and returns (pure). Default: all of it."""
        return spec

    @staticmethod
    def folded_fields(kind: str) -> Mapping[str, str]:
        """Desired fields this gateway keeps only inside another (a hash): field -> path in the view.
        Ignore rules on the field then hold for that path too. Default: none."""
        return {}

    def plan_notes(self, kind: str, spec: dict[str, Any]) -> list[str]:
        """Notes shown in the plan for a create/update of this spec (pure): a lossy conversion, or a
        side effect the adapter adds (plugins, plans) that the manifest does not say."""
        return []

    def batch_notes(self, changes: Sequence[Change]) -> dict[tuple[str, str], list[str]]:
        """Notes on changes that the rest of the batch shapes (pure), by (kind, name): an order or an
        intermediate step the apply will take (a swap of unique paths). Default: none."""
        return {}

    def import_spec(self, kind: str, record: Mapping[str, Any]) -> ImportedSpec:
        """The manifest spec of one live record for `reconciler import` (pure): what an operator would
        write to declare this object as it is. Default: the inverse of the canonical record; adapters
        whose reads carry markers, hashes or placeholders override it and say so in `notes`."""
        return default_import_spec(kind, record)

    @classmethod
    def check(cls, records: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> list[Problem]:
        """What this gateway would refuse, or could not store exactly, among one gateway's desired
        records (pure, before any request). Default: nothing. Each rule cites its source."""
        return []

    async def apply_batch(self, changes: list[Change]) -> list[ItemResult] | None:
        """Apply all of this gateway's changes at once; None means "use the per-resource methods"."""
        return None

    @property
    def write_count(self) -> int:
        return 0 if self.http is None else self.http.writes


# ---------------------------------------------------------------------------------------- handlers
Fetch = Callable[[GatewayAdapter], Awaitable[list[dict[str, Any]]]]
Write = Callable[[GatewayAdapter, Change], Awaitable[AdapterResult]]


@dataclass(frozen=True)
class KindHandler:
    """The adapter side of one row of `reconciler.model.kinds.KINDS`: typed, checked by mypy."""

    fetch: Fetch
    upsert: Write
    delete: Write | None


def _tenant(change: Change) -> str:
    return str(((change.desired or {}).get("spec") or {}).get("tenant", ""))


def _live_id(change: Change) -> str:
    return str(change.live_id)


HANDLERS: Mapping[str, KindHandler] = {
    "API": KindHandler(
        lambda a: a.fetch_apis(),
        lambda a, c: a.sync_api(c.request(), _tenant(c)),
        lambda a, c: a.delete_api(_live_id(c))),
    "Policy": KindHandler(
        lambda a: a.fetch_policies(),
        lambda a, c: a.upsert_policy(c.request()),
        lambda a, c: a.delete_policy(_live_id(c))),
    "Consumer": KindHandler(
        lambda a: a.fetch_applications(),
        lambda a, c: a.provision_application(c.request()),
        lambda a, c: a.deprovision_application(_live_id(c))),
    "AuthServer": KindHandler(
        lambda a: a.fetch_auth_servers(),
        lambda a, c: a.upsert_auth_server(c.request()),
        lambda a, c: a.delete_auth_server(_live_id(c))),
    "Alias": KindHandler(
        lambda a: a.fetch_aliases(),
        lambda a, c: a.upsert_alias(c.request()),
        lambda a, c: a.delete_alias(_live_id(c))),
    "GatewayConfig": KindHandler(
        lambda a: a.fetch_configs(),
        lambda a, c: a.apply_config(c.request()),
        lambda a, c: a.release_config(_live_id(c))),
    "Strategy": KindHandler(
        lambda a: a.fetch_strategies(),
        lambda a, c: a.upsert_strategy(c.request()),
        lambda a, c: a.delete_strategy(_live_id(c))),
    "Scope": KindHandler(
        lambda a: a.fetch_scopes(),
        lambda a, c: a.upsert_scope(c.request()),
        lambda a, c: a.delete_scope(_live_id(c))),
}
"""Kind -> contract methods. `tests/core/test_schemas_and_registry.py` checks it covers every kind."""
