"""
Walking a window page by page without losing an asset, for every pagination style.

Token styles (``cursor``, ``next_url``, ``link``) follow the DAM's own keyset. Positional
styles (``page``, ``offset``) are unstable by nature: an asset modified while we page leaves
the frozen window and every later asset shifts one place forward. When the DAM sorts by
``(updated_at, id)`` and takes a modified-since bound we read them *anchored*: every request
restarts at ``since = floor(last seen updated_at)``, so only the few assets sharing that
timestamp sit before our position; their ids are kept (O(assets sharing one timestamp)),
because a DAM showing whole seconds orders them by its finer clock, not by id. The request
overlaps the last seen position by one item; if that item is no longer one we have seen, some
seen asset left and we re-read the anchor from position 0 (assets only ever leave the window
while it is read, so this terminates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import DamAsset

#: Re-reads of an anchor before paging is declared hopeless (a DAM ignoring our bounds).
MAX_RESTARTS = 1000


@dataclass(frozen=True, slots=True)
class RawPage:
    """One answer: its parsed items (or errors) and the token to the next page, if any."""

    items: Sequence[DamAsset | SourceAssetError]
    token: str | None = None
    #: The position of the first item (a page-number request may start before the target).
    offset: int = 0
    #: The page size actually asked for (page-number paging may shrink it).
    size: int = 0


class BoundaryDedupe:
    """
    Drops an asset a token-paged window already yielded, keeping O(ties) ids, not O(window).

    Only the ids at the newest ``updated_at`` yielded are kept (dlt's boundary hashes): a
    keyset DAM sorted by ``updated_at`` can only repeat an asset at that boundary. An older
    repeat (an unsorted DAM) passes through; re-sending it is harmless (the engine skips an
    unchanged content hash) and costs one PATCH at most.
    """

    __slots__ = ("boundary", "ids", "peak")

    def __init__(self) -> None:
        self.boundary: datetime | None = None
        self.ids: set[str] = set()
        #: The most ids ever held at once (tests assert the bound).
        self.peak = 0

    def __len__(self) -> int:
        return len(self.ids)

    def first_time(self, asset: DamAsset) -> bool:
        """
        Whether ``asset`` is new to this window; remembers it.

        Args:
            asset: An asset of the window.

        Returns:
            False for a repeat at the boundary.
        """
        when = asset.updated_at
        if self.boundary is None or when > self.boundary:
            self.boundary, self.ids = when, {asset.id}
        elif when == self.boundary:
            if asset.id in self.ids:
                return False
            self.ids.add(asset.id)
        self.peak = max(self.peak, len(self.ids))
        return True


#: fetch(since, offset, limit, token) -> RawPage
Fetch = Callable[[datetime | None, int, int, str | None], Awaitable[RawPage]]


async def token_pages(
    fetch: Fetch, since: datetime | None, limit: int
) -> AsyncIterator[Sequence[DamAsset | SourceAssetError]]:
    """Follow next tokens until the DAM sends none (or an empty page)."""
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        page = await fetch(since, 0, limit, token)
        yield page.items
        if not page.token or not page.items:
            return
        if page.token in seen_tokens:
            raise SourceProtocolError(
                f"the DAM sent the same next token twice ({len(seen_tokens)} pages in)"
            )
        seen_tokens.add(page.token)
        token = page.token


async def positional_pages(
    fetch: Fetch, limit: int
) -> AsyncIterator[Sequence[DamAsset | SourceAssetError]]:
    """Plain offsets (unsorted DAMs): stable only while the DAM does not change."""
    offset = 0
    while True:
        page = await fetch(None, offset, limit, None)
        yield page.items
        if len(page.items) < limit:
            return
        offset += len(page.items)


async def anchored_pages(
    fetch: Fetch,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    floor: Callable[[datetime], datetime],
) -> AsyncIterator[Sequence[DamAsset | SourceAssetError]]:
    """
    Sorted positional paging, re-anchored on the modified-since bound after every page.

    Args:
        fetch: Reads one page at ``(since, offset, limit)``.
        since: The window's lower bound.
        until: An asset at or after it ends the walk; ``None`` reads to the end (the REST
            source does, to see future-dated assets).
        limit: Page size.
        floor: Rounds a datetime down to what the since parameter can express.

    Returns:
        Pages holding only assets after the last one yielded (plus per-asset errors).
    """
    anchor = floor(since) if since is not None else None
    # Ids seen whose updated_at floors to the anchor. The DAM orders assets sharing a shown
    # timestamp by its own finer clock, not by id, so "seen" is decided by id, never by
    # comparing cursors. Everything flooring below the anchor was read before the anchor moved.
    at_anchor: set[str] = set()
    target = 0  # the position, in the anchored query, of the last asset seen
    restarts = 0
    reported: set[tuple[str | None, str]] = set()

    def seen(item: DamAsset) -> bool:
        base = floor(item.updated_at)
        return anchor is not None and (base < anchor or (base == anchor and item.id in at_anchor))

    while True:
        asked = anchor
        page = await fetch(asked, target, limit, None)
        items = page.items
        first = next((i for i in items if isinstance(i, DamAsset)), None)
        if target > 0 and at_anchor and (not items or (first is not None and not seen(first))):
            # A seen asset left the window before our position: re-read the anchor.
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise SourceProtocolError("paging did not converge: the DAM ignores the bounds")
            target = 0
            continue
        fresh: list[DamAsset | SourceAssetError] = []
        done = len(items) < (page.size or limit)
        last_good = -1
        for index, item in enumerate(items):
            if isinstance(item, SourceAssetError):
                if (item.asset_id, item.field) not in reported:
                    reported.add((item.asset_id, item.field))
                    fresh.append(item)
                continue
            last_good = index
            if seen(item):
                continue
            if until is not None and item.updated_at >= until:
                done = True
                break
            fresh.append(item)
            base = floor(item.updated_at)
            if anchor is None or base > anchor:
                anchor, at_anchor = base, {item.id}
            else:
                at_anchor.add(item.id)
        if fresh:
            yield fresh
        if done:
            return
        if anchor != asked:
            target = max(0, len(at_anchor) - 1)
        else:
            target = page.offset + (last_good if last_good >= 0 else len(items) - 1)


__all__ = [
    "MAX_RESTARTS",
    "BoundaryDedupe",
    "RawPage",
    "anchored_pages",
    "positional_pages",
    "token_pages",
]
