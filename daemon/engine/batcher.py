"""
Grouping assets into bounded batches: at most :data:`BULK_LIMIT` assets and a byte budget
per batch, one asset family per batch, so that every PIM bulk PATCH is as full as it can be.

Only assets that need a write count: an asset found unchanged before it is batched (see
:mod:`daemon.engine.screening`) waits aside and rides with the next batch cut, so a family
costs ``ceil(changed / BULK_LIMIT)`` PATCHes however its unchanged assets interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from daemon.core.records import Cursor, DamAsset, PimAsset
from daemon.mapping import AssetKey

if TYPE_CHECKING:
    from daemon.mapping import MappingResult

#: Akeneo's bulk asset PATCH takes at most this many assets per request: every batch of the
#: engine (a pass, a retry, a reconcile sweep) is cut here, and only here.
BULK_LIMIT = 100

_SCALARS = (int, float, bool, type(None))

#: A cursor as the batcher keeps it: ``(updated_at, id)`` orders exactly as :class:`Cursor`
#: does, without building (and checking the time zone of) a Cursor per asset.
_Position = tuple[datetime, str]


def _cursor(position: _Position | None) -> Cursor | None:
    return None if position is None else Cursor(position[0], position[1])


@dataclass(frozen=True, slots=True)
class Routed:
    """
    An asset and where it goes, found once when it is read: the key travels with it to mapping.

    ``key`` is ``None`` for an asset that makes no PIM PATCH (a deletion, an unmatched or an
    unmappable asset); mapping then says why in full.

    Args:
        asset: The DAM asset.
        key: Its family and code.
        outcome: Its mapping, when it was screened before batching.
        mapper: The mapper that gave ``outcome``: the writer maps again with any other one.
        unchanged: Its content equals the stored one: no PATCH, counted ``unchanged``.
    """

    asset: DamAsset
    key: AssetKey | None = None
    outcome: MappingResult | None = None
    mapper: object = None
    unchanged: bool = False

    @property
    def family(self) -> str:
        """The buffer this asset waits in: its asset family, or ``""`` when it sends no value."""
        if self.key is None or (self.outcome is not None and self.outcome.kind != "mapped"):
            return ""
        return self.key.family

    def size(self) -> int:
        """An estimate of its bytes in a PATCH body (from its mapped values when screened)."""
        outcome = self.outcome
        if outcome is not None and outcome.kind == "mapped":
            return pim_size(outcome.asset)
        return estimate_size(self.asset)


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
        size = item.size()
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

    Unchanged assets (:attr:`Routed.unchanged`) wait in a buffer of their own that never cuts
    a family's batch: they ride with the next batch cut, or go alone (no PATCH, one commit)
    once ``max_items`` of them wait. Until then they hold the cursor like any waiting asset.
    """

    max_items: int = BULK_LIMIT
    max_bytes: int = 4 * 1024 * 1024
    _buffers: dict[str, Batcher] = field(default_factory=dict)
    #: For each non-empty buffer, the position read just before its first waiting asset.
    _anchors: dict[str, _Position | None] = field(default_factory=dict)
    #: The highest position read so far.
    _last: _Position | None = None
    _riders: list[Routed] = field(default_factory=list)
    _riders_anchor: _Position | None = None

    def add(self, item: Routed) -> list[Routed] | None:
        """
        Add ``item`` to its family's buffer; returns that buffer's full batch, if any, with
        the unchanged assets waiting so far.
        """
        asset = item.asset
        position = (asset.updated_at, asset.id)
        last = self._last
        if item.unchanged:
            if not self._riders:
                self._riders_anchor = last
            self._riders.append(item)
            if last is None or position > last:
                self._last = position
            return self._take_riders() if len(self._riders) >= self.max_items else None
        key = item.family
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = Batcher(self.max_items, self.max_bytes)
        full = buffer.add(item)
        if full is not None or key not in self._anchors:
            # The buffer (re)starts with this asset.
            self._anchors[key] = last
        if last is None or position > last:
            self._last = position
        if full is not None and self._riders:
            full += self._take_riders()
        return full

    def _take_riders(self) -> list[Routed]:
        riders, self._riders, self._riders_anchor = self._riders, [], None
        return riders

    def safe_cursor(self) -> Cursor | None:
        """
        The highest cursor below every waiting asset: all assets read up to it are flushed.
        """
        waiting = [self._anchors[k] for k, b in self._buffers.items() if len(b)]
        if self._riders:
            waiting.append(self._riders_anchor)
        if not waiting:
            return _cursor(self._last)
        if any(anchor is None for anchor in waiting):
            return None
        return _cursor(min(a for a in waiting if a is not None))

    def drain(self) -> list[list[Routed]]:
        """Every waiting batch (end of the window); the unchanged assets ride with the last."""
        batches = [b.flush() for b in self._buffers.values() if len(b)]
        self._anchors.clear()
        if self._riders:
            if batches:
                batches[-1] += self._take_riders()
            else:
                batches.append(self._take_riders())
        return batches


def estimate_size(asset: DamAsset) -> int:
    """A cheap upper-bound-ish size of the asset's payload in bytes."""
    return 256 + _size(asset.metadata)


def pim_size(asset: PimAsset) -> int:
    """
    A cheap estimate of a mapped asset's bytes in a PATCH body: its values are few and flat
    (text, number, option codes), so this costs a fraction of walking the DAM's metadata.

    Every value is counted 64 bytes (its ``locale``/``channel``/``data`` keys, a number, a
    boolean, a media file code to come) plus the length of its text or of its codes.
    """
    total = 64 + len(asset.code)
    for attr, values in asset.values.items():
        total += len(attr) + 4 + 64 * len(values)
        for value in values:
            data = value.data
            kind = type(data)
            if kind is str:
                total += len(data)
            elif kind is list or kind is tuple:
                for v in data:
                    total += len(v) + 3 if type(v) is str else 8
    return total


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


__all__ = ["BULK_LIMIT", "Batcher", "FamilyBatcher", "Routed", "estimate_size", "pim_size"]
