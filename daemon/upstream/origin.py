"""
The one origin check: where an upstream's credentials may go.

Credentials (a bearer token, an API key header or query parameter, basic auth) belong to one
origin, the (scheme, host, port) of the configured base URL, as browsers decide (RFC 6454).
Comparing hosts alone is not enough: the same host on another port is another service, and
``https`` -> ``http`` on the same host sends the token in clear. Default ports are normalised
(``https://dam:443`` is ``https://dam``). The PIM and every DAM source use these functions;
nothing else decides whether credentials go with a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import httpx

#: The port a URL without one means.
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """A URL's scheme, host and port, normalised (lowercase, default port filled in)."""

    scheme: str
    host: str
    port: int | None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@lru_cache(maxsize=64)
def base_url(text: str) -> httpx.URL:
    """A configured base URL, parsed once (``httpx.URL`` is immutable, so it is shared)."""
    return httpx.URL(text)


def origin_of(url: httpx.URL | str) -> Origin:
    """
    The origin of an absolute URL.

    Args:
        url: The URL (a relative one has an empty host and matches no absolute origin).

    Returns:
        Its normalised origin.
    """
    parsed = httpx.URL(url) if isinstance(url, str) else url
    scheme = parsed.scheme.lower()
    return Origin(scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS.get(scheme))


def same_origin(base: httpx.URL | str, target: httpx.URL | str) -> bool:
    """
    Whether ``target`` (resolved against ``base``) is on ``base``'s origin.

    Args:
        base: The configured base URL the credentials belong to.
        target: An absolute or relative URL (a relative one is resolved against ``base``).

    Returns:
        True only when scheme, host and port are all equal.
    """
    if isinstance(target, str) and _is_local_path(target):
        return True  # what the join below finds, without parsing two URLs per request
    base_url = httpx.URL(base) if isinstance(base, str) else base
    parsed = httpx.URL(target) if isinstance(target, str) else target
    if parsed.is_absolute_url:
        return origin_of(base_url) == origin_of(parsed)  # joined, it keeps its own origin
    return origin_of(base_url) == origin_of(base_url.join(parsed))


def _is_local_path(target: str) -> bool:
    """An absolute path (``/x``, not ``//host/x``): resolved on the base, it keeps its origin."""
    return target[:1] == "/" and target[1:2] != "/" and target.isprintable()


def rebase(base: httpx.URL | str, href: str) -> httpx.URL:
    """
    A link's path and query moved onto ``base``'s origin (a proxy may print an internal host).

    Returns:
        The URL to request: always on ``base``'s origin, whatever origin ``href`` names.
    """
    base_url = httpx.URL(base) if isinstance(base, str) else base
    return base_url.copy_with(raw_path=httpx.URL(href).raw_path)


__all__ = ["DEFAULT_PORTS", "Origin", "base_url", "origin_of", "rebase", "same_origin"]
