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
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from daemon.core.errors import PimNotFound
from daemon.core.records import AssetFamily, Channel

log = structlog.get_logger(__name__)


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
    confirmed: bool = False


class StructureCache:
    """
    Families and channels from the PIM, kept for ``ttl`` seconds.

    Args:
        reader: The PIM client.
        ttl: Seconds an entry stays valid.
        clock: Monotonic clock (injected in tests).
        observer: Counts hits and misses.
    """

    def __init__(
        self,
        reader: StructureReader,
        *,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        observer: CacheObserver | None = None,
    ) -> None:
        self._reader = reader
        self._ttl = ttl
        self._clock = clock
        self._observer = observer
        self._families: dict[str, _Entry] = {}
        self._missing: dict[str, float] = {}  # families the PIM says do not exist, until when
        self._suspected: dict[str, AssetFamily] = {}  # copies dropped for drift, to compare
        self._channels: tuple[Sequence[Channel], float] | None = None

    def _count(self, hit: bool) -> None:
        if self._observer is not None:
            self._observer.structure_cache(hit=hit)

    async def family(self, code: str) -> AssetFamily:
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
        before = self._suspected.pop(code, None)
        confirmed = before is not None and before == family
        self._families[code] = _Entry(family, now + self._ttl, confirmed)
        self._missing.pop(code, None)
        log.info(
            "structure.family_loaded",
            family=code,
            attributes=len(family.attributes),
            unchanged_since_drift=confirmed,
        )
        return family

    async def families(self, codes: Sequence[str]) -> dict[str, AssetFamily]:
        """
        The families of ``codes`` the PIM has; one it says does not exist is left out.

        A missing family is remembered for the TTL, so a mapping that names it costs one read
        per TTL, not one per batch; the mapper refuses its assets with a configuration problem.
        """
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
        return found

    def peek(self, code: str) -> FamilyCopy | None:
        """The cached copy of a family, without reading or counting (``None`` when not held)."""
        entry = self._families.get(code)
        return None if entry is None else FamilyCopy(entry.family, entry.confirmed)

    async def channels(self) -> Sequence[Channel]:
        now = self._clock()
        if self._channels is not None and self._channels[1] > now:
            self._count(True)
            return self._channels[0]
        self._count(False)
        channels = tuple([c async for c in self._reader.iter_channels()])
        self._channels = (channels, now + self._ttl)
        return channels

    def invalidate(
        self, family: str | None = None, *, drift: bool = False, channels: bool = False
    ) -> None:
        """
        Forget one family (or everything, channels included).

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
        else:
            entry = self._families.pop(family, None)
            self._missing.pop(family, None)
            if not drift:
                self._suspected.pop(family, None)
            elif entry is not None:
                self._suspected[family] = entry.family
            if channels:
                self._channels = None
        log.info("structure.invalidated", family=family, drift=drift, channels=channels)

    def add_option(self, family: str, attribute: str, code: str) -> None:
        """Record an option we just created, so that it needs no new read."""
        entry = self._families.get(family)
        if entry is None:
            return
        options = dict(entry.family.options)
        options[attribute] = frozenset(options.get(attribute, frozenset()) | {code})
        entry.family = replace(entry.family, options=options)


__all__ = ["CacheObserver", "FamilyCopy", "StructureCache", "StructureReader"]
