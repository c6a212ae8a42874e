"""Extended manifest kinds (webMethods' extra adapter methods): AuthServer, Strategy, Scope, Alias,
GatewayConfig.

`EXTENDED_MODELS` lists their document models; `models.document_models()` joins them to the core
ones, and the kind table (`reconciler.model.kinds`) orders them (auth servers, aliases and
configuration before APIs; strategies and scopes after).

Each spec binds to gateways like an API (`gateways` and/or `gatewaySelector`). Secrets (client
secrets) are `SecretRef`s: the canonical spec keeps the reference, the runner resolves the value into
`record["secret"][<field>]` at apply time only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.manifests.models import (
    LabelSelector,
    Metadata,
    Name,
    SecretRef,
    Strict,
    unique,
)
from reconciler.model.records import config_name

_URL = r"^https?://[^\s]+$"


class Bound(Strict):
    """Gateway binding shared by every extended kind (same shape as an API's)."""

    gateways: list[Name] = Field(default_factory=list, description="Gateways bound by name.")
    gatewaySelector: LabelSelector | None = Field(default=None, description="Gateways bound by label.")

    @model_validator(mode="after")
    def _bound(self) -> Bound:
        if not self.gateways and self.gatewaySelector is None:
            raise ValueError("bind it to gateways with 'gateways' or 'gatewaySelector'")
        return self


class AuthScope(Strict):
    name: str = Field(min_length=1)
    description: str | None = None


class AuthServerSpec(Bound):
    """An OAuth2 / OIDC authorization server (webMethods alias of type `authServerAlias`)."""

    description: str | None = None
    authServerType: Literal["EXTERNAL", "REMOTE_IS", "LOCAL_IS"] = "EXTERNAL"
    discoveryURL: str | None = Field(default=None, pattern=_URL)
    introspectionURL: str | None = Field(default=None, pattern=_URL)
    clientId: str | None = None
    clientSecret: SecretRef | None = Field(default=None, description="Introspection client secret.")
    scopes: list[AuthScope] = Field(default_factory=list)
    supportedGrantTypes: list[str] = Field(default_factory=list)

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, value: list[AuthScope]) -> list[AuthScope]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError("duplicate scope name")
        return value


class AuthServer(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["AuthServer"]
    metadata: Metadata
    spec: AuthServerSpec


StrategyType = Literal["OAUTH2", "JWT_RSA", "JWT_HSA", "OPENID_CONNECT_RSA", "OPENID_CONNECT_HSA",
                       "OAUTH2_LOCAL_RSA", "OAUTH2_LOCAL_HSA"]


class StrategySpec(Bound):
    """An authentication strategy that applications use against an auth server."""

    description: str | None = None
    type: StrategyType = "OAUTH2"
    authServer: Name = Field(description="Name of the AuthServer this strategy uses.")
    clientId: str | None = None


class Strategy(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["Strategy"]
    metadata: Metadata
    spec: StrategySpec


class RequiredAuthScope(Strict):
    authServer: Name
    scope: str = Field(min_length=1)


class ScopeSpec(Bound):
    """An OAuth scope mapping: auth-server scopes required to call some APIs."""

    description: str | None = None
    audience: str = Field(default="", description="Scope-level audience ('' = none; never omitted).")
    apis: list[Name] = Field(default_factory=list, description="Names of the APIs this scope protects.")
    requiredAuthScopes: list[RequiredAuthScope] = Field(min_length=1)

    @field_validator("apis")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return unique(value, "API")


class Scope(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["Scope"]
    metadata: Metadata
    spec: ScopeSpec


class AliasSpec(Bound):
    """An endpoint alias (a backend URL APIs can refer to) or a simple (value) alias."""

    description: str | None = None
    type: Literal["endpoint", "simple"] = "endpoint"
    endpointUri: str | None = Field(default=None, pattern=_URL)
    connectionTimeout: int | None = Field(default=None, ge=0, le=3600)
    readTimeout: int | None = Field(default=None, ge=0, le=3600)
    passSecurityHeaders: bool | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _fields_match_type(self) -> AliasSpec:
        endpoint_fields = ("endpointUri", "connectionTimeout", "readTimeout", "passSecurityHeaders")
        if self.type == "endpoint":
            if self.endpointUri is None:
                raise ValueError("type endpoint needs 'endpointUri'")
            if self.value is not None:
                raise ValueError("'value' goes with type simple")
        else:
            if self.value is None:
                raise ValueError("type simple needs 'value'")
            for key in endpoint_fields:
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' goes with type endpoint")
        return self


class Alias(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["Alias"]
    metadata: Metadata
    spec: AliasSpec


#: Configuration keys whose GET returns what PUT stored (so a read-back compares equal).
CONFIG_KEYS = (
    "errorProcessing", "loadBalancer", "keystore", "apiCallBackSettings", "whiteListingIPs",
    "customContentTypes", "accountLockSettings", "passwordRestrictions", "passwordExpiry",
    "denyByIPForFailedAuthConfig",
)
ConfigKey = Literal[
    "errorProcessing", "loadBalancer", "keystore", "apiCallBackSettings", "whiteListingIPs",
    "customContentTypes", "accountLockSettings", "passwordRestrictions", "passwordExpiry",
    "denyByIPForFailedAuthConfig",
]


class GatewayConfigSpec(Bound):
    """One gateway configuration document (`PUT /configurations/{key}`), declared whole."""

    key: ConfigKey
    value: dict[str, Any] = Field(description="The complete document for this key, as the gateway returns it.")


class GatewayConfig(Strict):
    apiVersion: Literal["gostoa.dev/v1alpha1"]
    kind: Literal["GatewayConfig"]
    metadata: Metadata
    spec: GatewayConfigSpec

    @model_validator(mode="after")
    def _name_is_key(self) -> GatewayConfig:
        # The gateway stores no name for a configuration: the key is its identity.
        wanted = config_name(self.spec.key)
        if self.metadata.name != wanted:
            raise ValueError(f"a GatewayConfig for key {self.spec.key} must be named {wanted!r}")
        return self


EXTENDED_MODELS: dict[str, type[Strict]] = {
    "AuthServer": AuthServer,
    "Strategy": Strategy,
    "Scope": Scope,
    "Alias": Alias,
    "GatewayConfig": GatewayConfig,
}
