"""
Downloading a REST DAM's binaries: resolving the URL, deciding on credentials, streaming.

The URL is the asset's own or, with ``[sources.rest.download]``, read from a per-asset
endpoint (a presigned URL). The DAM's credentials go only to its own host (and, for a resolved
URL, only when configured). Length and checksum are verified as the chunks pass
(:mod:`daemon.sources.checksums`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from daemon.core.errors import SourceAssetError, SourceUnavailable
from daemon.core.records import DamAsset
from daemon.sources.checksums import verified
from daemon.sources.fields import dig_optional
from daemon.sources.rest_calls import RestCalls
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import read_json


async def _resolve_url(calls: RestCalls, asset: DamAsset) -> tuple[str, str]:
    """The binary's URL and where it came from (the path named in errors)."""
    download = calls.settings.download
    if download is None:
        assert asset.binary is not None and asset.binary.url is not None
        return asset.binary.url, "binary"
    template = download.path_template
    spec = RequestSpec(
        "GET", template.replace("{id}", asset.id), template, params=calls.query_auth or None
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
        return read_json(calls.upstream, spec, response)

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
    if asset.binary is None or (asset.binary.url is None and settings.download is None):
        raise SourceAssetError(
            asset_id=asset.id,
            field="binary_url",
            path=settings.fields.binary_url or "",
            reason="the asset has no binary",
            source=calls.name,
        )
    url, where = await _resolve_url(calls, asset)
    base = httpx.URL(settings.base_url)
    target = base.join(url)
    download = settings.download
    if download is not None:
        # A resolved URL is presigned (Bynder's S3 answers 400 to a second auth mechanism):
        # the DAM's credentials go with it only when configured, whatever its host.
        authenticate = download.authenticate_binary and target.host == base.host
    else:
        authenticate = target.host == base.host
    spec = RequestSpec(
        "GET",
        str(target),
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
        length_header = response.headers.get("content-length")
        try:
            length = int(length_header) if length_header is not None else None
        except ValueError:
            length = None
        yield verified(
            _chunks(calls, response, asset.id, where),
            source=calls.name,
            asset_id=asset.id,
            path=where,
            expected_size=asset.binary.size,
            content_length=length,
            checksum=asset.binary.checksum,
            algorithm=settings.fields.checksum_algorithm,
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
        raise SourceUnavailable("binary download timed out", endpoint="binary") from exc
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


__all__ = ["open_binary"]
