"""
Moving binaries from the DAM to the PIM: download and verify, checksum, upload once.

A binary is verified whole before its upload starts (a checksum mismatch uploads nothing). A
small one, announced at most ``memory_binary_bytes``, waits in memory and goes as one body built
once (:mod:`daemon.engine.media_hold`, which states the memory bound); a larger one, or one of
unknown size, is streamed into a spool file while its SHA-256 is computed, then uploaded from
that file (re-opened on every retry). A binary whose checksum already has a media file code in
the store is never uploaded again: a batch's codes are read in one trip
(:meth:`MediaTransfer.prefetch`), an upload's is recorded at once (the uploads that finish
together share one store write, :mod:`daemon.engine.media_ledger`). The
spool file, its size cap and what its OS errors mean live in :mod:`daemon.engine.media_spool`.

Media codes are keyed by the normalised checksum ``algorithm:hex``
(:attr:`daemon.sources.checksums.Checksum.key`), so ``9F86…``, ``sha256:9f86…`` and the same
digest in base64 are one binary. Codes recorded before that form existed are keyed by the bare
hex digest (the DAM's value as announced, or our SHA-256): a lookup that misses the normalised
key tries those too, so no binary is uploaded again after an upgrade.

Transfers of one binary at the same time (an asset's several values, or several assets sharing a
file, e.g. one legal PDF as every asset's manual) go one after the other, keyed by the announced
checksum (before the download) and by our SHA-256 (before the upload): the later ones find the
media code the first recorded, so a binary is uploaded once even within one batch.

A media file keeps the filename of its first upload. When the PIM reads that name (a family's
naming convention on its main media: the PIM extracts the product from the file's original
filename, ``akeneo-api.md`` §2), an upload of the same bytes under another name is not the same
media file: such a transfer (``keep_filename``) reuses only an upload of the same bytes *and*
filename, found under a key of both (:func:`named_key`), and records its own upload there.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from daemon.core.errors import SourceAssetError
from daemon.core.records import BinaryRef, DamAsset
from daemon.engine.media_hold import (
    MEMORY_BINARY_BYTES,
    BinaryStage,
    HeldBytes,
    KeyLocks,
    stage_for,
)
from daemon.engine.media_ledger import MediaLedger
from daemon.engine.media_spool import DEFAULT_MAX_BINARY_BYTES, BinaryOpener, SpoolFile
from daemon.sources.checksums import (
    Checksum,
    ChecksumFormatError,
    UnusableBinaryError,
    parse_checksum,
    unusable,
)

log = structlog.get_logger(__name__)

#: Keys a transfer keeps noted (known codes and known absences) before it starts again.
_NOTED_KEYS = 100_000


class MediaUploader(Protocol):
    async def upload_media_file(
        self, path: Path | HeldBytes, *, filename: str, mime_type: str | None = None
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Transferred:
    """A binary now known to the PIM."""

    checksum: str  # ``algorithm:hex`` of the DAM's checksum when it gave one, else of our SHA-256
    media_code: str
    uploaded: bool
    size: int


class MediaTransfer:
    """
    Moves binaries DAM -> memory or spool file -> PIM with bounded concurrency.

    Args:
        source: Opens binaries.
        pim: Uploads them.
        known_code: ``checksum -> media code`` lookup in the store (called off the event loop).
            It is asked for the normalised key (``sha256:<hex>``) first, then for the legacy
            bare-hex keys of earlier versions.
        concurrency: Transfers at once.
        spool_dir: Where spool files go (default: the system temp dir).
        remember: Records ``{checksum: media code}`` in one store transaction; called right
            after uploads (those finishing together share one call).
        max_binary_bytes: Largest binary downloaded (``sync.max_binary_bytes``).
        memory_binary_bytes: Largest announced size held in memory instead of spooled.
        known_codes: ``checksums -> {checksum: media code}`` in one store read, for
            :meth:`prefetch` (default: ``known_code`` per key, in the same worker trip).
    """

    def __init__(
        self,
        source: BinaryOpener,
        pim: MediaUploader,
        known_code: Callable[[str], str | None],
        *,
        concurrency: int = 4,
        spool_dir: Path | None = None,
        remember: Callable[[Mapping[str, str]], None] | None = None,
        max_binary_bytes: int = DEFAULT_MAX_BINARY_BYTES,
        memory_binary_bytes: int = MEMORY_BINARY_BYTES,
        known_codes: Callable[[list[str]], dict[str, str]] | None = None,
    ) -> None:
        self._source = source
        self._pim = pim
        self._known_code = known_code
        self._known_codes = known_codes or functools.partial(_all_known, known_code)
        self._slots = asyncio.Semaphore(concurrency)
        self._spool_dir = spool_dir
        self._remember = remember
        self._ledger = MediaLedger(remember) if remember is not None else None
        self._max_binary_bytes = max_binary_bytes
        self._memory_binary_bytes = memory_binary_bytes
        self._spool_probed = False
        self._keys = KeyLocks()
        # Codes known to this process (found, or recorded by its uploads) and keys the store
        # was asked for without an answer: a lookup they answer needs no worker-thread trip.
        self._codes: dict[str, str] = {}
        self._absent: set[str] = set()
        self.uploaded_bytes = 0

    async def prefetch(self, binaries: Iterable[BinaryRef]) -> None:
        """
        Look up the media codes of a batch's ``binaries`` (by announced checksum) in one
        worker-thread trip, so their transfers ask the store nothing more. A key found absent
        stays absent until this process records it: a source's codes are recorded by the
        process that owns it.
        """
        keys = [
            key
            for binary in binaries
            for key in binary_keys(binary)
            if key not in self._codes and key not in self._absent
        ]
        if not keys or self._remember is None:
            return
        found = await asyncio.to_thread(self._known_codes, list(dict.fromkeys(keys)))
        self._note(found, [key for key in keys if key not in found])

    async def transfer(self, asset: DamAsset, *, keep_filename: bool = False) -> Transferred:
        """
        Make ``asset``'s binary available in the PIM and return its media file code.

        Args:
            asset: The asset, its ``binary`` the one to move.
            keep_filename: The PIM reads this media file's original filename (the value a
                family's naming convention reads): an earlier upload of the same bytes is
                reused only if it was uploaded under the same filename.

        Raises:
            SourceAssetError: the asset has no binary, or it could not be read completely.
            SourceError, PimError: transient or permanent upstream failures.
            BinaryTooLargeError, SpoolFullError: this binary cannot be spooled (per asset).
            SpoolUnavailableError: no binary can be spooled (the pass fails); the directory is
                probed at the first transfer even when the binary is held in memory.
        """
        binary = asset.binary
        if binary is None:
            raise SourceAssetError(
                asset_id=asset.id, field="binary", path="binary", reason="asset has no binary"
            )
        announced = _announced(asset)
        name = _Name(keep_filename, binary.filename)
        if announced is None:
            return await self._move(asset, None, name)
        keys = name.keys(announced, binary.checksum)
        code = await self._lookup(keys, set())
        if code is None:
            async with self._keys.hold(announced.key):
                # Again under the lock (cheap: memory first): it may have moved meanwhile.
                code = await self._lookup(keys, set())
                if code is None:
                    return await self._move(asset, announced, name)
        return Transferred(announced.key, code, uploaded=False, size=binary.size or 0)

    async def _move(self, asset: DamAsset, announced: Checksum | None, name: _Name) -> Transferred:
        """
        Download into memory or the spool, then upload unless our SHA-256 has a code. The slot
        is given back once the binary is uploaded and let go: recording the code holds its key.
        """
        await self._slots.acquire()
        holds_slot = True
        try:
            if not self._spool_probed:
                # A broken spool directory fails the first transfer, as it did when every
                # binary was spooled, not the first large binary days later.
                SpoolFile(self._spool_dir).remove()
                self._spool_probed = True
            stage = stage_for(
                asset,
                memory_limit=self._memory_binary_bytes,
                max_binary_bytes=self._max_binary_bytes,
                spool_dir=self._spool_dir,
            )
            try:
                digest = hashlib.sha256()
                size = await stage.fill(self._source, asset, digest.update, self._max_binary_bytes)
                # The source verified the DAM's own checksum (whatever its algorithm); ours is
                # SHA-256 of what we really read, so identical binaries share one upload.
                ours = Checksum("sha256", digest.digest())
                key = announced.key if announced is not None else ours.key
                # Held already when announced as this SHA-256 (the lock is not re-entrant).
                inner = None if ours.key == key and announced is not None else ours.key
                async with self._keys.hold(inner):
                    reuse = name.keys(ours, None)
                    code = await self._lookup(reuse, set())
                    if code is not None:
                        return Transferred(key, code, uploaded=False, size=size)
                    filename, code = await self._upload(stage, asset, size)
                    stage.remove()
                    self._slots.release()
                    holds_slot = False
                    await self._record(key, ours, name, filename, code)
                    return Transferred(key, code, uploaded=True, size=size)
            finally:
                stage.remove()
        finally:
            if holds_slot:
                self._slots.release()

    async def _upload(self, stage: BinaryStage, asset: DamAsset, size: int) -> tuple[str, str]:
        """Upload a verified binary; its filename and media code."""
        binary = asset.binary
        assert binary is not None
        filename = binary.filename or stage.name
        code = await self._pim.upload_media_file(
            stage.upload_source, filename=filename, mime_type=binary.mime_type
        )
        self.uploaded_bytes += size
        if _debugging():  # skipped, the line costs a logger bind per upload
            log.debug("media.uploaded", asset=asset.id, bytes=size)
        return filename, code

    async def _record(
        self, key: str, ours: Checksum, name: _Name, filename: str, code: str
    ) -> None:
        """Record an upload's code under its keys at once."""
        if self._ledger is not None:
            # At once, not with the batch: a crash must not cost a second upload. Found by our
            # own SHA-256 too, when another asset comes without a checksum or with another
            # algorithm's; under its filename too when it is kept (transfers that need it).
            codes = dict.fromkeys([key, ours.key, *name.recorded(key, ours.key, filename)], code)
            await self._ledger.record(codes)
            self._note(codes, [])

    async def _lookup(self, keys: list[str], tried: set[str]) -> str | None:
        """The first media code known under ``keys``, skipping keys already asked for."""
        fresh = [key for key in keys if key not in tried]
        if not fresh:
            return None
        tried.update(fresh)
        for key in fresh:
            if key in self._codes:
                return self._codes[key]
        ask = [key for key in fresh if key not in self._absent]
        if not ask:
            return None
        # One trip to a worker thread for all of them: the hop costs more than a lookup.
        code = await asyncio.to_thread(_first_known, self._known_code, ask)
        if code is None:
            self._note({}, ask)
        return code

    def _note(self, found: dict[str, str], absent: list[str]) -> None:
        """Keep what the store answered, within a bound (then start again: only a cache)."""
        if len(self._codes) + len(self._absent) > _NOTED_KEYS:
            self._codes.clear()
            self._absent.clear()
        self._codes.update(found)
        self._absent.difference_update(found)
        if self._remember is not None:  # else an upload is recorded only by its batch
            self._absent.update(absent)


