"""Pydantic v2 models of the desired-state documents: the single source of truth.

`schemas/*.json` are generated from these models (`reconciler schema --write`), and a test fails when
the checked-in files drift from them. Every document is Kubernetes-shaped: apiVersion, kind,
metadata (name, labels), spec.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from reconciler.model.gateways import gateway_types

API_VERSION = "gostoa.dev/v1alpha1"

#: Names are DNS-1123 labels: lowercase, digits, '-', no dots. Adapters rely on the absence of dots
#: to encode ownership in gateway ids (`<owner>.<name>`), so this pattern is part of the contract.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=63)]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]?$")]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


T = TypeVar("T")


def unique(values: list[T], what: str) -> list[T]:
    """Validator body for lists whose entries must not repeat (methods, subscriptions, APIs)."""
    if len(set(values)) != len(values):
        raise ValueError(f"duplicate {what}")
    return values


class Strict(BaseModel):
    """Base: unknown fields are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metadata(Strict):
    name: Name = Field(description="Unique per kind. DNS-1123 label (lowercase, digits, '-').")
    labels: dict[str, LabelValue] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


def _gateway_type_enum() -> type[StrEnum]:
    """`spec.gatewayType`'s values come from the gateway-type table (entry points), in listing order."""
    names = list(gateway_types())
    enum = StrEnum("GatewayType", {name.upper(): name for name in names})  # type: ignore[misc]
    enum.__doc__ = "Every gateway type of STOA's Control Plane."
    enum.__module__ = __name__
    return enum


if TYPE_CHECKING:
    class GatewayType(StrEnum):
        """Every gateway type of STOA's Control Plane (built at import time from the table)."""
else:
    GatewayType = _gateway_type_enum()


class SecretRef(Strict):
    """A reference to a secret: an environment variable or a file. Never a literal value."""

    env: EnvVarName | None = Field(default=None, description="Name of an environment variable.")
    file: str | None = Field(default=None, description="Path of a file (absolute, or relative to the repo).")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("set exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"


class GatewayCredentials(Strict):
    """How the reconciler authenticates to a gateway's admin API. References only."""

    token: SecretRef | None = Field(default=None, description="Bearer / admin token (STOA, Kong, Apigee).")
    username: SecretRef | None = Field(default=None, description="Basic-auth user (Gravitee, webMethods).")
    password: SecretRef | None = Field(default=None, description="Basic-auth password.")
    accessKeyId: SecretRef | None = Field(default=None, description="AWS access key id (else AWS defaults).")
    secretAccessKey: SecretRef | None = Field(default=None, description="AWS secret access key.")

    @model_validator(mode="before")
    @classmethod
    def _no_literals(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str | int | float):
                    raise ValueError(
                        f"{key}: literal credentials are not allowed; use {{env: VAR}} or {{file: PATH}}"
                    )
        return data


class GatewaySpec(Strict):
    displayName: str = Field(min_length=1)
    gatewayType: GatewayType
    environment: str = Field(min_length=1)
    baseUrl: AnyHttpUrl
    capabilities: list[str] = Field(default_factory=list)
    credentials: GatewayCredentials = Field(default_factory=GatewayCredentials)
    options: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="Gateway-specific settings (e.g. region, organization, environment id).",
    )
    prune: bool | None = Field(default=None, description="Override the repo-level prune setting.")
    suspend: bool = Field(
        default=False,
        description="Pause reconciliation (Flux's spec.suspend): the daemon still detects and reports drift "
                    "but applies nothing; `reconciler plan/apply` skip the gateway unless --gateway names it.",
    )


