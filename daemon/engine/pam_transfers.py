"""
The binaries of a PAM migration: up to ``limit`` transfers (fetch, hash, upload) at once.

:class:`PamTransfers` turns an asset's values into the body the PIM takes, each media value
replaced by the code of its content in the target (``POST /asset-media-files``), and

- runs at most ``limit`` transfers at once (the target PIM's ``max_in_flight``): at most that
  many binaries are held or spooled at any time;
- uploads each distinct content once, also when two assets in flight carry the same one: the
  first claims its checksum, the others wait for its code (a failed transfer lets the next one
  try on its own, as the one-at-a-time writer did);
- commits a file's checksum as soon as it is hashed and an upload's code as soon as the PIM
  gives it (``remember_file``, ``remember_media``), so a re-run never uploads a content again
  except one whose answer the process did not live to record (at most ``limit``);
- collects the report lines of the files left out per asset, so the writer emits them in the
  input's order;
- when :attr:`stopping` is set (the write failed, or a transfer failed in a way no file absorbs),
  starts no new transfer and lets the ones in flight finish and record their codes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from daemon.core.errors import PimRejected, SourceAssetError
from daemon.engine.pam_report import ReportLine
from daemon.engine.pam_values import TargetAsset
from daemon.pam.pam_records import LocalFile, PamFile
from daemon.pim.structure_records import JsonValue


class MediaPim(Protocol):
    """The target's media upload."""

    async def upload_media_file(
        self,
        source: str | os.PathLike[str],
        *,
        filename: str | None = None,
        mime_type: str | None = None,
    ) -> str: ...


class PamFetcher(Protocol):
    """A legacy file as a local file (downloaded or found on disk)."""

    async def fetch(self, asset: str, file: PamFile) -> LocalFile: ...


class MediaProgress(Protocol):
    """What earlier runs hashed and uploaded."""

    def key_checksum(self, key: str) -> str | None: ...

    def media_code(self, checksum: str) -> str | None: ...

    def remember_file(self, key: str, checksum: str) -> None: ...

    def remember_media(self, checksum: str, code: str) -> None: ...


class TransferCounts(Protocol):
    """The counters the transfers move."""

    uploads: int
    reused: int
    files_failed: int


class TransfersStopped(Exception):
    """The write or another transfer failed: no new transfer starts (see ``failure``)."""


@dataclass(slots=True)
class Resolved:
    """An asset's values as the PIM takes them, and the lines of its files left out."""

    values: dict[str, list[JsonValue]] = field(default_factory=dict)
    lines: list[ReportLine] = field(default_factory=list)


#: What a transfer ends with: a code, None (the file is left out), or another's transfer to wait.
_Outcome = str | None | asyncio.Future[str | None]


