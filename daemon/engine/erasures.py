"""
Managed values: **where erasures are decided**, so that the PIM converges to the DAM.

damsync remembers, per PIM asset, the (attribute, locale, channel) values it manages there
(``AssetState.managed_values``, written in the batch commit with the asset). When the mapping
no longer gives one of them, the next write sends ``"data": null`` for it, which erases that
one value in the PIM and leaves every other (akeneo-api.md §4, "Update semantics").

Only keys in the family rule's :class:`~daemon.mapping.ManagedScope` are erased: attributes
the rule maps with ``clear_missing`` on, for channels and locales the PIM still accepts.
Values on attributes damsync does not map are never touched; keys of ``clear_missing =
false`` attributes stay managed without being erased (switching the option on later erases
them); keys outside the scope are let go. Unknown keys (rows from before revision 0003),
a deleted asset or an asset now at another code erase nothing.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from daemon.core.records import PimValue
from daemon.mapping import MappedAsset, ValueKey
from daemon.store import AssetState


@dataclass(frozen=True, slots=True)
class ErasurePlan:
    """
    One mapped asset ready to write, with its erasures.

    Args:
        mapped: The mapped asset, with a ``PimValue(None, locale, channel)`` per erased value;
            its content hash stays the hash of the mapped values (what the PIM holds after
            the write), so the next unchanged pass still finds it unchanged.
        managed: The keys to record with the write.
        erased: How many values the write erases; an asset with erasures due is written even
            when its content hash is unchanged.
    """

    mapped: MappedAsset
    managed: frozenset[ValueKey]
    erased: int


def value_keys(mapped: MappedAsset) -> frozenset[ValueKey]:
    """
    The keys of the values a mapped asset gives.

    Args:
        mapped: The mapped asset.

    Returns:
        ``(attribute, locale, channel)`` of each value.
    """
    # A list first: a frozenset is built from one faster than from a generator; a plain loop,
    # not a nested comprehension (a function call per asset before Python 3.12).
    keys: list[ValueKey] = []
    for attr, values in mapped.asset.values.items():
        for v in values:
            keys.append((attr, v.locale, v.channel))
    return frozenset(keys)


def _previous(mapped: MappedAsset, state: AssetState | None) -> frozenset[ValueKey] | None:
    """The keys damsync manages in the PIM asset this mapped asset writes; ``None``: unknown."""
    if state is None or state.deleted:
        return frozenset()  # a new (or re-created) PIM asset holds nothing of ours
    if (state.family, state.code) != (mapped.asset.family, mapped.asset.code):
        return frozenset()  # the keys belong to another PIM asset, which this write leaves
    return state.managed_values


def plan_erasures(mapped: MappedAsset, state: AssetState | None) -> ErasurePlan:
    """
    Add the erasures due to a mapped asset: previous managed keys minus current keys.

    Args:
        mapped: The asset as the mapping makes it of the DAM now.
        state: What the store knows of it (``None`` for a new asset).

    Returns:
        The asset to write, the keys to record and how many values it erases.
    """
    current = value_keys(mapped)
    previous = _previous(mapped, state)
    if not previous:
        return ErasurePlan(mapped, current, 0)
    gone = previous - current
    erase = gone & mapped.scope.erasable
    managed = current | (gone & mapped.scope.kept)
    if not erase:
        return ErasurePlan(mapped, managed, 0)
    nulls: dict[str, list[PimValue]] = defaultdict(list)
    for attr, locale, channel in sorted(erase, key=lambda k: (k[0], k[1] or "", k[2] or "")):
        nulls[attr].append(PimValue(None, locale, channel))
    values = dict(mapped.asset.values)
    for attr, erased in nulls.items():
        values[attr] = (*values.get(attr, ()), *erased)
    asset = dataclasses.replace(mapped.asset, values=values)
    return ErasurePlan(dataclasses.replace(mapped, asset=asset), managed, len(erase))


__all__ = ["ErasurePlan", "ValueKey", "plan_erasures", "value_keys"]
