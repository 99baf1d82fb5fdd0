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

- **A scheduling round trip per lock.** httpcore takes a connection's lock two or three times
  per request (anyio's ``Lock``); uncontended, anyio's lock still yields to the event loop once
  (in a shielded cancel scope) so that other tasks may run. :func:`fast_httpcore_locks` makes
  httpcore create its connection locks with anyio's ``fast_acquire=True``: the same lock, the
  same fairness under contention (waiters are served in order), no yield when it is free. It is
  process-wide (httpcore's module attribute, set once) and only where httpcore and anyio are the
  versions it knows.

:func:`tune_client` installs all three on a client built by the adapters (the PIM client, the REST
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


def fast_httpcore_locks() -> bool:
    """
    Have httpcore's connections take anyio locks with ``fast_acquire=True``; whether it is so.

    Idempotent; leaves httpcore alone when its modules or anyio's lock are not as expected.
    """
    import inspect

    import anyio
    from httpcore import _synchronization
    from httpcore._async import connection, http11

    modules = (connection, http11)
    current = {getattr(module, "AsyncLock", None) for module in modules}
    if len(current) == 1 and _FAST_LOCK and current == {_FAST_LOCK[0]}:
        return True
    if current != {_synchronization.AsyncLock}:
        return False
    if "fast_acquire" not in inspect.signature(anyio.Lock).parameters:
        return False
    if not _FAST_LOCK:
        _FAST_LOCK.append(_fast_lock_class(_synchronization.AsyncLock))
    for module in modules:
        module.AsyncLock = _FAST_LOCK[0]  # type: ignore[attr-defined]
    return True


#: httpcore's lock class with fast acquisition, made by the first :func:`fast_httpcore_locks`.
_FAST_LOCK: list[type] = []


def _fast_lock_class(base: type) -> type:
    import anyio

    class FastAsyncLock(base):  # type: ignore[misc]
        """httpcore's ``AsyncLock``; on asyncio an anyio lock that does not yield when free."""

        def setup(self) -> None:
            super().setup()
            if self._backend == "asyncio":
                self._anyio_lock = anyio.Lock(fast_acquire=True)

    return FastAsyncLock


def tune_client(client: httpx.AsyncClient) -> None:
    """
    Install :class:`SetCookieOnly` and :class:`~daemon.upstream.asyncio_streams.AsyncioBackend`
    on ``client``, and httpcore's fast locks (:func:`fast_httpcore_locks`) once a transport
    was tuned.

    Call it before the client sends anything (connections opened earlier keep their streams).
    What it does not recognise it leaves alone.
    """
    cookies = getattr(client, "_cookies", None)
    if type(cookies) is httpx.Cookies:
        # The same jar: cookies set on the client before or after stay where they were.
        client._cookies = SetCookieOnly(cookies.jar)
    tuned = _tune_transport(getattr(client, "_transport", None))
    for transport in getattr(client, "_mounts", {}).values():
        tuned = _tune_transport(transport) or tuned
    if tuned:
        fast_httpcore_locks()


__all__ = ["COOKIE_HEADERS", "SetCookieOnly", "fast_httpcore_locks", "tune_client"]
