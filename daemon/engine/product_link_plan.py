"""
The new content of one product asset collection: pure, from what was read and what changes.

Rules (issue 17):

- Codes damsync did not add (no ``product_links`` row) are never removed and keep their
  relative order.
- A code damsync is asked to add that is already there but was not added by damsync stays
  foreign: damsync does not take it over (so it never removes it later either).
- A code damsync added that someone removed since is not put back, unless an asset asks for
  it again now; its row is dropped.
- damsync's codes go ``first`` or ``last`` relative to the others, ordered by position (lower
  first, those without one after), then by where they already stand, then in the order asked.
  Without a placement (an unlink only) nothing moves: codes are only taken out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daemon.store.product_link_store import OwnedLink


def _row(link: OwnedLink) -> tuple[str, int]:
    return (link.asset_code, link.rule)


@dataclass(frozen=True, slots=True)
class CollectionPlan:
    """
    What to write into one collection and what to record.

    Args:
        data: The new ordered codes.
        changed: ``data`` differs from what was read: a PATCH is needed.
        added: Rows to record once the PATCH is accepted (or at once when unchanged).
        removed: Rows to forget (taken out, or found gone).
    """

    data: tuple[str, ...]
    changed: bool
    added: tuple[OwnedLink, ...]
    removed: tuple[OwnedLink, ...]


def plan_collection(
    current: Sequence[str],
    owned: Sequence[OwnedLink],
    adds: Sequence[OwnedLink],
    removes: Sequence[OwnedLink],
    placement: str | None,
) -> CollectionPlan:
    """
    Plan one collection.

    Args:
        current: The codes read, in order.
        owned: Every row damsync has for this collection (all assets and rules).
        adds: Rows asked for now (with their positions).
        removes: Rows to take out now (a subset of ``owned``; others are ignored).
        placement: ``first``, ``last`` or ``None`` (no reordering).

    Returns:
        The plan.
    """
    present = set(current)
    ours_before = {link.asset_code for link in owned}
    leaving = {_row(link) for link in removes}
    foreign_adds = [a for a in adds if a.asset_code in present and a.asset_code not in ours_before]
    kept_adds = [a for a in adds if a not in foreign_adds]
    asked = {_row(a) for a in kept_adds}
    stale = [
        link
        for link in owned
        if link.asset_code not in present and _row(link) not in asked and _row(link) not in leaving
    ]
    stale_rows = {_row(link) for link in stale}
    after: dict[tuple[str, int], OwnedLink] = {
        _row(link): link
        for link in owned
        if _row(link) not in leaving and _row(link) not in stale_rows
    }
    after.update({_row(a): a for a in kept_adds})
    positions: dict[str, float | None] = {}
    for link in after.values():
        known = positions.get(link.asset_code)
        if link.asset_code not in positions or (
            link.position is not None and (known is None or link.position < known)
        ):
            positions[link.asset_code] = link.position
    ours = set(positions)
    foreign = [c for c in current if c not in ours_before and c not in ours]
    if placement is None:
        kept = [c for c in current if c in ours or c not in ours_before]
        data = kept + [c for c in dict.fromkeys(a.asset_code for a in kept_adds) if c not in kept]
    else:
        index = {code: i for i, code in enumerate(current)}
        order = {code: i for i, code in enumerate(dict.fromkeys(a.asset_code for a in kept_adds))}

        def key(code: str) -> tuple[bool, float, int, int]:
            pos = positions[code]
            return (pos is None, pos or 0.0, index.get(code, len(current)), order.get(code, 0))

        mine = sorted(ours, key=key)
        data = mine + foreign if placement == "first" else foreign + mine
    removed = tuple(link for link in owned if _row(link) in leaving) + tuple(stale)
    return CollectionPlan(tuple(data), list(data) != list(current), tuple(kept_adds), removed)


__all__ = ["CollectionPlan", "plan_collection"]
