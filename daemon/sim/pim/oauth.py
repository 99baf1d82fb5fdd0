"""
The PIM simulator's OAuth2 token endpoint (``POST /api/oauth/v1/token``).

Basic client credentials; JSON or form body; ``password`` and ``refresh_token`` grants; every
OAuth2 error is a 422 with the exact Akeneo message for the grant. Refresh tokens are single
use: each refresh returns a new access token and a new refresh token.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.http_errors import ApiError, media_type, parse_json
from daemon.sim.pim.state import PimState, User

INVALID_CLIENT = (
    'Parameter "client_id" is missing or does not match any client, or secret is invalid'
)
UNAUTHORIZED_CLIENT = "This grant type is not authorized for this client"
INVALID_REQUEST = {
    "password": 'Parameter "grant_type", "username" or "password" is missing, empty or invalid',
    "refresh_token": 'Parameter "grant_type" or "refresh_token" is missing or empty',
}
INVALID_GRANT = {
    "password": "No user found for the given username and password",
    "refresh_token": "Refresh token is invalid or has expired",
}
FORM_TYPE = "application/x-www-form-urlencoded"


def _client(request: Request, state: PimState) -> User | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return next((u for u in state.users if u.client_id == client_id and u.secret == secret), None)


async def _body(request: Request) -> dict[str, Any]:
    kind = media_type(request)
    raw = await request.body()
    if kind == FORM_TYPE:
        return dict(parse_qsl(raw.decode("utf-8", errors="replace")))
    if kind != "application/json":
        shown = request.headers.get("content-type", "")
        raise ApiError(
            415,
            f"'{shown}' in 'Content-type' header is not valid.  Only 'application/json' is "
            "allowed.",
        )
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiError(422, INVALID_REQUEST["password"])
    return body


async def token_endpoint(request: Request) -> Response:
    """
    Issue tokens for the password and refresh_token grants.

    Args:
        request: the token request.

    Returns:
        200 with the token document, or the documented 400/415/422.
    """
    state: PimState = request.app.state.pim
    options = request.app.state.sim.options
    body = await _body(request)
    grant = body.get("grant_type")
    if not isinstance(grant, str) or not grant:
        raise ApiError(422, INVALID_REQUEST["password"])
    user = _client(request, state)
    if user is None:
        raise ApiError(422, INVALID_CLIENT)
    if grant not in INVALID_REQUEST:
        raise ApiError(422, UNAUTHORIZED_CLIENT)
    if grant == "password":
        username, password = body.get("username"), body.get("password")
        if (
            not isinstance(username, str)
            or not username
            or not isinstance(password, str)
            or (not password)
        ):
            raise ApiError(422, INVALID_REQUEST[grant])
        if (username, password) != (user.username, user.password):
            raise ApiError(422, INVALID_GRANT[grant])
    else:
        refresh = body.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise ApiError(422, INVALID_REQUEST[grant])
        if not state.take_refresh_token(refresh, user.client_id):
            raise ApiError(422, INVALID_GRANT[grant])
    access, refresh_token = state.issue_tokens(
        user.client_id, options.token_ttl, options.refresh_ttl
    )
    return JSONResponse(
        {
            "access_token": access,
            "expires_in": options.token_ttl,
            "token_type": "bearer",
            "scope": None,
            "refresh_token": refresh_token,
        },
        headers={"Cache-Control": "no-store"},
    )
