"""The simulator's token endpoint and bearer-token checks, against the Akeneo reference."""

from __future__ import annotations

import base64

import pytest

from tests.sim.test_pim_support import API, BASIC, FakeClock, get_token, sim

TOKEN = "/api/oauth/v1/token"
UNAUTHORIZED = {"code": 401, "message": "Authentication is required"}


async def test_password_grant_returns_the_documented_shape():
    """The token document has exactly the reference's keys and default lifetime."""
    async with sim(auth=False) as (client, _):
        document = await get_token(client)
    assert ["access_token", "expires_in", "refresh_token", "scope", "token_type"] == sorted(
        document
    )
    assert (3600, "bearer", None) == (
        document["expires_in"],
        document["token_type"],
        document["scope"],
    )


async def test_form_body_is_accepted():
    """The token endpoint also takes application/x-www-form-urlencoded."""
    async with sim(auth=False) as (client, _):
        response = await client.post(
            TOKEN,
            data={"grant_type": "password", "username": "demo", "password": "demo"},
            headers={"Authorization": BASIC},
        )
    assert 200 == response.status_code


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    ("body", "authorization", "message"),
    [
        (
            {"grant_type": "password", "username": "demo", "password": "demo"},
            basic("demo_client", "wrong"),
            'Parameter "client_id" is missing or does not match any client, or secret is invalid',
        ),
        (
            {"grant_type": "password", "username": "demo", "password": "demo"},
            "Basic %%%",
            'Parameter "client_id" is missing or does not match any client, or secret is invalid',
        ),
        (
            {"grant_type": "password", "username": "demo"},
            BASIC,
            'Parameter "grant_type", "username" or "password" is missing, empty or invalid',
        ),
        (
            {"grant_type": "refresh_token"},
            BASIC,
            'Parameter "grant_type" or "refresh_token" is missing or empty',
        ),
        (
            {"grant_type": "client_credentials"},
            BASIC,
            "This grant type is not authorized for this client",
        ),
        (
            {"grant_type": "password", "username": "demo", "password": "nope"},
            BASIC,
            "No user found for the given username and password",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "unknown"},
            BASIC,
            "Refresh token is invalid or has expired",
        ),
    ],
)
async def test_token_errors_are_422_with_the_exact_message(body, authorization, message):
    """Each OAuth2 error maps to a 422 with the message of its grant."""
    async with sim(auth=False) as (client, _):
        response = await client.post(TOKEN, json=body, headers={"Authorization": authorization})
    assert (422, {"code": 422, "message": message}) == (response.status_code, response.json())


async def test_bad_json_and_wrong_content_type():
    """Malformed JSON is a 400 and a text body a 415."""
    async with sim(auth=False) as (client, _):
        bad = await client.post(
            TOKEN,
            content=b"{nope",
            headers={"Authorization": BASIC, "Content-Type": "application/json"},
        )
        text = await client.post(
            TOKEN, content=b"x", headers={"Authorization": BASIC, "Content-Type": "text/plain"}
        )
    assert (400, "Invalid json message received") == (bad.status_code, bad.json()["message"])
    assert 415 == text.status_code


@pytest.mark.parametrize("authorization", [None, "Bearer nope", BASIC])
async def test_resource_calls_need_a_valid_bearer_token(authorization):
    """No token, an unknown token or a Basic header all give the documented 401."""
    async with sim(auth=False) as (client, _):
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.get(f"{API}/asset-families", headers=headers)
    assert (401, UNAUTHORIZED) == (response.status_code, response.json())


async def test_api_root_needs_no_token():
    """GET /api/rest/v1 lists the routes without authentication."""
    async with sim(auth=False) as (client, _):
        response = await client.get(API)
    assert 200 == response.status_code
    assert ["GET", "PATCH"] == response.json()["routes"][f"{API}/asset-families/{{code}}"][
        "methods"
    ]


async def test_token_expires_after_its_ttl():
    """An access token is refused once token_ttl seconds have passed."""
    clock = FakeClock()
    async with sim(clock=clock, token_ttl=60) as (client, _):
        fresh = await client.get(f"{API}/asset-families")
        clock.advance(61)
        stale = await client.get(f"{API}/asset-families")
    assert (200, 401) == (fresh.status_code, stale.status_code)


async def test_refresh_rotates_and_is_single_use():
    """A refresh gives new tokens; reusing the old refresh token is refused."""
    async with sim(auth=False) as (client, app):
        first = await get_token(client)
        body = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = await client.post(TOKEN, json=body, headers={"Authorization": BASIC})
        again = await client.post(TOKEN, json=body, headers={"Authorization": BASIC})
        new = second.json()
        use = await client.get(
            f"{API}/locales", headers={"Authorization": f"Bearer {new['access_token']}"}
        )
    assert 200 == second.status_code
    assert new["access_token"] != first["access_token"]
    assert new["refresh_token"] != first["refresh_token"]
    assert (422, "Refresh token is invalid or has expired") == (
        again.status_code,
        again.json()["message"],
    )
    assert 200 == use.status_code


async def test_refresh_token_expires_after_refresh_ttl():
    """A refresh token older than refresh_ttl is refused."""
    clock = FakeClock()
    async with sim(auth=False, clock=clock, refresh_ttl=100) as (client, _):
        token = await get_token(client)
        clock.advance(101)
        response = await client.post(
            TOKEN,
            json={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            headers={"Authorization": BASIC},
        )
    assert 422 == response.status_code


async def test_expire_tokens_helper_and_app_tokens():
    """/_sim/expire-tokens expires user tokens while seeded app tokens keep working."""
    async with sim({"app_tokens": ["app-token-1"]}) as (client, _):
        expired = await client.post("/_sim/expire-tokens")
        user = await client.get(f"{API}/locales")
        app = await client.get(f"{API}/locales", headers={"Authorization": "Bearer app-token-1"})
    assert ({"expired": 1}, 401, 200) == (expired.json(), user.status_code, app.status_code)
