"""
Credentials for the Akeneo API, as :class:`daemon.upstream.policy.UpstreamAuth` implementations.

- :class:`PasswordAuth`: a "Connection" (client id/secret plus API user). The token is fetched
  lazily with the password grant, refreshed with the refresh grant ``refresh_margin`` seconds
  before ``expires_in`` runs out (monotonic clock) and once on a 401. The margin is capped at a
  quarter of the token's lifetime, so a token granted for no longer than the margin (30 s
  against 60 s) still serves most of its life instead of being renewed before every request;
  the first capped token logs the warning ``pim.token_short_lived``. A refresh answered 422
  (refresh token expired or revoked) falls back to the password grant. One ``asyncio.Lock``
  makes concurrent requests share one refresh: a 401 whose rejected token is no longer the
  current one is simply retried with the current one.
- :class:`AppTokenAuth`: a connected App's bearer token; it never expires and cannot be
  refreshed, so a 401 is a :class:`PimAuthError`.

Token requests go through the same :class:`~daemon.upstream.session.Upstream` as every other call
(unauthenticated spec), so they are limited and observed. One made for another request (inside
its attempt) makes a single try: a failure fails that attempt, which the request's own retry
loop counts, so retries never nest. Secrets (secret, password, tokens) never appear in reprs,
logs, error messages or error bodies.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx
import structlog

from daemon.core.errors import FieldError, PimAuthError
from daemon.pim.responses import expect, field_errors, parse_json, protocol_error
from daemon.pim.urls import TOKEN
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream

log = structlog.get_logger(__name__)

TOKEN_ENDPOINT = TOKEN


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and what is needed to renew it; never printed."""

    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    expires_at: float | None
    #: The granted ``expires_in`` in seconds; None when the answer gave none.
    lifetime: float | None = None


