"""Kong adapter (DB-less and database mode); see `adapter.py`, `mappers.py` and `dbless.py`."""

from reconciler.model.gateways import GatewayTypeInfo

GATEWAYS = (GatewayTypeInfo(
    name="kong",
    adapter="reconciler.adapters.kong.adapter:KongAdapter",
    emulator="reconciler.emulators.kong:KongEmulator",
    credentials={"token": "token"},
    checks="reconciler.adapters.kong.checks:check",
    options={"protectApis": "add key-auth and acl plugins to managed services (default true)",
             "mode": "dbless or postgres: the mode of the emulator `reconciler demo` starts"},
    rank=10,
    description="Kong (DB-less or database mode)",
),)
