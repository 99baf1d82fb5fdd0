"""
The mapper of one source, built from the cached family structure and rebuilt when it changes.
"""

from __future__ import annotations

from daemon.engine.structure_cache import StructureCache
from daemon.mapping import (
    Mapper,
    SourceMapping,
)


class MapperCache:
    """Builds the source's :class:`Mapper` from the cached structure; rebuilt when it changes."""

    def __init__(self, rules: SourceMapping, structure: StructureCache) -> None:
        self.rules = rules
        self.structure = structure
        self._families = tuple(dict.fromkeys(rule.family for rule in rules.families))
        self._key: tuple[int, ...] = ()
        self._mapper: Mapper | None = None

    async def get(self) -> Mapper:
        families = await self.structure.families(self._families)
        channels = await self.structure.channels()
        key = (*(id(f) for f in families.values()), id(channels))
        if self._mapper is None or key != self._key:
            self._mapper = Mapper(self.rules, families, channels)
            self._key = key
        return self._mapper


__all__ = ["MapperCache"]
