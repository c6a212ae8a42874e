"""Apigee X / hybrid adapter: generated proxy bundles, API products, developer apps, label ownership."""

from reconciler.model.gateways import GatewayTypeInfo

GATEWAYS = (GatewayTypeInfo(
    name="apigee",
    adapter="reconciler.adapters.apigee.adapter:ApigeeAdapter",
    emulator="reconciler.emulators.apigee:ApigeeEmulator",
    credentials={"token": "token"},
    checks="reconciler.model.checks:no_checks",
    options={"organization": "Apigee organization", "environment": "environment the proxies are deployed to",
             "developerEmail": "developer that owns the managed apps", "verifyApiKey": "add VerifyAPIKey to bundles"},
    rank=13,
    description="Google Apigee",
),)
