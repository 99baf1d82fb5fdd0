"""
Pure helpers of a sync pass: window planning, batching, cursor advancement.

Nothing here does I/O or reads a clock: the shell (``daemon/sync.py``) passes times in. The rules
come from ``sync-engineering.md`` ("Rules our daemon must obey", 1-8).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from daemon.models import Cursor, DamAsset, Window


def plan_window(
    cursor: Cursor | None,
    source_now: datetime,
    *,
    lookback: timedelta,
    settle_delay: timedelta,
    previous_until: datetime | None = None,
) -> Window:
    """
    The frozen window of one poll: ``[cursor - lookback, source_now - settle_delay)``.

    ``source_now`` is the DAM's clock. The upper bound never goes back in time, even when the
    DAM's clock does (then the window is empty and the pass reads nothing new).

    Args:
        cursor: The stored cursor, or ``None`` for a first full read.
        source_now: The DAM's current time.
        lookback: How far before the cursor to read again (late commits, clock skew).
        settle_delay: How long a change must be old before it is read.
        previous_until: The last window's upper bound, if any.
    """
    until = source_now - settle_delay
    if previous_until is not None and until < previous_until:
        until = previous_until
    since = None if cursor is None else min(cursor.updated_at - lookback, until)
    return Window(since=since, until=until)


def advance(current: Cursor | None, candidate: Cursor | None, until: datetime) -> Cursor | None:
    """
    The cursor to store: never backwards, never past the window's upper bound (rule 4).
    """
    if candidate is None:
        return current
    if candidate.updated_at >= until:
        # Can only happen with a DAM that ignores the upper bound; keep the cursor inside it.
        return current
    if current is None or candidate > current:
        return candidate
    return current


@dataclass(slots=True)
class Batcher:
    """
    Groups assets into batches bounded by count and by an estimate of their size.

    The size is estimated from the DAM metadata, which dominates the PIM payload; it keeps a
    batch of huge records from building a huge request body.
    """

    max_items: int = 100
    max_bytes: int = 4 * 1024 * 1024
    _items: list[DamAsset] = field(default_factory=list)
    _bytes: int = 0

    def add(self, asset: DamAsset) -> list[DamAsset] | None:
        """Add one asset; returns a full batch when this one would overflow the current one."""
        size = estimate_size(asset)
        flushed = None
        if self._items and (
            len(self._items) >= self.max_items or self._bytes + size > self.max_bytes
        ):
            flushed = self.flush()
        self._items.append(asset)
        self._bytes += size
        return flushed

    def flush(self) -> list[DamAsset]:
        items, self._items, self._bytes = self._items, [], 0
        return items

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class FamilyBatcher:
    """
    One :class:`Batcher` per destination (asset family), so that every bulk PATCH is full.

    Interleaved families would otherwise cut every batch short: 100 assets split over two
    families cost two PATCHes instead of one. The price is that the cursor may only move up
    to just before the oldest asset still waiting in a buffer: :meth:`safe_cursor`.
    """

    max_items: int = 100
    max_bytes: int = 4 * 1024 * 1024
    _buffers: dict[str, Batcher] = field(default_factory=dict)
    #: For each non-empty buffer, the cursor read just before its first waiting asset.
    _anchors: dict[str, Cursor | None] = field(default_factory=dict)
    _last: Cursor | None = None

    def add(self, asset: DamAsset, key: str) -> list[DamAsset] | None:
        """Add ``asset`` to buffer ``key``; returns that buffer's full batch, if any."""
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = Batcher(self.max_items, self.max_bytes)
        full = buffer.add(asset)
        if full is not None or key not in self._anchors:
            # The buffer (re)starts with this asset.
            self._anchors[key] = self._last
        self._last = asset.cursor if self._last is None else max(self._last, asset.cursor)
        return full

    def safe_cursor(self) -> Cursor | None:
        """
        The highest cursor below every waiting asset: all assets read up to it are flushed.
        """
        waiting = [self._anchors[k] for k, b in self._buffers.items() if len(b)]
        if not waiting:
            return self._last
        if any(anchor is None for anchor in waiting):
            return None
        return min(a for a in waiting if a is not None)

    def drain(self) -> list[list[DamAsset]]:
        """Every waiting batch (end of the window)."""
        batches = [b.flush() for b in self._buffers.values() if len(b)]
        self._anchors.clear()
        return batches


def estimate_size(asset: DamAsset) -> int:
    """A cheap upper-bound-ish size of the asset's payload in bytes."""
    return 256 + _size(asset.metadata)


_SCALARS = (int, float, bool, type(None))


def _size(value: object) -> int:
    # Exact types first (parsed JSON); leaves are counted inline, without a call per value.
    if type(value) is str or isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        total = 2
        for k, v in value.items():
            kind = type(v)
            total += len(k if type(k) is str else str(k)) + 4
            total += len(v) + 2 if kind is str else 8 if kind in _SCALARS else _size(v)
        return total
    if isinstance(value, list | tuple):
        total = 2
        for v in value:
            kind = type(v)
            total += (len(v) + 2 if kind is str else 8 if kind in _SCALARS else _size(v)) + 1
        return total
    return 8


def dedupe_page(assets: Iterable[DamAsset]) -> list[DamAsset]:
    """
    Drop repeated ids inside one page, keeping the newest version of each.

    A DAM may list the same asset twice in a page (a change between two queries behind its
    pagination); writing both would send stale data after fresh data.
    """
    newest: dict[str, DamAsset] = {}
    for asset in assets:
        seen = newest.get(asset.id)
        if seen is None or asset.updated_at >= seen.updated_at:
            newest[asset.id] = asset
    return sorted(newest.values(), key=lambda a: a.cursor)


def max_cursor(assets: Sequence[DamAsset]) -> Cursor | None:
    return max((a.cursor for a in assets), default=None)


__all__ = [
    "Batcher",
    "FamilyBatcher",
    "advance",
    "dedupe_page",
    "estimate_size",
    "max_cursor",
    "plan_window",
]
