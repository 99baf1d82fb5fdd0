"""
The asset-family structure cache: families, attributes, options and channels read once.

In steady state a pass makes zero structure requests. Entries expire after a TTL and are dropped
at once when the PIM rejects a value for a structure reason (an attribute or option that our
cached copy believes in but the PIM does not), so drift heals on the next batch.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from daemon.core.records import AssetFamily, Channel

log = structlog.get_logger(__name__)


class StructureReader(Protocol):
    """What the cache needs from the PIM client."""

    async def get_family_structure(self, family: str) -> AssetFamily: ...

    def iter_channels(self) -> AsyncIterator[Channel]: ...


class CacheObserver(Protocol):
    def structure_cache(self, *, hit: bool) -> None: ...


@dataclass(slots=True)
class _Entry:
    family: AssetFamily
    expires: float


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
        family = await self._reader.get_family_structure(code)
        self._families[code] = _Entry(family, now + self._ttl)
        log.info("structure.family_loaded", family=code, attributes=len(family.attributes))
        return family

    async def families(self, codes: Sequence[str]) -> dict[str, AssetFamily]:
        return {code: await self.family(code) for code in codes}

    async def channels(self) -> Sequence[Channel]:
        now = self._clock()
        if self._channels is not None and self._channels[1] > now:
            self._count(True)
            return self._channels[0]
        self._count(False)
        channels = tuple([c async for c in self._reader.iter_channels()])
        self._channels = (channels, now + self._ttl)
        return channels

    def invalidate(self, family: str | None = None) -> None:
        """Forget one family (or everything), e.g. after a structure rejection."""
        if family is None:
            self._families.clear()
            self._channels = None
        else:
            self._families.pop(family, None)
        log.info("structure.invalidated", family=family)

    def add_option(self, family: str, attribute: str, code: str) -> None:
        """Record an option we just created, so that it needs no new read."""
        entry = self._families.get(family)
        if entry is None:
            return
        options = dict(entry.family.options)
        options[attribute] = frozenset(options.get(attribute, frozenset()) | {code})
        entry.family = replace(entry.family, options=options)


__all__ = ["CacheObserver", "StructureCache", "StructureReader"]
