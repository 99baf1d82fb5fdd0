"""
Per-request work httpx and httpcore repeat for nothing, done once per client instead.

Two costs showed in a CPU profile of a media pass (two requests per asset), both on every
request and both without any effect on what is sent or kept:

- **Cookie extraction.** httpx hands every response to its cookie jar, which first builds a
  ``urllib.request.Request`` (URL parsing, header copies) and only then finds there is no
  ``Set-Cookie`` header. :class:`SetCookieOnly` looks for the header first: a response that sets
  a cookie goes through the jar exactly as before; one that sets none (every PIM and DAM
  answer seen so far) costs one header lookup.
- **The anyio layer.** httpcore reaches asyncio's sockets through anyio: a cancel scope and a
  trip through the event loop per read and per write, and per idle-connection check (before
  each request, after each answer) a rebuilt socket attribute table with a ``getpeername``
  call. :class:`~daemon.upstream.asyncio_streams.AsyncioBackend` gives httpcore streams on
  asyncio's own transports, with the same timeouts, errors and checks.

:func:`tune_client` installs both on a client built by the adapters (the PIM client, the REST
DAM sources). It touches httpx's and httpcore's private attributes, so it checks each one and
leaves a client it does not recognise as it is (a test's ``MockTransport``, another httpx
version): the tuning is a saving, never a requirement.
"""

from __future__ import annotations

import httpx

#: Response headers that can set a cookie (RFC 6265; RFC 2965's obsolete variant).
COOKIE_HEADERS = ("set-cookie", "set-cookie2")


class SetCookieOnly(httpx.Cookies):
    """httpx's cookie store, reading a response only when it sets a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if any(name in headers for name in COOKIE_HEADERS):
            super().extract_cookies(response)


def _tune_transport(transport: object) -> bool:
    """Wrap the network backend of an httpx transport's pool; whether it was done."""
    # httpx imports httpcore when it builds a transport; so do we, once there is one.
    import httpcore

    from daemon.upstream.asyncio_streams import AsyncioBackend

    if not isinstance(transport, httpx.AsyncHTTPTransport):
        return False
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool):
        return False
    if isinstance(backend, AsyncioBackend):
        return True
    if not isinstance(backend, httpcore.AsyncNetworkBackend):
        return False
    pool._network_backend = AsyncioBackend(backend)
    return True


def tune_client(client: httpx.AsyncClient) -> None:
    """
    Install :class:`SetCookieOnly` and :class:`~daemon.upstream.asyncio_streams.AsyncioBackend`
    on ``client``.

    Call it before the client sends anything (connections opened earlier keep their streams).
    What it does not recognise it leaves alone.
    """
    cookies = getattr(client, "_cookies", None)
    if type(cookies) is httpx.Cookies:
        # The same jar: cookies set on the client before or after stay where they were.
        client._cookies = SetCookieOnly(cookies.jar)
    _tune_transport(getattr(client, "_transport", None))
    for transport in getattr(client, "_mounts", {}).values():
        _tune_transport(transport)


__all__ = ["COOKIE_HEADERS", "SetCookieOnly", "tune_client"]
