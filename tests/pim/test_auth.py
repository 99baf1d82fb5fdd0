"""Authentication: lazy token, proactive and 401 refresh, one refresh for many, App tokens."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from structlog.testing import capture_logs

from daemon.core.errors import PimAuthError, PimProtocolError
from daemon.pim import AppTokenAuth

from .helpers import PASSWORD, SECRET, make_client, password_auth, token_answer

FAMILY = {"code": "packshots", "labels": {}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """A PIM that issues numbered tokens and refuses all but the newest."""

    def __init__(self, *, refresh_status: int = 200, delay: float = 0.0) -> None:
        self.issued = 0
        self.current = ""
        self.grants: list[str] = []
        self.refresh_status = refresh_status
        self.delay = delay
        self.api_calls: list[str] = []
        self.expires_in = 3600

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if request.url.path == "/api/oauth/v1/token":
            body = json.loads(request.content)
            self.grants.append(body["grant_type"])
            if body["grant_type"] == "refresh_token":
                if self.refresh_status != 200:
                    return httpx.Response(
                        422,
                        json={"code": 422, "message": "Refresh token is invalid or has expired"},
                    )
                if body["refresh_token"] != f"refresh{self.issued}":
                    return httpx.Response(422, json={"code": 422, "message": "bad refresh"})
            await asyncio.sleep(self.delay)
            self.issued += 1
            self.current = f"access{self.issued}"
            return token_answer(self.current, f"refresh{self.issued}", self.expires_in)
        token = request.headers.get("authorization", "")
        self.api_calls.append(token)
        await asyncio.sleep(self.delay)
        if token != f"Bearer {self.current}":
            return httpx.Response(401, json={"code": 401, "message": "Authentication is required"})
        return httpx.Response(200, json=FAMILY)


async def test_token_is_fetched_lazily_once():
    """No token request before the first call, and one token for many calls."""
    server = TokenServer()
    client = make_client(server)
    assert [] == server.grants
    async with client:
        for _ in range(3):
            await client.get_asset_family("packshots")
    assert ["password"] == server.grants


async def test_token_is_refreshed_before_expiry():
    """Within refresh_margin of expires_in, the refresh grant runs before the request."""
    server = TokenServer()
    clock = Clock()
    async with make_client(server, auth=password_auth(clock=clock, refresh_margin=60)) as client:
        await client.get_asset_family("packshots")
        clock.now += 3600 - 61
        await client.get_asset_family("packshots")
        assert ["password"] == server.grants
        clock.now += 2
        await client.get_asset_family("packshots")
    assert ["password", "refresh_token"] == server.grants
    assert all(call != "Bearer access1" for call in server.api_calls[2:])


async def test_401_refreshes_then_retries_once():
    """A token revoked server-side is refreshed once and the request succeeds."""
    server = TokenServer()
    async with make_client(server) as client:
        await client.get_asset_family("packshots")
        server.current = "revoked"  # the PIM forgot our token
        # refresh{issued} is still the valid refresh token
        family = await client.get_asset_family("packshots")
    assert "packshots" == family.code
    assert ["password", "refresh_token"] == server.grants
    assert ["Bearer access1", "Bearer access1", "Bearer access2"] == server.api_calls


async def test_concurrent_401s_trigger_one_refresh():
    """Twenty requests rejected together share one refresh."""
    server = TokenServer(delay=0.005)
    async with make_client(server, max_in_flight=20) as client:
        await client.get_asset_family("packshots")
        server.current = "expired"
        families = await asyncio.gather(*(client.get_asset_family("p") for _ in range(20)))
    assert 20 == len(families)
    assert ["password", "refresh_token"] == server.grants


async def test_concurrent_first_requests_trigger_one_login():
    """Many first requests at once share one password grant."""
    server = TokenServer(delay=0.005)
    async with make_client(server) as client:
        await asyncio.gather(*(client.get_asset_family("p") for _ in range(10)))
    assert ["password"] == server.grants


async def test_refresh_422_falls_back_to_password_grant():
    """An expired refresh token (422) leads to a new password grant."""
    server = TokenServer(refresh_status=422)
    async with make_client(server) as client:
        await client.get_asset_family("packshots")
        server.current = "expired"
        await client.get_asset_family("packshots")
    assert ["password", "refresh_token", "password"] == server.grants


async def test_bad_credentials_raise_auth_error_with_akeneo_message():
    """A 422 from the token endpoint is a PimAuthError carrying Akeneo's message."""
    message = "No user found for the given username and password"

    def handler(request):
        return httpx.Response(422, json={"code": 422, "message": message})

    async with make_client(handler) as client:
        with pytest.raises(PimAuthError) as info:
            await client.get_asset_family("packshots")
    assert message in str(info.value)
    assert (422, "/api/oauth/v1/token") == (info.value.status_code, info.value.endpoint)


async def test_app_token_is_sent_and_401_is_an_auth_error():
    """An App token is used as is; a 401 is a PimAuthError without any token request."""
    seen = []

    def handler(request):
        seen.append((request.url.path, request.headers.get("authorization")))
        return httpx.Response(401, json={"code": 401, "message": "Authentication is required"})

    async with make_client(handler, auth=AppTokenAuth("app-token-xyz")) as client:
        with pytest.raises(PimAuthError) as info:
            await client.get_asset_family("packshots")
    assert [("/api/rest/v1/asset-families/packshots", "Bearer app-token-xyz")] == seen
    assert 401 == info.value.status_code
    assert "app-token-xyz" not in str(info.value)


async def test_secrets_never_in_repr_str_logs_or_errors():
    """Secret, password and tokens appear in no repr, log event or error message."""
    server = TokenServer(refresh_status=422)
    app_auth = AppTokenAuth("app-token-xyz")
    with capture_logs() as logs:
        client = make_client(server)
        async with client:
            await client.get_asset_family("packshots")
            server.current = "expired"
            await client.get_asset_family("packshots")
            server.refresh_status = 200

            def refuse(request):
                return httpx.Response(422, json={"code": 422, "message": "nope"})

        bad = make_client(refuse)
        with pytest.raises(PimAuthError) as info:
            await bad.get_asset_family("x")
        await bad.aclose()
    texts = [repr(client), str(client), repr(client.auth), repr(app_auth), repr(client.upstream)]
    texts += [str(info.value), repr(info.value), info.value.body]
    texts += [repr(event) for event in logs]
    assert any(e["event"] == "pim.token_obtained" for e in logs)
    for secret in (SECRET, PASSWORD, "access1", "refresh1", "access2", "app-token-xyz"):
        assert not [t for t in texts if secret in t], secret


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"token_type": "bearer", "refresh_token": "rt-secret-value"}),
        httpx.Response(200, json={"access_token": "at-secret-value", "expires_in": "soon"}),
    ],
)
async def test_unreadable_token_answers_are_protocol_errors_without_body(answer):
    """A token answer of the wrong shape is a PimProtocolError that copies no token."""
    async with make_client(lambda r: answer) as client:
        with pytest.raises(PimProtocolError) as info:
            await client.get_asset_family("packshots")
    assert "/api/oauth/v1/token" == info.value.endpoint
    assert "" == info.value.body
    assert "secret-value" not in str(info.value)
