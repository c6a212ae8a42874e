"""AWS API Gateway (REST v1) adapter: SigV4 over the shared httpx layer, tags for ownership."""

from reconciler.model.gateways import GatewayTypeInfo

GATEWAYS = (GatewayTypeInfo(
    name="aws_apigateway",
    adapter="reconciler.adapters.aws.adapter:AwsApiGatewayAdapter",
    emulator="reconciler.emulators.moto:MotoServer",
    credentials={"accessKeyId": "access_key_id", "secretAccessKey": "secret_access_key"},
    checks="reconciler.model.checks:no_checks",
    options={"region": "AWS region", "profile": "named AWS profile", "stage": "stage the APIs are deployed to",
             "deploymentIntervalSeconds": "spacing of CreateDeployment calls (default 5)",
             "apiKeyRequired": "require an API key on managed methods", "requestsPerSecond": "client pacing",
             "operationName": "operation name of managed methods",
             "accountQuotas": "pace the account-level control-plane quotas per operation (default true)",
             "quotaScale": "multiplier of the quota periods (tests against emulators; default 1)",
             "throttleRetrySeconds": "how long a throttled call is retried (default 120)",
             "throttleRetries": "attempts per write call (default 8)",
             "readConcurrency": "per-API and per-plan reads in flight at once (default 10; still paced)"},
    rank=14,
    description="AWS API Gateway",
),)
