"""Gravitee APIM 4.x adapter (Management API v2, applications through v1)."""
