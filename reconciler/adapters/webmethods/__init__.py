"""webMethods API Gateway adapter: all 16 methods, the extended kinds and archive export."""

from reconciler.model.gateways import CORE, GatewayTypeInfo

EXTENDED_KINDS = frozenset({"AuthServer", "Strategy", "Scope", "Alias", "GatewayConfig"})

GATEWAYS = (GatewayTypeInfo(
    name="webmethods",
    adapter="reconciler.adapters.webmethods.adapter:WebMethodsAdapter",
    emulator="reconciler.emulators.webmethods:WebMethodsEmulator",
    kinds=CORE | EXTENDED_KINDS,
    credentials={"username": "username", "password": "password"},
    checks="reconciler.adapters.webmethods.adapter:WebMethodsAdapter.check",
    options={"consumerKeys": "'gateway-generated': consumers get the key webMethods generates (a declared key "
                             "cannot be set)",
             "protectApis": "Identify & Authorize lets anonymous calls in when false (default true)"},
    can_export=True,
    rank=12,
    description="Software AG webMethods API Gateway",
),)