class PamTransfers:
    """
    Resolves assets' media values, ``limit`` transfers at once.

    Args:
        pim: The target (uploads).
        fetcher: Gets binaries.
        progress: Remembers checksums and uploaded codes.
        counts: Uploads, reuses and files left out are counted here.
        discard: Deletes a temporary download.
        limit: Transfers at once (at least 1).
        in_place: Media values keep their PAM keys; nothing is transferred.
    """

    def __init__(
        self,
        pim: MediaPim,
        fetcher: PamFetcher,
        progress: MediaProgress,
        counts: TransferCounts,
        discard: Callable[[str], None],
        *,
        limit: int,
        in_place: bool = False,
    ) -> None:
        if limit < 1:
            raise ValueError("transfers must be at least 1")
        self.pim = pim
        self.fetcher = fetcher
        self.progress = progress
        self.counts = counts
        self.discard = discard
        self.limit = limit
        self.in_place = in_place
        self.stopping = False
        #: The first failure no file absorbed (it stopped the transfers), for the writer to raise.
        self.failure: BaseException | None = None
        self._slots = asyncio.Semaphore(limit)
        self._pending: dict[str, asyncio.Future[str | None]] = {}

    async def resolve(self, asset: TargetAsset) -> Resolved:
        """The values of ``asset`` with each file's media code; a failed file is left out."""
        resolved = Resolved()
        for value in asset.values:
            data: JsonValue
            if isinstance(value.data, PamFile):
                code = await self._media(asset, value.data, resolved.lines)
                if code is None:
                    continue
                data = code
            elif isinstance(value.data, tuple):
                data = list(value.data)
            else:
                data = value.data
            entry: dict[str, JsonValue] = {
                "locale": value.locale,
                "channel": value.channel,
                "data": data,
            }
            resolved.values.setdefault(value.attribute, []).append(entry)
        return resolved

    async def _media(
        self, asset: TargetAsset, file: PamFile, lines: list[ReportLine]
    ) -> str | None:
        """The media file code of ``file``: known, uploaded by another, or uploaded now."""
        if self.in_place:
            return file.key
        while True:
            checksum = file.checksum or self.progress.key_checksum(file.key)
            found = self._lookup(checksum)
            if isinstance(found, str):
                self.counts.reused += 1
                return found
            if found is None:
                found = await self._claimed(asset, file, checksum, lines)
                if not isinstance(found, asyncio.Future):
                    return found
            # shield: this file giving up must not cancel the other's transfer
            code = await asyncio.shield(found)
            if code is not None:
                self.counts.reused += 1
                return code
            # That transfer failed: this file tries on its own, as if it came first.

    def _lookup(self, checksum: str | None) -> str | asyncio.Future[str | None] | None:
        """The code of ``checksum``, the transfer of it in flight, or None."""
        if checksum is None:
            return None
        known = self.progress.media_code(checksum)
        return known if known is not None else self._pending.get(checksum)

    def _claim(self, checksum: str, claims: list[str]) -> None:
        self._pending[checksum] = asyncio.get_running_loop().create_future()
        claims.append(checksum)

    async def _claimed(
        self, asset: TargetAsset, file: PamFile, checksum: str | None, lines: list[ReportLine]
    ) -> _Outcome:
        """Transfer ``file``, the checksum(s) claimed meanwhile; waiters get its code."""
        claims: list[str] = []
        if checksum is not None:
            self._claim(checksum, claims)
        outcome: _Outcome = None
        try:
            outcome = await self._transfer(asset, file, checksum, claims, lines)
            return outcome
        finally:
            code = outcome if isinstance(outcome, str) else None
            for claimed in claims:
                self._pending.pop(claimed).set_result(code)

    async def _transfer(
        self,
        asset: TargetAsset,
        file: PamFile,
        checksum: str | None,
        claims: list[str],
        lines: list[ReportLine],
    ) -> _Outcome:
        async with self._slots:
            if self.stopping:
                raise TransfersStopped
            try:
                return await self._move(asset, file, checksum, claims, lines)
            except BaseException as exc:
                # A failure no file absorbs ends the write: no transfer starts from now on, not
                # only once the writer reaches this asset in its window (those in flight finish).
                self.stopping = True
                if self.failure is None:
                    self.failure = exc
                raise

    async def _move(
        self,
        asset: TargetAsset,
        file: PamFile,
        checksum: str | None,
        claims: list[str],
        lines: list[ReportLine],
    ) -> _Outcome:
        """One file fetched, hashed and uploaded (or found uploaded), holding a slot."""
        try:
            local = await self.fetcher.fetch(asset.code, file)
        except SourceAssetError as exc:
            self._failed(asset, file, f"cannot be fetched: {exc.reason}", lines)
            return None
        try:
            self.progress.remember_file(file.key, local.checksum)
            if local.checksum != checksum:
                found = self._lookup(local.checksum)
                if isinstance(found, str):
                    self.counts.reused += 1
                    return found
                if found is not None:
                    return found  # waited for with the slot and the file given back
                self._claim(local.checksum, claims)
            try:
                code = await self.pim.upload_media_file(
                    local.path, filename=local.original_name, mime_type=local.mime_type
                )
            except PimRejected as exc:
                self._failed(asset, file, f"refused by the PIM: {exc}", lines)
                return None
            self.progress.remember_media(local.checksum, code)
            self.counts.uploads += 1
            return code
        finally:
            if local.temporary:
                self.discard(local.path)

    def _failed(self, asset: TargetAsset, file: PamFile, why: str, lines: list[ReportLine]) -> None:
        self.counts.files_failed += 1
        lines.append(
            ReportLine("skipped_file", asset.code, asset.family, file.key, f"file {file.key} {why}")
        )


__all__ = [
    "MediaPim",
    "MediaProgress",
    "PamFetcher",
    "PamTransfers",
    "Resolved",
    "TransferCounts",
    "TransfersStopped",
]
