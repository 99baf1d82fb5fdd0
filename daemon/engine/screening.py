"""
Which assets of a page need a PIM write, decided before they are batched.

Each asset is routed and mapped once, against the states stored for the whole page (one store
read per page). An asset whose content equals the stored one is marked unchanged: the batcher
sets it aside instead of counting it towards the 100-asset cut, so a family costs
``ceil(changed / 100)`` bulk PATCHes. The writer keeps the mapping (with the same mapper) and
still decides against the states it reads when the batch is written, so a decision taken here
can only spare a write, never send stale data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from daemon.core.records import DamAsset
from daemon.engine.batcher import Routed
from daemon.engine.erasures import plan_erasures
from daemon.engine.mapper_cache import MapperCache
from daemon.engine.seams import BatchStore
from daemon.mapping import AssetKey, MappedAsset
from daemon.store import AssetState


def stale_copy(asset: DamAsset, state: AssetState | None) -> bool:
    """
    An older copy than the one already written (an unsorted DAM repeating an asset across
    pages): writing it would put stale data over fresh.
    """
    return (
        state is not None
        and state.dam_updated_at is not None
        and asset.updated_at < state.dam_updated_at
    )


def unchanged(mapped: MappedAsset, state: AssetState | None) -> bool:
    """The PIM already holds exactly this: same key, same content hash, no erasure due."""
    return (
        state is not None
        and not state.deleted
        and state.content_hash == mapped.content_hash
        and (state.family, state.code) == (mapped.asset.family, mapped.asset.code)
        and not plan_erasures(mapped, state).erased  # an erasure due is a change
    )


class Screen:
    """
    Routes, maps and sorts out the unchanged assets of one page of a source.

    Args:
        source: The source's configured name.
        store: The state store (``asset_states``).
        mappers: The source's mapper.
    """

    def __init__(self, source: str, store: BatchStore, mappers: MapperCache) -> None:
        self.source = source
        self.store = store
        self.mappers = mappers

    async def __call__(self, assets: Sequence[DamAsset], *, force: bool) -> list[Routed]:
        """
        ``assets`` routed, in order; with ``force`` nothing is marked unchanged.

        A deletion, an asset no rule matches or one without a key is left to the writer
        (it makes no PATCH); a stale copy too (it is unchanged, but resolves nothing).
        """
        mapper = await self.mappers.get()
        states: dict[str, AssetState] = {}
        if not force:
            live = [a.id for a in assets if not a.deleted]
            if live:
                states = await asyncio.to_thread(self.store.asset_states, self.source, live)
        routed = []
        for asset in assets:
            if asset.deleted:
                routed.append(Routed(asset))
                continue
            key = mapper.identify(asset)
            if not isinstance(key, AssetKey):
                routed.append(Routed(asset))
                continue
            outcome = mapper.map_asset(asset, key)
            state = states.get(asset.id)
            same = (
                isinstance(outcome, MappedAsset)
                and state is not None
                and not stale_copy(asset, state)
                and unchanged(outcome, state)
            )
            if same:
                routed.append(Routed(asset, key, unchanged=True))  # its mapping is not needed
            else:
                routed.append(Routed(asset, key, outcome, mapper))
        return routed


__all__ = ["Screen", "stale_copy", "unchanged"]
