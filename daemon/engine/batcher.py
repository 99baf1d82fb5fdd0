"""
Grouping assets into bounded batches: at most :data:`BULK_LIMIT` assets and a byte budget
per batch, one asset family per batch, so that every PIM bulk PATCH is as full as it can be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from daemon.core.records import Cursor, DamAsset
from daemon.mapping import AssetKey

#: Akeneo's bulk asset PATCH takes at most this many assets per request: every batch of the
#: engine (a pass, a retry, a reconcile sweep) is cut here, and only here.
BULK_LIMIT = 100

_SCALARS = (int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class Routed:
    """
    An asset and where it goes, found once when it is read: the key travels with it to mapping.

    ``key`` is ``None`` for an asset that makes no PIM PATCH (a deletion, an unmatched or an
    unmappable asset); mapping then says why in full.
    """

    asset: DamAsset
    key: AssetKey | None = None

    @property
    def family(self) -> str:
        """The buffer this asset waits in: its asset family, or ``""``."""
        return self.key.family if self.key is not None else ""


@dataclass(slots=True)
class Batcher:
    """
    Groups assets into batches bounded by count and by an estimate of their size.

    The size is estimated from the DAM metadata, which dominates the PIM payload; it keeps a
    batch of huge records from building a huge request body.
    """

    max_items: int = BULK_LIMIT
    max_bytes: int = 4 * 1024 * 1024
    _items: list[Routed] = field(default_factory=list)
    _bytes: int = 0

    def add(self, item: Routed) -> list[Routed] | None:
        """Add one asset; returns a full batch when this one would overflow the current one."""
        size = estimate_size(item.asset)
        flushed = None
        if self._items and (
            len(self._items) >= self.max_items or self._bytes + size > self.max_bytes
        ):
            flushed = self.flush()
        self._items.append(item)
        self._bytes += size
        return flushed

    def flush(self) -> list[Routed]:
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

    max_items: int = BULK_LIMIT
    max_bytes: int = 4 * 1024 * 1024
    _buffers: dict[str, Batcher] = field(default_factory=dict)
    #: For each non-empty buffer, the cursor read just before its first waiting asset.
    _anchors: dict[str, Cursor | None] = field(default_factory=dict)
    _last: Cursor | None = None

    def add(self, item: Routed) -> list[Routed] | None:
        """Add ``item`` to its family's buffer; returns that buffer's full batch, if any."""
        asset, key = item.asset, item.family
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = Batcher(self.max_items, self.max_bytes)
        full = buffer.add(item)
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

    def drain(self) -> list[list[Routed]]:
        """Every waiting batch (end of the window)."""
        batches = [b.flush() for b in self._buffers.values() if len(b)]
        self._anchors.clear()
        return batches


def estimate_size(asset: DamAsset) -> int:
    """A cheap upper-bound-ish size of the asset's payload in bytes."""
    return 256 + _size(asset.metadata)


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


__all__ = ["BULK_LIMIT", "Batcher", "FamilyBatcher", "Routed", "estimate_size"]
