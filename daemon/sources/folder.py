"""
A hot folder as a DAM (``kind = "folder"``): every file under a root is an asset.

- id: the path relative to the root, POSIX style; ``updated_at``: the later of the file's and
  its sidecar's mtime (UTC); metadata: the ``<file>.json`` sidecar, else the row of the nearest
  ``metadata.csv`` (``file`` column, relative to the CSV's folder), else ``{}``.
- Files still being written are left for the next pass: younger than ``settle_seconds`` on the
  filesystem clock, with a size that changed between two stats, or changed while hashed (their
  new mtime puts them in a later window). One that changes while it streams to the PIM is a
  per-asset error (retried). A writer stalled past ``settle_seconds`` cannot be told from a
  finished file: its partial file is written, and replaced once the writer finishes.
- Deletions are files that disappeared: the engine compares :meth:`FolderSource.all_ids` with
  its asset state; :meth:`FolderSource.changes` never reports tombstones.
- Every file the walk finds is either listed or reported: a symlink leading out of the root
  (binary, sidecar or ``metadata.csv``: :mod:`daemon.sources.folder_files`), a dangling link, a
  named pipe or an unreadable sidecar is a per-asset error, so the listing and the id sweep
  always agree. A folder that cannot be listed fails the listing and the sweep alike.
- A file named in an asset's metadata (a mapping's ``file`` source: a manual per locale) is
  opened when its value is a path relative to the root, as ids are (``manuals/a_fr.pdf``),
  leading to a regular file under the root by the same containment rules; a URL, an absolute
  path or one leading out of the root is a per-asset error: a hot folder downloads nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import posixpath
import stat
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import BinaryRef, DamAsset, SourcePage, Window
from daemon.settings.dam_sources import FolderSettings
from daemon.sources.checksums import verified
from daemon.sources.folder_files import CsvCache, FolderFiles, Refused, changed, file_kind
from daemon.sources.window import future_error

PAGE = 200


class FolderSource:
    """
    A directory tree read as a DAM.

    Args:
        name: Source name.
        settings: The ``[sources.folder]`` section.
    """

    sorted_by_cursor = False  # a walk cannot list by mtime order cheaply; see docs

    def __init__(self, name: str, settings: FolderSettings) -> None:
        self.name = name
        self.settings = settings
        self.root = Path(settings.path)
        self.files = FolderFiles(name, settings)

    def __repr__(self) -> str:
        return f"FolderSource(name={self.name!r}, path={str(self.root)!r})"

    async def aclose(self) -> None:
        return None

    def _error(self, asset_id: str, field: str, path: str, reason: str) -> SourceAssetError:
        return SourceAssetError(
            asset_id=asset_id, field=field, path=path, reason=reason, source=self.name
        )

    async def server_now(self) -> datetime:
        """The filesystem's clock: the mtime of a file we touch in the root."""
        return await asyncio.to_thread(self._fs_now)

    def _fs_now(self) -> datetime:
        try:
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".damsync-clock-") as handle:
                stamp = os.fstat(handle.fileno()).st_mtime_ns
        except OSError as exc:
            raise SourceProtocolError(f"cannot write to the folder root ({exc.strerror})") from exc
        return datetime.fromtimestamp(stamp / 1e9, tz=UTC)

    def _rel(self, path: Path) -> str:
        """
        The id of ``path``. A name that is no UTF-8 (``caf\\xe9.png`` from a Latin-1 system)
        is shown with its bad bytes escaped: the raw form cannot be stored, logged or sent.
        """
        rel = PurePosixPath(path.relative_to(self.root).as_posix()).as_posix()
        if rel.isascii():
            return rel
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    def _read(
        self, path: Path, now: datetime, cache: CsvCache, *, walked: bool = True
    ) -> DamAsset | SourceAssetError | None:
        """One file as an asset, an error, or ``None`` when it has not settled yet."""
        asset_id = self._rel(path)
        if walked and asset_id != path.relative_to(self.root).as_posix():
            reason = "the file name is not valid UTF-8: rename it"
            return self._error(asset_id, "id", asset_id, reason)
        why = self.files.check(path, walked=walked)
        if why is not None:
            return self._error(asset_id, "binary", str(path), why)
        try:
            first = path.stat()
        except FileNotFoundError:
            if not path.is_symlink():
                return None  # removed while we walked: a deletion, seen by all_ids
            return self._error(asset_id, "binary", str(path), "symlink target is missing")
        except OSError as exc:
            return self._error(asset_id, "binary", str(path), f"cannot stat: {exc.strerror}")
        if not stat.S_ISREG(first.st_mode):
            # Reading a named pipe blocks the pass, a device never ends: not an asset.
            reason = f"not a regular file ({file_kind(first.st_mode)})"
            return self._error(asset_id, "binary", str(path), reason)
        try:
            metadata, meta_mtime = self.files.metadata(path, cache, walked=walked)
        except Refused as refused:
            return self._error(asset_id, "metadata", str(refused.path), refused.reason)
        mtime = max(first.st_mtime, meta_mtime or 0.0)
        updated_at = datetime.fromtimestamp(mtime, tz=UTC)
        tolerance = timedelta(seconds=self.settings.future_tolerance)
        if updated_at - now > tolerance:
            # It would never settle: reported, not left waiting until the clock gets there.
            return future_error(
                asset_id,
                updated_at,
                source=self.name,
                path=str(path),
                dam_now=now,
                tolerance=tolerance,
            )
        if (now - updated_at).total_seconds() < self.settings.settle_seconds:
            return None
        try:
            second = path.stat()
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                return None  # removed since the first stat: a deletion, seen by all_ids
            return self._error(asset_id, "binary", str(path), f"cannot stat: {exc.strerror}")
        if (second.st_size, second.st_mtime_ns) != (first.st_size, first.st_mtime_ns):
            return None
        mime = mimetypes.guess_type(path.name)[0]
        binary = BinaryRef(path=str(path), filename=path.name, mime_type=mime, size=first.st_size)
        return DamAsset(id=asset_id, updated_at=updated_at, metadata=metadata, binary=binary)

    def _scan(self, window: Window | None, now: datetime) -> list[DamAsset | SourceAssetError]:
        cache: CsvCache = {}
        out: list[DamAsset | SourceAssetError] = []
        for path in self.files.walk():
            item = self._read(path, now, cache)
            if isinstance(item, DamAsset) and window is not None:
                if not window.contains(item.updated_at):
                    continue
                item = self._with_checksum(item, path)
            if item is not None:
                out.append(item)
        return out

    def _with_checksum(self, asset: DamAsset, path: Path) -> DamAsset | SourceAssetError | None:
        """The asset with the sha256 of its file, or ``None`` if the file moved while hashed."""
        assert asset.binary is not None
        digest = hashlib.sha256()
        try:
            with self.files.open_regular(path, walked=True) as handle:
                before = os.fstat(handle.fileno())
                while chunk := handle.read(self.settings.chunk_size):
                    digest.update(chunk)
                after = os.fstat(handle.fileno())
        except Refused as refused:
            return self._error(asset.id, "checksum", str(path), refused.reason)
        except OSError as exc:
            return self._error(asset.id, "checksum", str(path), f"cannot read: {exc.strerror}")
        if before.st_size != asset.binary.size or changed(before, after):
            # Still being written: its new mtime puts it in a later window (not lost).
            return None
        binary = replace(asset.binary, checksum=digest.hexdigest())
        return replace(asset, binary=binary)

    async def changes(self, window: Window) -> AsyncIterator[SourcePage]:
        """
        Settled files changed in the window, in pages sorted by ``(updated_at, id)``.

        The whole tree is stat'ed once per window (metadata only, no file contents), so the
        order holds across the window and nothing is lost between pages.
        """
        now = await self.server_now()
        items = await asyncio.to_thread(self._scan, window, now)
        assets = sorted((i for i in items if isinstance(i, DamAsset)), key=lambda a: a.cursor)
        errors = [i for i in items if isinstance(i, SourceAssetError)]
        for start in range(0, max(len(assets), 1), PAGE):
            chunk = assets[start : start + PAGE]
            page_errors = errors if start == 0 else []
            if chunk or page_errors:
                yield SourcePage(assets=chunk, errors=page_errors)

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        """The current state of these files; a missing or unsettled file is an error."""
        now = await self.server_now()
        cache: CsvCache = {}
        assets: list[DamAsset] = []
        errors: list[SourceAssetError] = []
        for asset_id in dict.fromkeys(ids):
            path = self.root / asset_id
            parts = PurePosixPath(asset_id)
            if parts.is_absolute() or ".." in parts.parts or not path.is_file():
                errors.append(self._error(asset_id, "id", str(path), "no such file"))
                continue
            item = await asyncio.to_thread(self._read, path, now, cache, walked=False)
            if item is None:
                errors.append(self._error(asset_id, "binary", str(path), "still being written"))
            elif isinstance(item, SourceAssetError):
                errors.append(item)
            else:
                assets.append(item)
        return SourcePage(assets=sorted(assets, key=lambda a: a.cursor), errors=errors)

    async def all_ids(self) -> AsyncIterator[Sequence[str]]:
        """
        Every file present now (settled or not, so a file being rewritten is not deleted).

        A folder that cannot be listed raises (see :meth:`FolderFiles.walk`): a sweep missing
        its files would delete their assets.
        """
        paths = await asyncio.to_thread(lambda: [self._rel(p) for p in self.files.walk()])
        for start in range(0, len(paths), PAGE):
            yield paths[start : start + PAGE]

    def _binary_path(self, asset: DamAsset) -> Path:
        """
        Where the binary to open is: the asset's own file, or a file its metadata names.

        Raises:
            SourceAssetError: a named file that is no path relative to the root.
        """
        binary = asset.binary
        if binary is None or not binary.derived:
            return self.root / asset.id
        value = binary.path or binary.url or ""
        relative = _relative(value)
        if relative is None:
            reason = (
                "a folder source opens only the asset's own file or one under its root, "
                f"by a path relative to the root: {_shown(value)}"
            )
            raise self._error(asset.id, "file", _shown(value), reason)
        # Contained like every file: open_regular refuses a symlink out of the root.
        return self.root / relative

    @asynccontextmanager
    async def open_binary(self, asset: DamAsset) -> AsyncIterator[AsyncIterator[bytes]]:
        """
        Stream the file in chunks, checking its size and sha256 (when announced), and that it
        held still while read: a writer that resumed makes it a per-asset error, retried later.
        """
        path = self._binary_path(asset)
        try:
            handle = await asyncio.to_thread(self.files.open_regular, path)
        except Refused as refused:
            raise self._error(asset.id, "binary", str(path), refused.reason) from None
        size = asset.binary.size if asset.binary else None
        checksum = asset.binary.checksum if asset.binary else None
        before = os.fstat(handle.fileno())

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(handle.read, self.settings.chunk_size):
                    yield chunk
                after = os.fstat(handle.fileno())
            except OSError as exc:
                reason = f"cannot read: {exc.strerror}"
                raise self._error(asset.id, "binary", str(path), reason) from None
            how = changed(before, after)
            if how is not None:
                reason = f"changed while being read ({how}): still being written, retried later"
                raise self._error(asset.id, "binary", str(path), reason)

        try:
            yield verified(
                chunks(),
                source=self.name,
                asset_id=asset.id,
                path=str(path),
                expected_size=size,
                content_length=None,
                checksum=checksum,
            )
        finally:
            handle.close()


def _relative(value: str) -> str | None:
    """
    ``value`` as a path relative to the root, normalised; ``None`` when it is a URL, an
    absolute path or leads out of the root (``../x``), or names the root itself.
    """
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or value.startswith("/") or "\\" in value or "\0" in value:
        return None
    normal = posixpath.normpath(value)
    if normal in (".", "..") or normal.startswith("../"):
        return None
    return normal


def _shown(value: str) -> str:
    """A file value as named in errors: without a query string (a signed URL's credentials)."""
    return repr(value.split("?", 1)[0][:200])


async def sha256_of(stream: AsyncIterator[bytes]) -> str:
    """The hex sha256 of a stream, computed chunk by chunk."""
    digest = hashlib.sha256()
    async for chunk in stream:
        digest.update(chunk)
    return digest.hexdigest()


__all__ = ["FolderSource", "sha256_of"]
