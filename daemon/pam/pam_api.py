"""
API mode: the legacy PAM REST API of a running 2.1-3.2 EE PIM (``pam-migration.md`` §3.6).

One :class:`~daemon.upstream.session.Upstream` carries every call (timeouts, retries on 5xx,
429 and network errors, answers read up to ``max_body_bytes``, credentials only on the
configured origin). Assets are listed with ``search_after`` pagination (100 per page, one page
in memory), following ``_links.next.href`` moved onto the configured origin (a proxy may print
an internal host). Each item becomes a :class:`PamAsset` (:mod:`daemon.pam.pam_parse`). Files
are downloaded one at a time, streamed to disk and hashed on the way, following each entry's
``_link.download.href``; a ``no-locale`` link refused as an unknown locale is tried once with the
pre-release spelling ``no_locale`` (§3.4).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from daemon.core.errors import (
    SourceAssetError,
    SourceAuthError,
    SourceProtocolError,
    SourceUnavailable,
)
from daemon.pam.pam_parse import parse_asset, parse_category
from daemon.pam.pam_records import PamCategory, PamFile, PamRead
from daemon.upstream.origin import rebase
from daemon.upstream.policy import (
    AttemptLimits,
    ErrorKinds,
    HttpTimeouts,
    RequestObserver,
    RequestSpec,
    RetryPolicy,
    UpstreamAuth,
)
from daemon.upstream.session import Upstream, read_json

ASSETS = "/api/rest/v1/assets"
CATEGORIES = "/api/rest/v1/asset-categories"
TAGS = "/api/rest/v1/asset-tags"
REFERENCE_DOWNLOAD = "/api/rest/v1/assets/{code}/reference-files/{locale}/download"
VARIATION_DOWNLOAD = "/api/rest/v1/assets/{code}/variation-files/{channel}/{locale}/download"
PAGE_LIMIT = 100
PAM_ERRORS = ErrorKinds(
    unavailable=SourceUnavailable,
    throttled=SourceUnavailable,
    auth=SourceAuthError,
    protocol=SourceProtocolError,
)
UNKNOWN_NO_LOCALE = 'Locale "no-locale" does not exist or is not activated.'
FILENAME = re.compile(r'filename="([^"]*)"')


def pam_upstream(
    base_url: str,
    auth: UpstreamAuth,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    limits: AttemptLimits | None = None,
    observer: RequestObserver | None = None,
) -> Upstream:
    """
    The upstream of a legacy PIM (the caller binds ``auth`` to it if it fetches tokens).

    Returns:
        A new upstream; the caller closes it.
    """
    client = httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=HttpTimeouts().to_httpx(),
        transport=transport,
        follow_redirects=False,
    )
    return Upstream(
        "pam",
        client,
        PAM_ERRORS,
        retry=retry,
        auth=auth,
        observer=observer,
        limits=limits or AttemptLimits(key="pam.http"),
    )


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A file streamed to disk: where, its original name, type, size and SHA-256."""

    path: Path
    original_name: str | None
    mime_type: str | None
    size: int
    checksum: str


