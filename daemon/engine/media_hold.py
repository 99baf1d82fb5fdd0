"""
Where a small binary waits between its download and its upload: in memory, not in the spool.

A binary whose announced size is at most ``memory_binary_bytes`` (:data:`MEMORY_BINARY_BYTES`
by default) is collected in memory while it streams, verified as a whole (the source checks
length and checksum when the stream ends, before the upload starts), then uploaded as one body
built once, which a retry resends unchanged. A larger binary, or one of unknown size, goes
through the spool file of :mod:`daemon.engine.media_spool`. Transfers of one binary at the
same time wait for each other on its key (:class:`KeyLocks`). The hold is bounded by the
*announced* size, not by trust in it: a stream longer than announced stops at the first chunk
past it, as a per-asset error.

Memory bound: at most ``media_concurrency`` binaries are held at once (the transfer slots), each
at most ``memory_binary_bytes``, and while one is uploaded its multipart body is a second copy:
``media_concurrency × 2 × memory_binary_bytes`` in all (32 MiB at the defaults, 8 × 2 × 2 MiB).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daemon.core.errors import SourceAssetError
from daemon.core.records import DamAsset
from daemon.engine.media_spool import BinaryOpener, SpoolFile

#: The default largest announced size held in memory instead of spooled: 2 MiB.
MEMORY_BINARY_BYTES = 2 << 20


@dataclass(frozen=True, slots=True, repr=False)
class HeldBytes:
    """
    A verified binary in memory, as the uploader takes it.

    It is what :class:`daemon.pim.media.HeldBinary` describes (``held`` and a stream factory):
    the PIM client sends ``held`` as one body built once, the same bytes on every attempt.
    """

    held: bytes

    def __call__(self) -> AsyncIterator[bytes]:
        return _once(self.held)

    def __repr__(self) -> str:
        return f"HeldBytes({len(self.held)} bytes)"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class BinaryStage(Protocol):
    """Where one binary waits between download and upload (a spool file or memory)."""

    @property
    def name(self) -> str:
        """A file name for a binary the DAM names not."""
        ...

    @property
    def upload_source(self) -> Path | HeldBytes:
        """What the uploader is given: the spool file's path or the held bytes."""
        ...

    async def fill(
        self, source: BinaryOpener, asset: DamAsset, update: Callable[[bytes], object], limit: int
    ) -> int: ...

    def remove(self) -> None: ...


class MemoryHold:
    """
    One binary held in memory, at most ``announced`` bytes.

    Args:
        announced: The size the DAM announced (the caller checked it against the limits).
    """

    def __init__(self, announced: int) -> None:
        self.announced = announced
        self.name = f"damsync-{secrets.token_hex(4)}"
        self._data = b""

    @property
    def upload_source(self) -> HeldBytes:
        return HeldBytes(self._data)

    async def fill(
        self, source: BinaryOpener, asset: DamAsset, update: Callable[[bytes], object], limit: int
    ) -> int:
        """
        Collect ``asset``'s binary, passing every chunk to ``update``.

        ``limit`` (``max_binary_bytes``) is at least the announced size, which bounds the hold.

        Returns:
            The number of bytes held.

        Raises:
            SourceAssetError: the stream is longer than announced.
        """
        bound = min(self.announced, limit)
        chunks: list[bytes] = []
        size = 0
        async with source.open_binary(asset) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > bound:
                    raise SourceAssetError(
                        asset_id=asset.id,
                        field="size",
                        path="binary",
                        reason=f"download longer than the announced {bound} bytes",
                    )
                update(chunk)
                chunks.append(chunk)
        self._data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return size

    def remove(self) -> None:
        """Let the bytes go."""
        self._data = b""


class KeyLocks:
    """One lock per binary key, kept while a transfer holds it or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str | None) -> AsyncIterator[None]:
        """Hold ``key``'s lock (nothing for ``None``)."""
        if key is None:
            yield
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def stage_for(
    asset: DamAsset, *, memory_limit: int, max_binary_bytes: int, spool_dir: Path | None
) -> BinaryStage:
    """
    Memory for a binary announced within both limits, else a spool file.

    Raises:
        SpoolUnavailableError: a spool file was needed and cannot be created.
    """
    announced = asset.binary.size if asset.binary is not None else None
    if announced is not None and announced <= min(memory_limit, max_binary_bytes):
        return MemoryHold(announced)
    return SpoolFile(spool_dir)


__all__ = [
    "MEMORY_BINARY_BYTES",
    "BinaryStage",
    "HeldBytes",
    "KeyLocks",
    "MemoryHold",
    "stage_for",
]
