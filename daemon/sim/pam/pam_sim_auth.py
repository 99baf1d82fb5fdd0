"""
The legacy PIM's OAuth2 token endpoint and the bearer check of every API call (§2).

Password and refresh_token grants with Basic client credentials; errors are Akeneo's 422s.
Three users: the API user with every right, one without overall web API access (403
``You are not allowed to access the web API.``) and one without the asset list right (403
``Access forbidden. You are not allowed to list assets.``).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

INVALID_CLIENT = (
    'Parameter "client_id" is missing or does not match any client, or secret is invalid'
)
INVALID_REQUEST = 'Parameter "grant_type", "username" or "password" is missing, empty or invalid'
INVALID_GRANT = "No user found for the given username and password"
INVALID_REFRESH = "Refresh token is invalid or has expired"
NO_API = "You are not allowed to access the web API."
NO_LIST = "Access forbidden. You are not allowed to list assets."
NO_TOKEN = "Authentication is required"
BAD_TOKEN = "The access token provided is invalid."


@dataclass(frozen=True, slots=True)
class SimUser:
    """An API user: ``rights`` holds ``api`` (overall access) and ``asset_list``."""

    username: str
    password: str = field(repr=False)
    rights: frozenset[str] = frozenset({"api", "asset_list"})


CLIENT_ID = "pam_client"
SECRET = "pam_secret"  # the simulator's own demo credentials
USERS = (
    SimUser("admin", "admin"),
    SimUser("no_api", "no_api", frozenset()),
    SimUser("no_list", "no_list", frozenset({"api"})),
)


class SimError(Exception):
    """An Akeneo error answer: ``{"code": status, "message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return JSONResponse({"code": self.status, "message": self.message}, self.status)


@dataclass(slots=True)
class TokenBook:
    """Issued tokens: access token -> user, refresh token -> user (single use)."""

    access: dict[str, SimUser] = field(default_factory=dict)
    refresh: dict[str, SimUser] = field(default_factory=dict)

    def issue(self, user: SimUser) -> dict[str, object]:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access[access] = user
        self.refresh[refresh] = user
        return {
            "access_token": access,
            "expires_in": 3600,
            "token_type": "bearer",
            "scope": None,
            "refresh_token": refresh,
        }

    def expire_all(self) -> int:
        count = len(self.access)
        self.access.clear()
        return count


def _client_ok(request: Request) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return decoded == f"{CLIENT_ID}:{SECRET}"


async def token_endpoint(request: Request) -> Response:
    """``POST /api/oauth/v1/token``: JSON or form body, password or refresh_token grant."""
    book: TokenBook = request.app.state.tokens
    raw = await request.body()
    body: object
    if "json" in request.headers.get("content-type", ""):
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
    else:
        body = dict(parse_qsl(raw.decode("utf-8", errors="replace")))
    if not isinstance(body, dict):
        raise SimError(422, INVALID_REQUEST)
    if not _client_ok(request):
        raise SimError(422, INVALID_CLIENT)
    grant = body.get("grant_type")
    if grant == "password":
        user = next(
            (
                u
                for u in USERS
                if (u.username, u.password) == (body.get("username"), body.get("password"))
            ),
            None,
        )
        if not body.get("username") or not body.get("password"):
            raise SimError(422, INVALID_REQUEST)
        if user is None:
            raise SimError(422, INVALID_GRANT)
    elif grant == "refresh_token":
        user = book.refresh.pop(str(body.get("refresh_token")), None)
        if user is None:
            raise SimError(422, INVALID_REFRESH)
    else:
        raise SimError(422, INVALID_REQUEST)
    return JSONResponse(book.issue(user), headers={"Cache-Control": "no-store"})


def authorize(request: Request, *, right: str | None) -> SimUser:
    """
    The user of the bearer token, checked for overall API access and ``right``.

    Raises:
        SimError: 401 without a valid token, 403 without the rights.
    """
    book: TokenBook = request.app.state.tokens
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise SimError(401, NO_TOKEN)
    user = book.access.get(token.strip())
    if user is None:
        raise SimError(401, BAD_TOKEN)
    if "api" not in user.rights:
        raise SimError(403, NO_API)
    if right is not None and right not in user.rights:
        raise SimError(403, NO_LIST)
    return user


__all__ = [
    "CLIENT_ID",
    "SECRET",
    "USERS",
    "SimError",
    "SimUser",
    "TokenBook",
    "authorize",
    "token_endpoint",
]
