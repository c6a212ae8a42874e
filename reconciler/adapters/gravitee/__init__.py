"""Gravitee APIM 4.x adapter (Management API v2, applications through v1)."""

from reconciler.model.gateways import GatewayTypeInfo

GATEWAYS = (GatewayTypeInfo(
    name="gravitee",
    adapter="reconciler.adapters.gravitee.adapter:GraviteeAdapter",
    emulator="reconciler.emulators.gravitee:GraviteeEmulator",
    credentials={"username": "username", "password": "password"},
    checks="reconciler.adapters.gravitee.adapter:GraviteeAdapter.check",
    options={"organization": "organization id (default DEFAULT)", "environment": "environment id (default DEFAULT)"},
    rank=11,
    description="Gravitee APIM v4",
),)
