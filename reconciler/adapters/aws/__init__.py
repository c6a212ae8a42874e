"""AWS API Gateway (REST v1) adapter: SigV4 over the shared httpx layer, tags for ownership."""
