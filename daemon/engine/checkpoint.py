"""
Where the checkpoint moves: the window a pass reads, and how far the cursor may advance.

Pure: nothing here does I/O or reads a clock; the pass (:mod:`daemon.engine.sync_pass`) passes
times in, and the store commits the cursor with the batch that earned it. The rules come from
``sync-engineering.md`` ("Rules our daemon must obey", 1-8).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from daemon.core.records import Cursor, DamAsset, Window


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


__all__ = ["advance", "dedupe_page", "max_cursor", "plan_window"]
