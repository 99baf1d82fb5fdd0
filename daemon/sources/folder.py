"""
A hot folder as a DAM (``kind = "folder"``): every file under a root is an asset.

- id: the path relative to the root, POSIX style; ``updated_at``: the later of the file's and
  its sidecar's mtime (UTC); metadata: the ``<file>.json`` sidecar, else the row of the nearest
  ``metadata.csv`` (``file`` column, relative to the CSV's folder), else ``{}``.
- Files still being written are left for the next pass: younger than ``settle_seconds`` on the
  filesystem clock, or with a size that changed between two stats.
- Deletions are files that disappeared: the engine compares :meth:`FolderSource.all_ids` with
  its asset state; :meth:`FolderSource.changes` never reports tombstones.
- A symlink leading out of the root is refused with a per-asset error.
"""

from __future__ import annotations

import asyncio
import csv
import fnmatch
import hashlib
import json
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import BinaryRef, DamAsset, SourcePage, Window
from daemon.settings.dam_sources import FolderSettings
from daemon.sources.checksums import verified
from daemon.sources.window import future_error

SIDECAR = ".json"
CSV_NAME = "metadata.csv"
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

    def _ignored(self, name: str) -> bool:
        if name == CSV_NAME or name.endswith(SIDECAR):
            return True
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.settings.ignore)

    def _walk(self) -> Iterator[Path]:
        if not self.root.is_dir():
            raise SourceProtocolError(f"folder root {str(self.root)!r} is not a directory")
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not self._ignored(name):
                    yield Path(folder) / name

    def _rel(self, path: Path) -> str:
        return PurePosixPath(path.relative_to(self.root).as_posix()).as_posix()

    def _csv_rows(self, folder: Path, cache: dict[Path, dict[str, Any]]) -> dict[str, Any]:
        if folder not in cache:
            rows: dict[str, Any] = {}
            csv_path = folder / CSV_NAME
            if csv_path.is_file():
                with csv_path.open(newline="", encoding="utf-8") as handle:
                    for row in csv.DictReader(handle):
                        name = (row.pop("file", None) or "").strip()
                        if name:
                            rows[name] = {k: v for k, v in row.items() if k is not None}
            cache[folder] = rows
        return cache[folder]

    def _read(
        self, path: Path, now: datetime, cache: dict[Path, dict[str, Any]]
    ) -> DamAsset | SourceAssetError | None:
        """One file as an asset, an error, or ``None`` when it has not settled yet."""
        asset_id = self._rel(path)
        if path.is_symlink():
            real = path.resolve()
            if not real.is_relative_to(self.root.resolve()):
                return self._error(asset_id, "binary", str(path), "symlink leads out of the folder")
            if not self.settings.follow_symlinks:
                return self._error(asset_id, "binary", str(path), "symlinks are disabled")
        try:
            first = path.stat()
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                return None  # removed while we walked: a deletion, seen by all_ids
            return self._error(asset_id, "binary", str(path), f"cannot stat: {exc.strerror}")
        mtime = first.st_mtime
        sidecar = path.with_name(path.name + SIDECAR)
        metadata: Any = {}
        meta_path = str(sidecar)
        if sidecar.is_file():
            mtime = max(mtime, sidecar.stat().st_mtime)
            try:
                metadata = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                return self._error(asset_id, "metadata", meta_path, f"unreadable sidecar: {exc}")
            if not isinstance(metadata, dict):
                return self._error(asset_id, "metadata", meta_path, "sidecar is not an object")
        else:
            rows = self._csv_rows(path.parent, cache)
            if path.name in rows:
                metadata = rows[path.name]
                csv_path = path.parent / CSV_NAME
                mtime = max(mtime, csv_path.stat().st_mtime)
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
        second = path.stat()
        if (second.st_size, second.st_mtime_ns) != (first.st_size, first.st_mtime_ns):
            return None
        mime = mimetypes.guess_type(path.name)[0]
        binary = BinaryRef(path=str(path), filename=path.name, mime_type=mime, size=first.st_size)
        return DamAsset(id=asset_id, updated_at=updated_at, metadata=metadata, binary=binary)

    def _scan(self, window: Window | None, now: datetime) -> list[DamAsset | SourceAssetError]:
        cache: dict[Path, dict[str, Any]] = {}
        out: list[DamAsset | SourceAssetError] = []
        for path in self._walk():
            item = self._read(path, now, cache)
            if item is None:
                continue
            if isinstance(item, DamAsset) and window is not None:
                if not window.contains(item.updated_at):
                    continue
                item = self._with_checksum(item, path)
            out.append(item)
        return out

    def _with_checksum(self, asset: DamAsset, path: Path) -> DamAsset | SourceAssetError:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(self.settings.chunk_size):
                    digest.update(chunk)
        except OSError as exc:
            return self._error(asset.id, "checksum", str(path), f"cannot read: {exc.strerror}")
        assert asset.binary is not None
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
        cache: dict[Path, dict[str, Any]] = {}
        assets: list[DamAsset] = []
        errors: list[SourceAssetError] = []
        for asset_id in dict.fromkeys(ids):
            path = self.root / asset_id
            if ".." in PurePosixPath(asset_id).parts or not path.is_file():
                errors.append(self._error(asset_id, "id", str(path), "no such file"))
                continue
            item = await asyncio.to_thread(self._read, path, now, cache)
            if item is None:
                errors.append(self._error(asset_id, "binary", str(path), "still being written"))
            elif isinstance(item, SourceAssetError):
                errors.append(item)
            else:
                assets.append(item)
        return SourcePage(assets=sorted(assets, key=lambda a: a.cursor), errors=errors)

    async def all_ids(self) -> AsyncIterator[Sequence[str]]:
        """Every file present now (settled or not, so a file being rewritten is not deleted)."""
        paths = await asyncio.to_thread(lambda: [self._rel(p) for p in self._walk()])
        for start in range(0, len(paths), PAGE):
            yield paths[start : start + PAGE]

    @asynccontextmanager
    async def open_binary(self, asset: DamAsset) -> AsyncIterator[AsyncIterator[bytes]]:
        """Stream the file in chunks, checking its size and sha256 (when announced)."""
        path = self.root / asset.id
        real = path.resolve()
        if not real.is_relative_to(self.root.resolve()):
            raise self._error(asset.id, "binary", str(path), "symlink leads out of the folder")
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except OSError as exc:
            raise self._error(
                asset.id, "binary", str(path), f"cannot open: {exc.strerror}"
            ) from exc
        size = asset.binary.size if asset.binary else None
        checksum = asset.binary.checksum if asset.binary else None

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(handle.read, self.settings.chunk_size):
                yield chunk

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


async def sha256_of(stream: AsyncIterator[bytes]) -> str:
    """The hex sha256 of a stream, computed chunk by chunk."""
    digest = hashlib.sha256()
    async for chunk in stream:
        digest.update(chunk)
    return digest.hexdigest()


__all__ = ["FolderSource", "sha256_of"]
