"""
Moving binaries from the DAM to the PIM: stream to a spool file, checksum, upload once.

A binary is never read whole into memory: it is streamed from the DAM into a temporary file
while its SHA-256 is computed, then uploaded from that file (re-opened on every retry). A
binary whose checksum already has a media file code in the store is never uploaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from daemon.core.errors import SourceAssetError
from daemon.core.records import DamAsset

log = structlog.get_logger(__name__)


class BinaryOpener(Protocol):
    def open_binary(self, asset: DamAsset) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...


class MediaUploader(Protocol):
    async def upload_media_file(
        self, path: Path, *, filename: str, mime_type: str | None = None
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Transferred:
    """A binary now known to the PIM."""

    checksum: str  # the DAM's checksum when it gave one, else our SHA-256
    media_code: str
    uploaded: bool
    size: int


class MediaTransfer:
    """
    Streams binaries DAM -> spool file -> PIM with bounded concurrency.

    Args:
        source: Opens binaries.
        pim: Uploads them.
        known_code: ``checksum -> media code`` lookup in the store (called off the event loop).
        concurrency: Transfers at once.
        spool_dir: Where spool files go (default: the system temp dir).
        remember: Records ``checksum -> media code`` right after an upload.
    """

    def __init__(
        self,
        source: BinaryOpener,
        pim: MediaUploader,
        known_code: Callable[[str], str | None],
        *,
        concurrency: int = 4,
        spool_dir: Path | None = None,
        remember: Callable[[str, str], None] | None = None,
    ) -> None:
        self._source = source
        self._pim = pim
        self._known_code = known_code
        self._slots = asyncio.Semaphore(concurrency)
        self._spool_dir = spool_dir
        self._remember = remember
        self.uploaded_bytes = 0

    async def transfer(self, asset: DamAsset) -> Transferred:
        """
        Make ``asset``'s binary available in the PIM and return its media file code.

        Raises:
            SourceAssetError: the asset has no binary, or it could not be read completely.
            SourceError, PimError: transient or permanent upstream failures.
        """
        binary = asset.binary
        if binary is None:
            raise SourceAssetError(
                asset_id=asset.id, field="binary", path="binary", reason="asset has no binary"
            )
        if binary.checksum:
            code = await asyncio.to_thread(self._known_code, binary.checksum)
            if code is not None:
                return Transferred(binary.checksum, code, uploaded=False, size=binary.size or 0)
        async with self._slots:
            fd, name = tempfile.mkstemp(prefix="damsync-", dir=self._spool_dir)
            path = Path(name)
            try:
                digest = hashlib.sha256()
                size = 0
                with os.fdopen(fd, "wb") as spool:
                    async with self._source.open_binary(asset) as chunks:
                        async for chunk in chunks:
                            digest.update(chunk)
                            size += len(chunk)
                            spool.write(chunk)
                # The source verified the DAM's own checksum (whatever its algorithm); ours is
                # SHA-256 of what we really read, so identical binaries share one upload.
                checksum = digest.hexdigest()
                code = await asyncio.to_thread(self._known_code, checksum)
                key = binary.checksum or checksum
                if code is not None:
                    return Transferred(key, code, uploaded=False, size=size)
                filename = binary.filename or path.name
                code = await self._pim.upload_media_file(
                    path, filename=filename, mime_type=binary.mime_type
                )
                self.uploaded_bytes += size
                log.debug("media.uploaded", asset=asset.id, bytes=size)
                if self._remember is not None:
                    # At once, not with the batch: a crash must not cost a second upload.
                    await asyncio.to_thread(self._remember, key, code)
                return Transferred(key, code, uploaded=True, size=size)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)


__all__ = ["BinaryOpener", "MediaTransfer", "MediaUploader", "Transferred"]
