"""
Request URLs merged onto the client's base URL once, not on every request.

httpx merges a relative URL with the base on every ``build_request``: it parses the URL, then
the merged one again. The PIM's bulk endpoint of a family, its media upload and a DAM's listing
path are requested over and over; their merged URL is kept (query parameters are still merged
per request). Absolute URLs (presigned binary links, each used once) are passed as they are.
"""

from __future__ import annotations

import httpx

#: Distinct relative URLs kept; past it (one URL per asset code) they are merged each time.
MAX_TARGETS = 512


class RequestTargets:
    """
    The absolute URL of each relative request URL of one client, as httpx itself merges it.

    Args:
        client: The client whose ``base_url`` the URLs are relative to.
    """

    __slots__ = ("_base", "_client", "_merged")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._base = client.base_url
        self._merged: dict[str, httpx.URL] = {}

    def __call__(self, url: str) -> httpx.URL | str:
        """
        The URL to pass to ``build_request``.

        Raises:
            httpx.InvalidURL: the URL cannot be parsed (as ``build_request`` would raise).
        """
        if url[:1] != "/" or url[1:2] == "/":
            return url
        if self._client.base_url is not self._base:  # the base was replaced: start again
            self._base = self._client.base_url
            self._merged.clear()
        merged = self._merged.get(url)
        if merged is None:
            merged = self._client.build_request("GET", url).url
            if len(self._merged) < MAX_TARGETS:
                self._merged[url] = merged
        return merged


__all__ = ["MAX_TARGETS", "RequestTargets"]
