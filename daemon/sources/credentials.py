"""
Credentials for REST sources, as :class:`daemon.upstream.policy.UpstreamAuth` implementations.

Static schemes (bearer token, API key header, HTTP basic) only add headers; OAuth2 client
credentials fetch a token lazily, cache it until ``refresh_margin`` seconds before expiry and
fetch a new one once when the DAM answers 401. An API key in the query string is not a header:
the REST source adds it to each request's parameters (see :func:`query_credentials`).
Both kinds go only to the DAM's origin (scheme, host and port): the shared upstream refuses to
attach them to any other (:func:`daemon.upstream.origin.same_origin`), whoever asks.
Nothing here ever puts a secret in a repr, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from daemon.core.errors import SourceAuthError
from daemon.settings.dam_sources import AuthSettings
from daemon.upstream.policy import RequestSpec, UpstreamAuth
from daemon.upstream.session import Upstream, read_json


class StaticAuth:
    """Fixed headers; a 401 is final."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"StaticAuth(headers={sorted(self._headers)!r})"

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        return False


class OAuth2ClientCredentials:
    """
    OAuth2 client-credentials grant with a cached token.

    Args:
        settings: ``token_url``, ``client_id``, ``client_secret``, ``scope``, ``refresh_margin``.
        clock: Monotonic seconds, injected for tests.
    """

    def __init__(self, settings: AuthSettings, clock: Callable[[], float] = time.monotonic):
        assert settings.token_url and settings.client_id and settings.client_secret
        self._settings = settings
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._upstream: Upstream | None = None
        self.fetched = 0

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self._settings.token_url!r})"

    def bind(self, upstream: Upstream) -> None:
        """
        Use this upstream's client, limiter and retry policy for token requests; one made inside
        another request's attempt makes a single try (the upstream never nests retries).
        """
        self._upstream = upstream

    async def _fetch(self) -> None:
        assert self._upstream is not None, "bind() first"
        s = self._settings
        assert s.client_secret is not None and s.client_id is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
        }
        if s.scope:
            form["scope"] = s.scope
        spec = RequestSpec(
            method="POST",
            url=str(s.token_url),
            endpoint="oauth2-token",
            data=form,
            authenticated=False,
        )
        upstream = self._upstream

        def handle(response: httpx.Response) -> Any:
            if response.status_code in (400, 401, 403):
                raise SourceAuthError(
                    "token request refused",
                    endpoint=spec.endpoint,
                    method="POST",
                    status_code=response.status_code,
                )
            if response.status_code >= 300:
                raise upstream.protocol_error(spec, response, "unexpected token answer")
            return read_json(upstream, spec, response)

        body = await upstream.request(spec, handle)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceAuthError("token answer has no access_token", endpoint=spec.endpoint)
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token = token
        self._expires = self._clock() + max(0.0, lifetime - s.refresh_margin)
        self.fetched += 1

    async def headers(self) -> Mapping[str, str]:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires:
                await self._fetch()
        return {"Authorization": f"Bearer {self._token}"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        async with self._lock:
            # Another task may already have replaced the token that was refused.
            if rejected.get("authorization") == f"Bearer {self._token}":
                self._token = None
            return True


def build_auth(settings: AuthSettings) -> UpstreamAuth | None:
    """
    The header-based credentials for ``settings``.

    Returns:
        An :class:`UpstreamAuth`, or ``None`` for ``none`` and ``api_key_query``.
    """
    kind = settings.type
    if kind == "bearer":
        assert settings.token is not None
        return StaticAuth({"Authorization": f"Bearer {settings.token.get_secret_value()}"})
    if kind == "api_key_header":
        assert settings.api_key is not None
        return StaticAuth({settings.header: settings.api_key.get_secret_value()})
    if kind == "basic":
        assert settings.password is not None
        pair = f"{settings.username}:{settings.password.get_secret_value()}".encode()
        return StaticAuth({"Authorization": "Basic " + base64.b64encode(pair).decode()})
    if kind == "oauth2":
        return OAuth2ClientCredentials(settings)
    return None


def query_credentials(settings: AuthSettings) -> dict[str, str]:
    """The query parameters that authenticate (``api_key_query``), else nothing."""
    if settings.type == "api_key_query":
        assert settings.api_key is not None
        return {settings.query_param: settings.api_key.get_secret_value()}
    return {}


__all__ = ["OAuth2ClientCredentials", "StaticAuth", "build_auth", "query_credentials"]