def _debugging() -> bool:
    """Whether structlog's configured logger writes debug lines."""
    enabled = getattr(structlog.get_config()["wrapper_class"], "is_enabled_for", None)
    return enabled is None or bool(enabled(None, logging.DEBUG))


def _all_known(known_code: Callable[[str], str | None], keys: list[str]) -> dict[str, str]:
    """The codes stored under ``keys``, those that have one (in a worker thread)."""
    return {key: code for key in keys if (code := known_code(key)) is not None}


def _first_known(known_code: Callable[[str], str | None], keys: list[str]) -> str | None:
    """The code stored under the first of ``keys`` that has one (in a worker thread)."""
    for key in keys:
        code = known_code(key)
        if code is not None:
            return code
    return None


@functools.lru_cache(maxsize=4096)
def _parsed(value: str) -> Checksum:
    """``parse_checksum(value, None)``, kept: the prefetch and the transfer read each value."""
    return parse_checksum(value, None)


def _announced(asset: DamAsset) -> Checksum | None:
    """
    The binary's announced checksum, or None without one.

    Its algorithm is the prefix's or, for a bare digest, told by the digest's size: the source
    holds the value to its ``checksum_algorithm`` when it verifies the download.

    Raises:
        UnusableBinaryError: the value is no digest of a supported algorithm.
    """
    assert asset.binary is not None
    value = asset.binary.checksum
    if not value:
        return None
    try:
        return _parsed(value)
    except ChecksumFormatError as exc:
        raise UnusableBinaryError(
            asset_id=asset.id, field="checksum", path="binary.checksum", reason=unusable(value, exc)
        ) from None


