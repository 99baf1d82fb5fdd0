"""
The binaries of a migration, one at a time, as local files ready to upload.

:class:`DirectoryFetcher` (file mode) hands out the file in the binaries directory, hashing it
if the reader did not; :class:`ApiFetcher` (API mode) streams the download into the spool
directory and hands out that temporary copy, which the caller deletes after the upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path

from daemon.core.errors import SourceAssetError
from daemon.pam.pam_api import PamApi
from daemon.pam.pam_records import LocalFile, PamFile, name_from_key

BLOCK = 1024 * 1024


class DirectoryFetcher:
    """File mode: the files are already on disk."""

    def __repr__(self) -> str:
        return "DirectoryFetcher()"

    async def fetch(self, asset: str, file: PamFile) -> LocalFile:
        """
        The file of ``file.path``.

        Raises:
            SourceAssetError: it has no path or cannot be read.
        """
        if file.path is None:
            raise SourceAssetError(
                asset_id=asset,
                field="file",
                path=file.key,
                reason="no file in the binaries directory",
            )
        checksum = file.checksum
        if checksum is None:
            try:
                checksum = await asyncio.to_thread(_sha256, file.path)
            except OSError as exc:
                raise SourceAssetError(
                    asset_id=asset,
                    field="file",
                    path=file.key,
                    reason=f"cannot read it: {exc.strerror}",
                ) from None
        return LocalFile(
            path=file.path,
            checksum=checksum,
            original_name=file.original_name or name_from_key(file.key),
        )


class ApiFetcher:
    """
    API mode: each file downloaded into ``spool`` through the reader's upstream.

    Args:
        api: The legacy API reader.
        spool: Where downloads go (the system's temp directory by default).
    """

    def __init__(self, api: PamApi, spool: Path | None = None) -> None:
        self.api = api
        self.spool = spool

    def __repr__(self) -> str:
        return f"ApiFetcher({self.api!r})"

    async def fetch(self, asset: str, file: PamFile) -> LocalFile:
        """
        Download ``file`` to a temporary file.

        Raises:
            SourceAssetError: the PIM has no binary for it.
            SourceError: the download failed after the retries.
        """
        handle = tempfile.NamedTemporaryFile(prefix="damsync-pam-", dir=self.spool, delete=False)
        handle.close()
        target = Path(handle.name)
        try:
            done = await self.api.download(asset, file, target)
        except BaseException:
            _discard(target)
            raise
        return LocalFile(
            path=str(target),
            checksum=done.checksum,
            original_name=done.original_name or name_from_key(file.key),
            mime_type=done.mime_type,
            temporary=True,
        )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


__all__ = ["ApiFetcher", "DirectoryFetcher"]
