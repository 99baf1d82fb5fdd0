"""
The seam between the sync engine and every DAM: the :class:`DamSource` Protocol and its factory.

The engine owns this Protocol; sources implement it. What a source guarantees:

- :meth:`DamSource.changes` yields every asset whose ``updated_at`` lies in the window
  ``[since, until)`` (on the DAM's clock) and that was unchanged while the window was read,
  at least once, in pages sorted by ``(updated_at, id)``. An asset changed while paging has a
  new ``updated_at`` at or after ``until`` and belongs to a later window.
- With ``sorted_by_cursor`` the pages are also in ascending order across the window, so the
  engine may checkpoint after every acked page. Without it, the order only holds inside a page
  and the engine must advance its checkpoint at the end of the window only.
- A record that cannot be read becomes a :class:`~daemon.core.errors.SourceAssetError` in
  ``SourcePage.errors``; a page that cannot be read raises
  :class:`~daemon.core.errors.SourceProtocolError`; transient failures raise
  :class:`~daemon.core.errors.SourceUnavailable` after the shared retry policy gave up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from daemon.core.records import DamAsset, SourcePage, Window
from daemon.settings.dam_sources import SourceSettings
from daemon.upstream.policy import RequestObserver, RetryPolicy


@runtime_checkable
class DamSource(Protocol):
    """One DAM, read incrementally."""

    name: str
    sorted_by_cursor: bool

    async def server_now(self) -> datetime:
        """The DAM's own current time (``Date`` header or server-time field), UTC."""
        ...

    def changes(self, window: Window) -> AsyncIterator[SourcePage]:
        """Pages of the assets changed in ``[window.since, window.until)``."""
        ...

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        """The current state of these assets; unknown ids are per-asset errors."""
        ...

    def open_binary(self, asset: DamAsset) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream the asset's binary in chunks, verifying size and checksum when known."""
        ...

    def all_ids(self) -> AsyncIterator[Sequence[str]]:
        """Every live id, in batches, for reconciliation (hard deletes)."""
        ...

    async def aclose(self) -> None:
        """Release connections; idempotent."""
        ...


def build_source(
    name: str,
    settings: SourceSettings | Mapping[str, object],
    *,
    observer: RequestObserver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    monotonic: Callable[[], float] | None = None,
    retry_cap: RetryPolicy | None = None,
) -> DamSource:
    """
    Build the source a configuration describes.

    Args:
        name: The source name (metrics label, logs).
        settings: Validated settings, or a raw ``[[sources]]`` table.
        observer: HTTP metrics hook for REST sources.
        transport: Injected transport (tests mount the DAM simulator here).
        monotonic: Elapsed-time clock of the REST clock anchor (tests tie it to a fake clock).
        retry_cap: Caps a REST source's configured retry policy (one-shot commands).

    Returns:
        A ready source; the caller closes it with ``aclose()``.
    """
    # Imported here: the implementations import this module for the Protocol.
    from daemon.settings.dam_sources import load_source_settings
    from daemon.sources.folder import FolderSource
    from daemon.sources.rest import RestSource

    if not isinstance(settings, SourceSettings):
        settings = load_source_settings(settings)
    if settings.kind == "folder":
        assert settings.folder is not None
        return FolderSource(name, settings.folder)
    assert settings.rest is not None
    extra = {"monotonic": monotonic} if monotonic is not None else {}
    return RestSource(
        name,
        settings.rest,
        settings.http,
        observer=observer,
        transport=transport,
        retry_cap=retry_cap,
        **extra,
    )


__all__ = ["DamSource", "build_source"]
