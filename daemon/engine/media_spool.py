"""
The spool: where a binary waits between its download and its upload, and what its OS errors mean.

Only binaries too large, or of unknown size, to be held in memory come here
(:mod:`daemon.engine.media_hold`); the directory is still probed at the first transfer.

Every OS error of the spool is classified here, once:

- ENOSPC, EDQUOT or EFBIG while one binary is written: that binary does not fit now, a smaller
  one may. :class:`SpoolFullError` is a per-asset failure, retried with backoff.
- Anything else (the directory is missing, read-only or not writable, an I/O error): no binary
  can be spooled. :class:`SpoolUnavailableError` fails the pass with one line naming the
  directory, instead of failing every asset of every batch.

A binary is also bounded while it streams: past ``max_binary_bytes`` (announced by the DAM or
not) the download stops with :class:`BinaryTooLargeError`, a permanent per-asset failure.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import structlog

from daemon.core.errors import PermanentError, SyncError, TransientError
from daemon.core.records import DamAsset

log = structlog.get_logger(__name__)

#: The default of ``[sources.sync] max_binary_bytes``: 2 GiB.
DEFAULT_MAX_BINARY_BYTES = 2 << 30
MAX_BINARY_KEY = "sync.max_binary_bytes"
SPOOL_KEY = "runtime.spool_dir"
#: Write errors that concern the binary being written, not the spool.
PER_BINARY_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _cause(error: OSError) -> str:
    code = errno.errorcode.get(error.errno or 0, "unknown error")
    return f"{error.strerror or error} ({code})"


class SpoolUnavailableError(SyncError, PermanentError):
    """The spool directory cannot hold any binary: the pass fails, naming the directory."""

    def __init__(self, directory: str, error: OSError) -> None:
        self.directory = directory
        super().__init__(
            f"spool directory {directory!r} is not usable: {_cause(error)}; "
            f"set {SPOOL_KEY} to a writable directory with room for the largest binary"
        )


class SpoolFullError(SyncError, TransientError):
    """One binary did not fit in the spool (no space, quota, file size limit); retried later."""

    def __init__(self, asset_id: str, path: str, error: OSError, written: int) -> None:
        self.asset_id = asset_id
        super().__init__(
            f"asset {asset_id!r}: its binary does not fit in the spool file {path!r}: "
            f"{_cause(error)} after {written} bytes; retried later"
        )


class BinaryTooLargeError(SyncError, PermanentError):
    """A binary over ``max_binary_bytes``: permanent until the DAM's file changes."""

    def __init__(self, asset_id: str, limit: int, *, announced: int | None, read: int) -> None:
        self.asset_id = asset_id
        self.limit = limit
        size = f"is {announced} bytes" if announced is not None else f"passed {read} bytes"
        super().__init__(
            f"asset {asset_id!r}: binary {size}, over the {limit}-byte limit ({MAX_BINARY_KEY})"
        )


def spool_failure(
    error: OSError, *, directory: str, asset_id: str, path: str, written: int
) -> SyncError:
    """What an OS error while writing one binary to the spool means (see the module docstring)."""
    if error.errno in PER_BINARY_ERRNOS:
        return SpoolFullError(asset_id, path, error, written)
    return SpoolUnavailableError(directory, error)


class BinaryOpener(Protocol):
    def open_binary(self, asset: DamAsset) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...


class SpoolFile:
    """
    One binary's spool file: created, filled from the DAM, removed.

    Args:
        directory: The spool directory, or ``None`` for the system temp dir.

    Raises:
        SpoolUnavailableError: no file can be created there.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = str(directory) if directory is not None else tempfile.gettempdir()
        try:
            fd, name = tempfile.mkstemp(prefix="damsync-", dir=self.directory)
        except OSError as exc:
            raise SpoolUnavailableError(self.directory, exc) from exc
        self.path = Path(name)
        self._handle = os.fdopen(fd, "wb")

    @property
    def name(self) -> str:
        """The file's name, for a binary the DAM names not."""
        return self.path.name

    @property
    def upload_source(self) -> Path:
        """What the uploader reads (it re-opens the file per attempt)."""
        return self.path

    async def fill(
        self, source: BinaryOpener, asset: DamAsset, update: Callable[[bytes], object], limit: int
    ) -> int:
        """
        Stream ``asset``'s binary into the file, passing every chunk to ``update``.

        Returns:
            The number of bytes written.

        Raises:
            BinaryTooLargeError: the binary is (or turns out) larger than ``limit``.
            SpoolFullError, SpoolUnavailableError: see :func:`spool_failure`.
        """
        announced = asset.binary.size if asset.binary is not None else None
        if announced is not None and announced > limit:
            raise BinaryTooLargeError(asset.id, limit, announced=announced, read=0)
        size = 0
        async with source.open_binary(asset) as chunks:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    # Checked while streaming: a DAM that announces no size is bounded too.
                    raise BinaryTooLargeError(asset.id, limit, announced=None, read=size)
                update(chunk)
                self._io(functools.partial(self._handle.write, chunk), asset.id, size)
        self._io(self._handle.close, asset.id, size)  # a full disk may only show on the flush
        return size

    def _io(self, action: Callable[[], object], asset_id: str, written: int) -> None:
        try:
            action()
        except OSError as exc:
            raise spool_failure(
                exc,
                directory=self.directory,
                asset_id=asset_id,
                path=str(self.path),
                written=written,
            ) from exc

    def remove(self) -> None:
        """Close and delete the file; never raises (it runs while another error unwinds)."""
        # After a failed write the buffered rest cannot be flushed either: the close still
        # releases the descriptor.
        with contextlib.suppress(OSError):
            self._handle.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("media.spool_not_removed", path=str(self.path), error=_cause(exc))


__all__ = [
    "DEFAULT_MAX_BINARY_BYTES",
    "BinaryOpener",
    "BinaryTooLargeError",
    "SpoolFile",
    "SpoolFullError",
    "SpoolUnavailableError",
    "spool_failure",
]