def binary_keys(binary: BinaryRef) -> list[str]:
    """
    The store keys a binary's media code is found under, from its announced checksum alone
    (no download): empty without a checksum, or with one that is no digest.
    """
    if not binary.checksum:
        return []
    try:
        announced = _parsed(binary.checksum)
    except ChecksumFormatError:
        return []
    return _keys(announced, binary.checksum)


def named_key(key: str, filename: str) -> str:
    """
    The store key of a binary uploaded under ``filename``: its checksum key and a digest of the
    name (a filename may be long; the key stays within the store's 128 characters).
    """
    return f"{key}#name:{hashlib.sha256(filename.encode()).hexdigest()[:40]}"


@dataclass(frozen=True, slots=True)
class _Name:
    """Whether a transfer keeps its filename, and which: what its reuse keys are."""

    kept: bool
    filename: str | None

    def keys(self, checksum: Checksum, announced: str | None) -> list[str]:
        """The keys an earlier upload is found under: by name when kept (none without one)."""
        if not self.kept:
            return _keys(checksum, announced)
        return [named_key(checksum.key, self.filename)] if self.filename else []

    def recorded(self, key: str, ours: str, uploaded_as: str) -> list[str]:
        """The named keys an upload under ``uploaded_as`` is recorded under, when kept."""
        if not self.kept or self.filename != uploaded_as:
            return []
        return [named_key(key, uploaded_as), named_key(ours, uploaded_as)]


def _keys(checksum: Checksum, announced: str | None) -> list[str]:
    """Store keys of a binary: the normalised one, then those of earlier versions (bare hex)."""
    keys = [checksum.key, checksum.hex]
    if announced is not None and ":" not in announced and announced.strip() not in keys:
        keys.append(announced.strip())
    return keys


__all__ = [
    "BinaryOpener",
    "MediaTransfer",
    "MediaUploader",
    "Transferred",
    "binary_keys",
    "named_key",
]