class PamApi:
    """
    The legacy PAM API reader.

    Args:
        upstream: From :func:`pam_upstream`.
        page_limit: Items per page (the API caps it at 100).
    """

    def __init__(self, upstream: Upstream, *, page_limit: int = PAGE_LIMIT) -> None:
        self.upstream = upstream
        self.page_limit = page_limit

    def __repr__(self) -> str:
        return f"PamApi({self.upstream!r})"

    async def _pages(self, path: str, endpoint: str, params: dict[str, str]) -> AsyncIterator[Any]:
        """Each page's items, following ``next`` links; one page in memory."""
        url: str | httpx.URL = path
        query: dict[str, str] | None = params
        previous = ""
        while True:
            spec = RequestSpec(
                "GET", str(url), endpoint, params=query, headers={"Accept": "application/json"}
            )
            document = await self.upstream.request(spec, self._reader(spec))
            yield document["_embedded"]["items"]
            href = document.get("_links", {}).get("next", {}).get("href")
            if not isinstance(href, str) or not href:
                return
            url, query = rebase(self.upstream.client.base_url, href), None
            # The page just read again would loop for ever (kept: one URL, memory stays flat).
            if str(url) == previous:
                raise SourceProtocolError(
                    "the next link repeats the page just read", endpoint=endpoint, method="GET"
                )
            previous = str(url)

    def _reader(self, spec: RequestSpec) -> Callable[[httpx.Response], dict[str, Any]]:
        def handle(response: httpx.Response) -> dict[str, Any]:
            return self._page(spec, response)

        return handle

    def _page(self, spec: RequestSpec, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            error = SourceAuthError if response.status_code in (401, 403) else SourceProtocolError
            raise error(
                _message(response),
                endpoint=spec.endpoint,
                method="GET",
                status_code=response.status_code,
            )
        document = read_json(self.upstream, spec, response)
        items = document.get("_embedded", {}).get("items") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise self.upstream.protocol_error(spec, response, "a page without _embedded.items")
        _release_body(response)
        return document  # type: ignore[no-any-return]

    async def assets(self) -> AsyncIterator[PamRead]:
        """Every asset, sorted by code, one page in memory (§3.3 ``search_after``)."""
        params = {"pagination_type": "search_after", "limit": str(self.page_limit)}
        number = 0
        async for items in self._pages(ASSETS, ASSETS, params):
            for item in items:
                number += 1
                yield parse_asset(item, f"asset #{number} of the API listing")

    async def categories(self) -> AsyncIterator[PamCategory]:
        """Every asset category (page pagination), for the option labels."""
        params = {"limit": str(self.page_limit)}
        async for items in self._pages(CATEGORIES, CATEGORIES, params):
            for item in items:
                category = parse_category(item)
                if category is not None:
                    yield category

    async def tags(self) -> AsyncIterator[str]:
        """Every tag code (page pagination)."""
        async for items in self._pages(TAGS, TAGS, {"limit": str(self.page_limit)}):
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("code"), str):
                    yield item["code"]

    async def download(self, asset: str, file: PamFile, destination: Path) -> Downloaded:
        """
        Stream one file to ``destination``, hashing it on the way.

        Raises:
            SourceAssetError: the PIM has no binary for it (404), or refuses it (4xx): this
                file is skipped, the migration goes on.
            SourceError: transient failures after the retries, or an unreadable answer.
        """
        if file.url is None:
            raise SourceAssetError(
                asset_id=asset, field="file", path=file.key, reason="no download link"
            )
        url = rebase(self.upstream.client.base_url, file.url)
        endpoint = VARIATION_DOWNLOAD if "/variation-files/" in url.path else REFERENCE_DOWNLOAD
        try:
            return await self._download(asset, file, str(url), endpoint, destination)
        except _NoLocaleRefused:
            fallback = str(url).replace("/no-locale/download", "/no_locale/download")
            return await self._download(asset, file, fallback, endpoint, destination)

    async def _download(
        self, asset: str, file: PamFile, url: str, endpoint: str, destination: Path
    ) -> Downloaded:
        spec = RequestSpec("GET", url, endpoint)
        async with self.upstream.stream(spec) as response:
            if response.status_code != 200:
                message = _message(response)
                if message == UNKNOWN_NO_LOCALE and "/no-locale/" in url:
                    raise _NoLocaleRefused
                if response.status_code in (401, 403):
                    raise SourceAuthError(
                        message, endpoint=endpoint, method="GET", status_code=response.status_code
                    )
                raise SourceAssetError(
                    asset_id=asset,
                    field="file",
                    path=file.key,
                    reason=f"HTTP {response.status_code}: {message}",
                )
            digest, size = hashlib.sha256(), 0
            with destination.open("wb") as handle:
                async for chunk in response.aiter_bytes():
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            found = FILENAME.search(response.headers.get("content-disposition", ""))
            return Downloaded(
                path=destination,
                original_name=found.group(1) if found else None,
                mime_type=response.headers.get("content-type"),
                size=size,
                checksum=digest.hexdigest(),
            )


def _release_body(response: httpx.Response) -> None:
    """
    Drop a parsed page's body (issue 18: memory stays flat whatever the number of assets).

    httpx's request, response and stream objects refer to each other: a response is freed only
    by a full pass of the cyclic garbage collector, which a listing seldom triggers (each page
    leaves a few dozen objects behind, a full pass waits for tens of thousands). Those objects
    are small, the body is not: a page of 100 assets is about 350 KB, so every page read kept
    its body until that pass and the listing's memory grew with the number of assets (1-2 KiB
    per asset). Once parsed, the body is not needed; the few small objects wait for the pass.
    """
    response._content = b""


class _NoLocaleRefused(Exception):
    """The server knows ``no_locale``, not ``no-locale`` (pre-release 2.x)."""


def _message(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return str(document["message"])[:300]
    return f"HTTP {response.status_code}"


__all__ = ["Downloaded", "PAM_ERRORS", "PamApi", "pam_upstream"]
