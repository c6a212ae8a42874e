"""SigV4 signing for httpx, delegated to botocore's signer (no hand-rolled crypto).

Credentials come from the adapter's resolved `auth` (access_key_id / secret_access_key) when given,
else from botocore's default chain (AWS_* environment variables, shared profile, instance role).
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import Session

#: Headers botocore adds when signing; copied onto the httpx request.
_SIGNED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")


def resolve_credentials(access_key_id: str | None, secret_access_key: str | None,
                        session_token: str | None = None, profile: str | None = None) -> Credentials | None:
    """Explicit keys win; otherwise botocore's default provider chain (may be None)."""
    if access_key_id and secret_access_key:
        return Credentials(access_key_id, secret_access_key, session_token)
    session = Session(profile=profile) if profile else Session()
    found = session.get_credentials()
    return None if found is None else found.get_frozen_credentials()


class SigV4HttpxAuth(httpx.Auth):
    """An httpx.Auth that signs each request (body included) for one service and region."""

    requires_request_body = True

    def __init__(self, credentials: Credentials, region: str, service: str = "apigateway") -> None:
        self._signer = SigV4Auth(credentials, service, region)

    def sign(self, request: httpx.Request) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("connection", "user-agent",
                                                                                  "accept-encoding")}
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        self._signer.add_auth(aws)
        for name in _SIGNED:
            value = aws.headers.get(name)
            if value is not None:
                request.headers[name] = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request
