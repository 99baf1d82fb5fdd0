"""
Verified binary streams: count bytes and hash them while they pass, never buffer the file.

A stream that ends short of (or runs past) the size the DAM announced, or whose digest differs
from the announced checksum, raises :class:`~daemon.core.errors.SourceAssetError` naming the asset,
so a truncated or corrupted file never reaches the PIM.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from daemon.core.errors import SourceAssetError


async def verified(
    chunks: AsyncIterator[bytes],
    *,
    source: str,
    asset_id: str,
    path: str,
    expected_size: int | None,
    content_length: int | None,
    checksum: str | None = None,
    algorithm: str = "sha256",
) -> AsyncIterator[bytes]:
    """
    Pass ``chunks`` through, checking length and checksum.

    Args:
        chunks: The raw body.
        source: Source name, for the error.
        asset_id: The asset, for the error.
        path: Where the binary came from (endpoint template or file path), for the error.
        expected_size: The size the asset record announced.
        content_length: The ``Content-Length`` the answer announced.
        checksum: Announced hex digest, compared case-insensitively.
        algorithm: ``hashlib`` name of the digest.

    Returns:
        An iterator of the same chunks.
    """

    def fail(field: str, reason: str) -> SourceAssetError:
        return SourceAssetError(
            asset_id=asset_id, field=field, path=path, reason=reason, source=source
        )

    if expected_size is not None and content_length is not None and expected_size != content_length:
        raise fail(
            "size",
            f"wrong content length: answer announces {content_length} bytes, "
            f"asset record says {expected_size}",
        )
    limit = content_length if content_length is not None else expected_size
    digest = hashlib.new(algorithm) if checksum else None
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if limit is not None and received > limit:
            raise fail("size", f"download longer than the announced {limit} bytes")
        if digest is not None:
            digest.update(chunk)
        yield chunk
    if limit is not None and received != limit:
        raise fail("size", f"truncated download: {received} of {limit} bytes")
    if digest is not None and checksum is not None and digest.hexdigest() != checksum.lower():
        raise fail("checksum", f"{algorithm} mismatch: got {digest.hexdigest()}")


__all__ = ["verified"]
