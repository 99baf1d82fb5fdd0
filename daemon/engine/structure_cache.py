"""
The asset-family structure cache: families, attributes, options and channels read once.

In steady state a pass makes zero structure requests. Entries expire after a TTL and are dropped
at once when the PIM rejects a value for a structure reason (an attribute or option that our
cached copy believes in but the PIM does not, see :mod:`daemon.engine.structure_drift`), so
drift heals on the next batch. A family the PIM says does not exist is remembered as missing
for the TTL: the mapper then refuses its assets, naming the configuration, instead of every
batch failing on the read.

A copy dropped for drift is kept aside until the family is read again: when the new copy is the
same, it is marked *confirmed*, and a rejection that contradicts it is no longer taken for drift
(the PIM refuses something our structure cannot explain; retrying would loop).

With a :class:`~daemon.engine.seams.StructureStore`, the cache keeps a persisted copy in the
state database, so a new process (cron's ``sync --once``) reads nothing from the PIM while the
copy is younger than the TTL: the persisted copy is loaded on first use, and its entries expire
when they would have in the process that read them (their age is counted on the wall clock from
when the PIM was read; a read time in the future is not trusted). Every read from the PIM (a
self-heal re-read included), a family found missing and the channels replace their row at once;
an option created and a copy dropped for drift are written on the next use of the cache or at
:meth:`StructureCache.flush` (the app calls it when it closes). A copy lost to a crash in
between heals as any stale copy does: the PIM's refusal drops it. The store failing never fails
the cache: it then works from the PIM as without a store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from daemon.core.errors import CheckpointError, PimNotFound
from daemon.core.records import AssetFamily, Channel
from daemon.engine.seams import StructureStore
from daemon.store import ChannelsSnapshot, FamilySnapshot, StoreUnavailableError

log = structlog.get_logger(__name__)

#: What the store may raise; the cache then goes on without its persisted copy.
STORE_ERRORS = (StoreUnavailableError, CheckpointError)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StructureReader(Protocol):
    """What the cache needs from the PIM client."""

    async def get_family_structure(self, family: str) -> AssetFamily: ...

    def iter_channels(self) -> AsyncIterator[Channel]: ...


class CacheObserver(Protocol):
    def structure_cache(self, *, hit: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class FamilyCopy:
    """
    The cached copy of one family, as a batch was mapped with it.

    Args:
        family: The structure.
        confirmed: It was read again after a drift suspicion and found unchanged.
    """

    family: AssetFamily
    confirmed: bool = False


@dataclass(slots=True)
class _Entry:
    family: AssetFamily
    expires: float
    read_at: datetime
    confirmed: bool = False


class StructureCache:
    """
    Families and channels from the PIM, kept for ``ttl`` seconds.

    Args:
        reader: The PIM client.
        ttl: Seconds an entry stays valid.
        clock: Monotonic clock (injected in tests).
        observer: Counts hits and misses.
        snapshots: Where the persisted copy is kept; ``None``: in memory only.
        pim: The PIM's identity in ``snapshots`` (its base URL without credentials).
        wall: Aware-UTC clock dating the persisted copy (injected in tests).
    """

    def __init__(
        self,
        reader: StructureReader,
        *,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        observer: CacheObserver | None = None,
        snapshots: StructureStore | None = None,
        pim: str = "",
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._reader = reader
        self._ttl = ttl
        self._clock = clock
        self._observer = observer
        self._families: dict[str, _Entry] = {}
        self._missing: dict[str, float] = {}  # families the PIM says do not exist, until when
        self._suspected: dict[str, AssetFamily] = {}  # copies dropped for drift, to compare
        self._channels: tuple[Sequence[Channel], float] | None = None
        self._snapshots = snapshots
        self._pim = pim
        self._wall = wall
        self._loaded = snapshots is None
        self._lock = asyncio.Lock()
        self._dirty: set[str] = set()  # families whose persisted row needs the cached copy
        self._dropped: set[str] = set()  # families whose persisted row must go
        self._drop_channels = False
        self._drop_all = False

    def _count(self, hit: bool) -> None:
        if self._observer is not None:
            self._observer.structure_cache(hit=hit)

    async def family(self, code: str) -> AssetFamily:
        await self._persisted()
        entry = self._families.get(code)
        now = self._clock()
        if entry is not None and entry.expires > now:
            self._count(True)
            return entry.family
        self._count(False)
        try:
            family = await self._reader.get_family_structure(code)
        except PimNotFound:
            self._suspected.pop(code, None)
            raise
        read_at = self._wall()
        before = self._suspected.pop(code, None)
        confirmed = before is not None and before == family
        self._families[code] = _Entry(family, now + self._ttl, read_at, confirmed)
        self._missing.pop(code, None)
        self._dirty.discard(code)
        log.info(
            "structure.family_loaded",
            family=code,
            attributes=len(family.attributes),
            unchanged_since_drift=confirmed,
        )
        await self._save([FamilySnapshot(code, family, read_at)])
        return family

    async def families(self, codes: Sequence[str]) -> dict[str, AssetFamily]:
        """
        The families of ``codes`` the PIM has; one it says does not exist is left out.

        A missing family is remembered for the TTL, so a mapping that names it costs one read
        per TTL, not one per batch; the mapper refuses its assets with a configuration problem.
        """
        await self._persisted()
        found: dict[str, AssetFamily] = {}
        for code in codes:
            until = self._missing.get(code)
            if until is not None and until > self._clock():
                self._count(True)
                continue
            try:
                found[code] = await self.family(code)
            except PimNotFound as exc:
                self._missing[code] = self._clock() + self._ttl
                log.warning("structure.family_missing", family=code, error=str(exc))
                await self._save([FamilySnapshot(code, None, self._wall())])
        return found

    def peek(self, code: str) -> FamilyCopy | None:
        """The cached copy of a family, without reading or counting (``None`` when not held)."""
        entry = self._families.get(code)
        return None if entry is None else FamilyCopy(entry.family, entry.confirmed)

    async def channels(self) -> Sequence[Channel]:
        await self._persisted()
        now = self._clock()
        if self._channels is not None and self._channels[1] > now:
            self._count(True)
            return self._channels[0]
        self._count(False)
        channels = tuple([c async for c in self._reader.iter_channels()])
        self._channels = (channels, now + self._ttl)
        self._drop_channels = False
        await self._save([], ChannelsSnapshot(channels, self._wall()))
        return channels

    def invalidate(
        self, family: str | None = None, *, drift: bool = False, channels: bool = False
    ) -> None:
        """
        Forget one family (or everything, channels included), persisted copy included.

        Args:
            family: The family, or ``None`` for everything.
            drift: The PIM contradicted this copy: it is kept aside, so the next read can tell
                whether the family really changed (see the module docstring).
            channels: Forget the channels too (a value's locale or channel was refused).
        """
        if family is None:
            self._families.clear()
            self._missing.clear()
            self._suspected.clear()
            self._channels = None
            self._dirty.clear()
            self._dropped.clear()
            self._drop_all = self._snapshots is not None
        else:
            entry = self._families.pop(family, None)
            self._missing.pop(family, None)
            if not drift:
                self._suspected.pop(family, None)
            elif entry is not None:
                self._suspected[family] = entry.family
            if channels:
                self._channels = None
            if self._snapshots is not None:
                self._dirty.discard(family)
                self._dropped.add(family)
                self._drop_channels = self._drop_channels or channels
        log.info("structure.invalidated", family=family, drift=drift, channels=channels)

    def add_option(self, family: str, attribute: str, code: str) -> None:
        """Record an option we just created, so that it needs no new read."""
        entry = self._families.get(family)
        if entry is None:
            return
        options = dict(entry.family.options)
        options[attribute] = frozenset(options.get(attribute, frozenset()) | {code})
        entry.family = replace(entry.family, options=options)
        if self._snapshots is not None:
            self._dirty.add(family)

    async def flush(self) -> None:
        """Write what changed since the last write (options added, copies dropped)."""
        if self._loaded and self._pending():
            async with self._lock:
                await self._flush_locked()

    # -- the persisted copy ------------------------------------------------------------------

    def _pending(self) -> bool:
        return bool(self._dirty or self._dropped or self._drop_channels or self._drop_all)

    async def _persisted(self) -> None:
        """Load the persisted copy on first use; write what is pending."""
        if self._loaded and not self._pending():
            return
        async with self._lock:
            if not self._loaded:
                await self._load()
                self._loaded = True
            await self._flush_locked()

    def _left(self, read_at: datetime, now: datetime) -> float | None:
        """Seconds a copy read at ``read_at`` stays valid, ``None`` when expired or future."""
        age = (now - read_at).total_seconds()
        return self._ttl - age if 0 <= age < self._ttl else None

    async def _load(self) -> None:
        assert self._snapshots is not None
        wall = self._wall()
        since = wall - timedelta(seconds=self._ttl)
        try:
            found = await asyncio.to_thread(self._snapshots.load_structure, self._pim, since)
        except STORE_ERRORS as exc:
            log.warning("structure.snapshot_unreadable", error=str(exc))
            return
        now = self._clock()
        families = missing = 0
        for code, snapshot in found.families.items():
            left = self._left(snapshot.read_at, wall)
            if left is None or code in self._families or code in self._missing:
                continue
            if snapshot.family is None:
                self._missing[code] = now + left
                missing += 1
            else:
                self._families[code] = _Entry(snapshot.family, now + left, snapshot.read_at)
                families += 1
        channels = found.channels
        if channels is not None and self._channels is None:
            left = self._left(channels.read_at, wall)
            if left is not None:
                self._channels = (channels.channels, now + left)
        log.info(
            "structure.snapshot_loaded",
            families=families,
            missing=missing,
            channels=self._channels is not None,
        )

    async def _flush_locked(self) -> None:
        store = self._snapshots
        if store is None or not self._pending():
            return
        drop_all, dropped, drop_channels = (
            self._drop_all,
            sorted(self._dropped),
            self._drop_channels,
        )
        saves = [
            FamilySnapshot(code, entry.family, entry.read_at)
            for code in sorted(self._dirty)
            if (entry := self._families.get(code)) is not None
        ]
        self._drop_all, self._drop_channels = False, False
        self._dropped.clear()
        self._dirty.clear()

        def write() -> None:
            if drop_all:
                store.drop_structure(self._pim)
            elif dropped or drop_channels:
                store.drop_structure(self._pim, dropped, channels=drop_channels)
            if saves:
                store.save_structure(self._pim, saves)

        try:
            await asyncio.to_thread(write)
        except STORE_ERRORS as exc:
            log.warning("structure.snapshot_not_written", error=str(exc))

    async def _save(
        self, families: Sequence[FamilySnapshot], channels: ChannelsSnapshot | None = None
    ) -> None:
        """Replace the persisted rows of what was just read from the PIM."""
        store = self._snapshots
        if store is None:
            return
        try:
            await asyncio.to_thread(store.save_structure, self._pim, families, channels)
        except STORE_ERRORS as exc:
            log.warning("structure.snapshot_not_written", error=str(exc))


__all__ = ["CacheObserver", "FamilyCopy", "StructureCache", "StructureReader"]
