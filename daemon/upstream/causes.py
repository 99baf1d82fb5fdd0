"""
What a failed attempt is called, for the one line an operator reads: the URL it went to, without
secrets, and why no answer came back, in words.

The URL is the origin (scheme, host, port; never userinfo) and the endpoint *template*, never
the request's own path or query string: either may carry an identifier or a credential (an API
key in the query, a signature in a presigned path). The cause is read from the exception chain
httpx builds (``httpx.ConnectError`` ← ``httpcore.ConnectError`` ← the socket or TLS error), so
that "All connection attempts failed" becomes "connection refused".
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

_TIMEOUTS: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "timeout while connecting",
    httpx.ReadTimeout: "timeout waiting for the answer",
    httpx.WriteTimeout: "timeout while sending the request",
    httpx.PoolTimeout: "timeout waiting for a free connection",
}


def request_url(url: httpx.URL, endpoint: str, base: httpx.URL) -> str:
    """
    The URL to name in an error: origin plus endpoint template, no userinfo, no query.

    Args:
        url: The URL the attempt went to.
        endpoint: The endpoint template (``/assets/{id}``) or an endpoint name (``binary``).
        base: The client's base URL; its path prefix comes before a template it resolved.

    Returns:
        ``https://pim.example.com/api/rest/v1/assets/{code}``, or the origin alone when the
        endpoint is a name rather than a path template.
    """
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    origin = f"{url.scheme}://{host}{port}"
    if not endpoint.startswith("/"):
        return origin
    prefix = base.path.rstrip("/")
    on_base = bool(prefix) and (url.scheme, url.host, url.port) == (
        base.scheme,
        base.host,
        base.port,
    )
    return origin + (prefix if on_base and url.path.startswith(prefix + "/") else "") + endpoint


def late_words(seconds: float, key: str) -> str:
    """What an attempt past its deadline says (built only when it happens)."""
    return f"no complete answer within {seconds:g} s (limit: {key})"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transport_cause(exc: httpx.TransportError) -> str:
    """
    Why an attempt got no answer, in words an operator can act on.

    Returns:
        ``connection refused``, ``DNS failure (name not resolved)``, ``TLS failure (...)``,
        ``timeout ...`` (with httpx's class name), or the socket's own words.
    """
    if isinstance(exc, httpx.TimeoutException):
        words = _TIMEOUTS.get(type(exc), "timeout")
        return f"{words} ({type(exc).__name__})"
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS failure (certificate not trusted: {cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            reason = (cause.reason or str(cause)).lower().replace("_", " ")
            return f"TLS failure ({reason})"
        if isinstance(cause, socket.gaierror):
            return "DNS failure (name not resolved)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the HTTP exchange ({exc})"
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return f"connection failed ({cause.strerror.lower()})"
    return f"connection failed ({type(exc).__name__})"


__all__ = ["late_words", "request_url", "transport_cause"]