def _bearer_header(access: str) -> Mapping[str, str]:
    """The read-only ``Authorization`` header of a token."""
    return MappingProxyType({"Authorization": f"Bearer {access}"})


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The bearer token a request carried (header names are case-insensitive)."""
    for name, value in headers.items():
        if name.lower() == "authorization" and value.startswith("Bearer "):
            return value[len("Bearer ") :]
    return None


class PasswordAuth:
    """
    OAuth2 password grant with refresh, for an Akeneo "Connection".

    Args:
        client_id: The connection's client id.
        secret: The connection's secret.
        username: The API user.
        password: The API user's password.
        refresh_margin: Refresh this many seconds before the token expires, at most a quarter
            of the token's lifetime.
        clock: Monotonic clock in seconds; injected by tests.
    """

    def __init__(
        self,
        *,
        client_id: str,
        secret: str,
        username: str,
        password: str,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.username = username
        self.refresh_margin = refresh_margin
        self._secret = secret
        self._password = password
        self._clock = clock
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._upstream: Upstream | None = None
        self._warned_short_lived = False
        #: The header of the current token, built once per token rather than per request.
        self._headers: tuple[Token, Mapping[str, str]] | None = None
        #: How many tokens were obtained, by grant; for logs and tests.
        self.grants: dict[str, int] = {"password": 0, "refresh_token": 0}

    def __repr__(self) -> str:
        return f"PasswordAuth(client_id={self.client_id!r}, username={self.username!r})"

    def bind(self, upstream: Upstream) -> None:
        """Send token requests through ``upstream`` (the client calls this once)."""
        self._upstream = upstream

    # -- UpstreamAuth -----------------------------------------------------------------------

    async def headers(self) -> Mapping[str, str]:
        """
        The bearer header, fetching or renewing the token first when needed.

        Returns:
            ``{"Authorization": "Bearer ..."}``.
        """
        token = self._token
        if token is None or self._expiring(token):
            async with self._lock:
                token = self._token
                if token is None:
                    token = await self._grant_password()
                elif self._expiring(token):
                    token = await self._renew(token, reason="expiring")
        cached = self._headers
        if cached is None or cached[0] is not token:
            cached = self._headers = (token, _bearer_header(token.access))
        return cached[1]

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """
        A request was answered 401: renew the token unless another task already did.

        Returns:
            True: the request is worth one more try with the current token.
        """
        async with self._lock:
            token = self._token
            if token is None:
                await self._grant_password()
            elif _bearer(rejected) == token.access:
                await self._renew(token, reason="rejected")
            # else: another task renewed it while this request was in flight.
        return True

    # -- grants -----------------------------------------------------------------------------

    def _margin(self, token: Token) -> float:
        """The margin used for ``token``: ``refresh_margin``, at most a quarter of its lifetime."""
        if token.lifetime is None:
            return self.refresh_margin
        return min(self.refresh_margin, max(token.lifetime, 0.0) / 4)

    def _expiring(self, token: Token) -> bool:
        if token.expires_at is None:
            return False
        return self._clock() >= token.expires_at - self._margin(token)

    def _warn_if_short_lived(self, token: Token) -> None:
        """Log once per connection that tokens live too short for the configured margin."""
        margin = self._margin(token)
        if self._warned_short_lived or margin >= self.refresh_margin:
            return
        self._warned_short_lived = True
        log.warning(
            "pim.token_short_lived",
            lifetime=token.lifetime,
            refresh_margin=self.refresh_margin,
            effective_margin=margin,
        )

    async def _renew(self, token: Token, *, reason: str) -> Token:
        if token.refresh is None:
            return await self._grant_password()
        try:
            return await self._grant(
                {"grant_type": "refresh_token", "refresh_token": token.refresh}, reason=reason
            )
        except PimAuthError as exc:
            if exc.status_code != 422:
                raise
            log.info("pim.token_refresh_refused", reason=str(exc), fallback="password")
            return await self._grant_password()

    async def _grant_password(self) -> Token:
        body = {"grant_type": "password", "username": self.username, "password": self._password}
        return await self._grant(body, reason="login")

    async def _grant(self, body: Mapping[str, str], *, reason: str) -> Token:
        if self._upstream is None:
            raise RuntimeError("PasswordAuth is not bound to an upstream")
        basic = base64.b64encode(f"{self.client_id}:{self._secret}".encode()).decode("ascii")
        spec = RequestSpec(
            method="POST",
            url=TOKEN_ENDPOINT,
            endpoint=TOKEN_ENDPOINT,
            headers={"Authorization": f"Basic {basic}"},
            json=dict(body),
            authenticated=False,
        )
        started = self._clock()
        grant = body["grant_type"]

        def handle(response: httpx.Response) -> Token:
            return _read_token(spec, response, started)

        token = await self._upstream.request(spec, handle)
        self._token = token
        self.grants[grant] = self.grants.get(grant, 0) + 1
        log.info(
            "pim.token_obtained",
            grant=grant,
            reason=reason,
            expires_in=None if token.expires_at is None else round(token.expires_at - started),
        )
        self._warn_if_short_lived(token)
        return token


def _read_token(spec: RequestSpec, response: httpx.Response, started: float) -> Token:
    """Read a token answer; errors never carry the body (it may hold tokens)."""
    status = response.status_code
    if status != 200:
        message = f"token request refused (HTTP {status})"
        errors: tuple[FieldError, ...] = ()
        try:
            document: Any = response.json()
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("message"):
            # Akeneo's token errors are {"code": 422, "message": "..."} and hold no secret.
            message = str(document["message"])
            errors = field_errors(document.get("errors"))
        detail = "; ".join(f"{e.property}: {e.message}" for e in errors)
        raise PimAuthError(
            f"{message} ({detail})" if detail else message,
            endpoint=spec.endpoint,
            method=spec.method,
            status_code=status,
        )
    document = expect(
        parse_json(spec, response, keep_body=False), dict, spec, response, "token answer"
    )
    access = document.get("access_token")
    if not isinstance(access, str) or not access:
        raise protocol_error(spec, response, "token answer without access_token", keep_body=False)
    refresh = document.get("refresh_token")
    expires_in = document.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
    ):
        raise protocol_error(spec, response, "token answer: bad expires_in", keep_body=False)
    return Token(
        access=access,
        refresh=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=None if expires_in is None else started + float(expires_in),
        lifetime=None if expires_in is None else float(expires_in),
    )


class AppTokenAuth:
    """
    A connected App's token: no refresh, no expiry; a 401 means it was revoked.

    Args:
        token: The App's access token.
    """

    def __init__(self, token: str) -> None:
        self._headers = _bearer_header(token)

    def __repr__(self) -> str:
        return "AppTokenAuth()"

    async def headers(self) -> Mapping[str, str]:
        """
        The bearer header.

        Returns:
            ``{"Authorization": "Bearer ..."}``.
        """
        return self._headers

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        """
        App tokens cannot be refreshed.

        Returns:
            False, so the 401 becomes a :class:`PimAuthError`.
        """
        log.warning("pim.app_token_refused")
        return False


__all__ = ["TOKEN_ENDPOINT", "AppTokenAuth", "PasswordAuth", "Token"]