class GatewayInstance(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["GatewayInstance"]
    metadata: Metadata
    spec: GatewaySpec


class LabelSelector(Strict):
    matchLabels: dict[str, str] = Field(min_length=1)


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"


class ApiSpec(Strict):
    displayName: str | None = None
    description: str | None = None
    tenant: Name
    version: str = Field(min_length=1, max_length=64)
    basePath: str = Field(description="Path prefix the gateway routes, e.g. /pets.")
    backend: AnyHttpUrl = Field(description="Upstream URL.")
    methods: list[HttpMethod] = Field(default_factory=lambda: [HttpMethod.GET, HttpMethod.POST,
                                                               HttpMethod.PUT, HttpMethod.DELETE])
    openapi: str | None = Field(default=None, description="OpenAPI document, path relative to this file.")
    gateways: list[Name] = Field(default_factory=list, description="Gateways bound by name.")
    gatewaySelector: LabelSelector | None = Field(default=None, description="Gateways bound by label.")

    @field_validator("basePath")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9._~\-/{}]*", value) or "//" in value:
            raise ValueError("must start with '/' and contain only URL path characters")
        return value.rstrip("/") or "/"

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, value: list[HttpMethod]) -> list[HttpMethod]:
        unique(value, "method")
        if not value:
            raise ValueError("at least one method")
        return value

    @model_validator(mode="after")
    def _bound(self) -> ApiSpec:
        if not self.gateways and self.gatewaySelector is None:
            raise ValueError("bind the API to gateways with 'gateways' or 'gatewaySelector'")
        return self


class API(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["API"]
    metadata: Metadata
    spec: ApiSpec


class RateLimitPeriod(StrEnum):
    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class RateLimitConfig(Strict):
    requests: int = Field(gt=0, le=1_000_000_000, description="Requests allowed per period.")
    period: RateLimitPeriod = RateLimitPeriod.MINUTE


class CorsConfig(Strict):
    origins: list[str] = Field(min_length=1)
    methods: list[HttpMethod] = Field(default_factory=lambda: [HttpMethod.GET, HttpMethod.POST])
    headers: list[str] = Field(default_factory=list)
    exposeHeaders: list[str] = Field(default_factory=list)
    credentials: bool = False
    maxAge: int = Field(default=3600, ge=0, le=86400)


class PolicyType(StrEnum):
    RATE_LIMIT = "rate_limit"
    CORS = "cors"


class PolicySpec(Strict):
    api: Name = Field(description="Name of the API this policy is attached to.")
    type: PolicyType
    rateLimit: RateLimitConfig | None = None
    cors: CorsConfig | None = None

    @model_validator(mode="after")
    def _config_matches_type(self) -> PolicySpec:
        wanted = {"rate_limit": "rateLimit", "cors": "cors"}[self.type.value]
        for key in ("rateLimit", "cors"):
            present = getattr(self, key) is not None
            if key == wanted and not present:
                raise ValueError(f"type {self.type.value} needs '{key}'")
            if key != wanted and present:
                raise ValueError(f"'{key}' does not go with type {self.type.value}")
        return self


class Policy(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["Policy"]
    metadata: Metadata
    spec: PolicySpec


class ApiKeyCredential(Strict):
    type: Literal["apiKey"] = "apiKey"
    secretRef: SecretRef


class ConsumerSpec(Strict):
    displayName: str | None = None
    email: str | None = None
    credential: ApiKeyCredential
    subscriptions: list[Name] = Field(default_factory=list, description="Names of APIs subscribed to.")

    @field_validator("subscriptions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return unique(value, "subscription")


class Consumer(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["Consumer"]
    metadata: Metadata
    spec: ConsumerSpec


class IgnoreRule(Strict):
    """Fields the diff skips: `fields` are dotted paths inside the canonical spec (glob on names)."""

    kind: str = "*"
    name: str = "*"
    gateway: str = "*"
    fields: list[str] = Field(min_length=1)


class SettingsSpec(Strict):
    owner: Name = Field(description="Owner id written on every managed object (ownership marker).")
    prune: bool = Field(default=True, description="Delete owned objects that are no longer declared.")
    maxDeletes: int = Field(default=10, ge=-1, le=1_000_000, strict=True,
                            description="Abort a plan with more deletes than this (-1: no limit).")
    ignore: list[IgnoreRule] = Field(default_factory=list)


class ReconcilerSettings(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["ReconcilerSettings"]
    metadata: Metadata | None = None
    spec: SettingsSpec


#: kind name -> document model of the core kinds (`reconciler.manifests.documents` adds the extended ones).
CORE_MODELS: dict[str, type[BaseModel]] = {
    "GatewayInstance": GatewayInstance,
    "API": API,
    "Policy": Policy,
    "Consumer": Consumer,
    "ReconcilerSettings": ReconcilerSettings,
}
