"""Shared helpers for the PIM client tests: a MockTransport with a token endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from daemon.pim import PasswordAuth, PimClient
from daemon.upstream.policy import RetryPolicy

SECRET = "s3cr3t-client-secret"
PASSWORD = "p4ssw0rd-of-api-user"
ACCESS = "NzFiYTM4ZTEwMjcwZTcyZWIzZTA0NmY3NjE3MTIyMjM1Y2NlMmNlNWEyMTAzY2UzYmY0YWIxYmUzNTkyMDcyNQ"
REFRESH = "MDk2ZmIwODBkYmE3YjNjZWQ4ZTk2NTk2N2JmNjkyZDQ4NzA3YzhiZDQzMjJjODI5MmQ4ZmYxZjlkZmU1ZDNkMQ"
FAST = RetryPolicy(attempts=3, deadline=10, wait_initial=0.0, wait_max=0.0, retry_after_max=0.01)

Handler = Callable[[httpx.Request], httpx.Response]


def token_answer(
    access: str = ACCESS, refresh: str = REFRESH, expires_in: int = 3600
) -> httpx.Response:
    """The documented token response."""
    return httpx.Response(
        200,
        json={
            "access_token": access,
            "expires_in": expires_in,
            "token_type": "bearer",
            "scope": None,
            "refresh_token": refresh,
        },
    )


class Recorder:
    """Records every request and answers the token endpoint itself."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.tokens: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == "/api/oauth/v1/token":
            self.tokens.append(json.loads(request.content))
            return token_answer()
        return self.handler(request)

    @property
    def api(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/api/oauth/v1/token"]


async def no_sleep(_: float) -> None:
    return None


def password_auth(**kw: Any) -> PasswordAuth:
    return PasswordAuth(
        client_id="client_1", secret=SECRET, username="api_user", password=PASSWORD, **kw
    )


def make_client(handler: Any, *, auth: Any = None, **kw: Any) -> PimClient:
    """A client over MockTransport, with fast retries and no real sleeps."""
    kw.setdefault("retry", FAST)
    return PimClient(
        "http://pim.test",
        auth=auth or password_auth(),
        transport=httpx.MockTransport(handler),
        sleep=no_sleep,
        **kw,
    )


def json_answer(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)
