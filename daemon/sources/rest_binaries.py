"""
Downloading a REST DAM's binaries: resolving the URL, deciding on credentials, streaming.

The URL is the asset's own or, with ``[sources.rest.download]``, read from a per-asset
endpoint (a presigned URL). A file named in the asset's metadata (a ``derived`` reference: a
manual per locale, a rendition per channel) is fetched at its own URL: the download endpoint
gives the asset's own binary, not that file. The DAM's credentials go only to its own origin
(scheme, host and port: :func:`daemon.upstream.origin.same_origin`), and for a URL the endpoint
resolved only when configured.
Length and checksum are verified as the chunks pass (:mod:`daemon.sources.checksums`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from daemon.core.errors import SourceAssetError, SourceProtocolError, SourceUnavailable
from daemon.core.json_limits import JsonTooDeepError
from daemon.core.records import BinaryRef, DamAsset
from daemon.sources.checksums import (
    ChecksumFormatError,
    UnusableBinaryError,
    parse_checksum,
    verified,
)
from daemon.sources.fields import dig_optional
from daemon.sources.rest_calls import RestCalls, fill_path
from daemon.upstream.origin import base_url, same_origin
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import read_json

#: URL schemes a binary may be downloaded from; any other is a per-asset error.
BINARY_SCHEMES = frozenset({"http", "https"})
#: How an absolute URL starts that needs no join with the base (the usual binary link).
_ABSOLUTE = ("http://", "https://")


@functools.lru_cache(maxsize=32)
def _base(text: str) -> httpx.URL:
    """The configured base URL, parsed once per process (``httpx.URL`` is immutable)."""
    return base_url(text)


def _target(base: httpx.URL, url: str) -> httpx.URL:
    """
    ``url`` resolved on ``base``; an absolute http(s) URL is parsed alone, half the work.

    Raises:
        httpx.InvalidURL: the URL cannot be parsed.
    """
    return httpx.URL(url) if url.startswith(_ABSOLUTE) else base.join(url)


def _algorithm(binary: BinaryRef, configured: str) -> str:
    """
    The algorithm of an unprefixed checksum: ``checksum_algorithm`` is the asset's own
    binaries'; a file of the metadata (``file_keys``) has its own, told by the digest's size.
    """
    if binary.derived and binary.checksum:
        try:
            return parse_checksum(binary.checksum, None).algorithm
        except ChecksumFormatError:
            pass  # verified() names what is wrong with it, per asset
    return configured


async def _resolve_url(calls: RestCalls, asset: DamAsset) -> tuple[str, str]:
    """The binary's URL and where it came from (the path named in errors)."""
    download = calls.settings.download
    assert asset.binary is not None
    if asset.binary.derived:
        # A file of the asset's metadata: the endpoint would answer the asset's own binary.
        assert asset.binary.url is not None
        return asset.binary.url, "file"
    if download is None:
        assert asset.binary.url is not None
        return asset.binary.url, "binary"
    template = download.path_template
    spec = RequestSpec(
        "GET", fill_path(template, asset.id), template, params=calls.query_auth or None
    )

    def handle(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise SourceAssetError(
                asset_id=asset.id,
                field="binary_url",
                path=template,
                reason=f"download endpoint answered HTTP {response.status_code}",
                source=calls.name,
            )
        try:
            return read_json(calls.upstream, spec, response)
        except SourceProtocolError as exc:
            if not isinstance(exc.__cause__, JsonTooDeepError):
                raise
            # This asset's answer is unreadable, not the DAM: the asset fails alone.
            raise SourceAssetError(
                asset_id=asset.id,
                field="binary_url",
                path=template,
                reason=str(exc.__cause__),
                source=calls.name,
            ) from None

    body = await calls.upstream.request(spec, handle)
    url = dig_optional(body, download.url_path)
    if not isinstance(url, str) or not url:
        raise SourceAssetError(
            asset_id=asset.id,
            field="binary_url",
            path=f"{template} -> {download.url_path}",
            reason="no download URL in the answer",
            source=calls.name,
        )
    return url, f"{template} -> {download.url_path}"


@asynccontextmanager
async def open_binary(calls: RestCalls, asset: DamAsset) -> AsyncIterator[AsyncIterator[bytes]]:
    """Stream the binary; length and checksum are verified as the chunks pass."""
    settings = calls.settings
    binary = asset.binary
    if binary is None or (binary.url is None and (settings.download is None or binary.derived)):
        raise SourceAssetError(
            asset_id=asset.id,
            field="binary_url",
            path=settings.fields.binary_url or "",
            reason="the asset has no binary",
            source=calls.name,
        )
    url, where = await _resolve_url(calls, asset)
    base = _base(settings.base_url)
    try:
        target = _target(base, url)
    except httpx.InvalidURL as exc:
        # A control character, a bad port, 64 KiB of URL: the same every time, like a scheme.
        raise UnusableBinaryError(
            asset_id=asset.id,
            field="binary_url",
            path=where,
            reason=f"the binary URL cannot be used: {exc}",
            source=calls.name,
        ) from None
    if target.scheme not in BINARY_SCHEMES or not target.host:
        # The same URL fails the same way every time: the asset's error, not the DAM's outage.
        # The URL itself is not quoted (a signed URL carries credentials in its query).
        raise UnusableBinaryError(
            asset_id=asset.id,
            field="binary_url",
            path=where,
            reason=f"unsupported URL scheme {target.scheme!r}: binaries are downloaded over "
            "http or https only"
            if target.scheme not in BINARY_SCHEMES
            else "the binary URL has no host",
            source=calls.name,
        )
    download = settings.download
    on_origin = same_origin(base, target)
    if download is not None and not binary.derived:
        # A resolved URL is presigned (Bynder's S3 answers 400 to a second auth mechanism):
        # the DAM's credentials go with it only when configured, and only to the DAM's origin.
        authenticate = download.authenticate_binary and on_origin
    else:
        # The asset's own URL or a file of its metadata, as listed: credentials on the origin.
        authenticate = on_origin
    spec = RequestSpec(
        "GET",
        target,  # parsed once, here
        "binary",
        params=(calls.query_auth or None) if authenticate else None,
        authenticated=authenticate,
    )
    async with calls.upstream.stream(spec) as response:
        if response.status_code >= 300:
            raise SourceAssetError(
                asset_id=asset.id,
                field="binary_url",
                path=where,
                reason=f"binary download answered HTTP {response.status_code}",
                source=calls.name,
            )
        content_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if content_type.lower() == "text/html" and (binary.mime_type or "") != "text/html":
            # A login or error page answered with 200 (an expired SSO session, a proxy): it
            # must not become the asset's media. Retried, as the DAM may answer right later.
            raise SourceAssetError(
                asset_id=asset.id,
                field="binary",
                path=where,
                reason="the download answered an HTML page (text/html), not the binary "
                f"({binary.mime_type or 'type not announced'}): a login or error page?",
                source=calls.name,
            )
        length_header = response.headers.get("content-length", "").strip()
        # Only digits are a length (RFC 9110); "-5" or "abc" is no announcement at all.
        length = int(length_header) if length_header.isdigit() else None
        yield verified(
            _chunks(calls, response, asset.id, where),
            source=calls.name,
            asset_id=asset.id,
            path=where,
            expected_size=binary.size,
            content_length=length,
            checksum=binary.checksum,
            algorithm=_algorithm(binary, settings.fields.checksum_algorithm),
        )


async def _chunks(
    calls: RestCalls, response: httpx.Response, asset_id: str, where: str
) -> AsyncIterator[bytes]:
    """The body's chunks; a broken connection is the asset's error, a timeout the DAM's."""
    received = 0
    try:
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            yield chunk
    except httpx.TimeoutException as exc:
        # Also the attempt's total deadline (``http.timeouts.transfer``), which names its key.
        raise SourceUnavailable(f"binary download timed out ({exc})", endpoint="binary") from exc
    except httpx.TransportError as exc:
        raise SourceAssetError(
            asset_id=asset_id,
            field="binary",
            path=where,
            reason=f"truncated download: connection broke after {received} bytes",
            source=calls.name,
        ) from exc
    finally:
        calls.upstream.observer.bytes_streamed(
            upstream=calls.name, endpoint="binary", received=received
        )


__all__ = ["BINARY_SCHEMES", "open_binary"]
