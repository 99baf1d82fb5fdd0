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

Every walk has a :class:`PageGuard`: a DAM that sends a fresh cursor with every page, ignores
the offset or repeats a token would otherwise be paged forever (hundreds of requests a minute,
the same PIM writes again and again, the scheduler skipping runs). The guard's error fails the
pass like any protocol error: committed batches stay, the cursor never passes unread assets.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from daemon.core.errors import SourceAssetError, SourceProtocolError
from daemon.core.records import DamAsset

#: Re-reads of an anchor before paging is declared hopeless (a DAM ignoring our bounds).
MAX_RESTARTS = 1000
#: Next-page tokens remembered (as 16-byte digests) to notice one sent again. A longer cycle,
#: or fresh tokens forever, is stopped by ``paging.max_pages``.
RECENT_TOKENS = 1024


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


class PageGuard:
    """
    Stops a walk that would never end, in bounded memory.

    Three signs: more than ``max_pages`` requests; a page (that asks for another) holding
    exactly the ids of the previous one, a DAM ignoring our offset or cursor; a next-page token
    sent again within the last :data:`RECENT_TOKENS`. It holds one page of ids and at most
    :data:`RECENT_TOKENS` digests, however long the walk.

    Args:
        max_pages: Requests allowed in one walk.
        key: The configuration key of ``max_pages``, named in the error.
        endpoint: The endpoint template, for errors.
    """

    __slots__ = ("_digests", "_order", "_previous", "endpoint", "key", "max_pages", "pages")

    def __init__(self, max_pages: int, *, key: str = "paging.max_pages", endpoint: str = ""):
        self.max_pages = max_pages
        self.key = key
        self.endpoint = endpoint
        self.pages = 0
        self._previous: tuple[tuple[str | None, str], ...] = ()
        self._digests: set[bytes] = set()
        self._order: deque[bytes] = deque()

    def __len__(self) -> int:
        """Token digests held (tests assert the bound)."""
        return len(self._digests)

    def request(self) -> None:
        """Count one request; refuse the one past ``max_pages``."""
        if self.pages >= self.max_pages:
            raise SourceProtocolError(
                f"the listing did not end after {self.max_pages} pages; the DAM seems to page "
                f"forever (limit: {self.key})",
                endpoint=self.endpoint,
            )
        self.pages += 1

    def continuing(self, items: Sequence[DamAsset | SourceAssetError]) -> None:
        """A page after which the walk asks for more: refused when it repeats the previous."""
        ids = tuple(
            ("", item.id) if isinstance(item, DamAsset) else (item.asset_id, item.field)
            for item in items
        )
        if ids and ids == self._previous:
            raise SourceProtocolError(
                f"the DAM answered the same {len(ids)} items again after {self.pages} pages: "
                "it ignores the page position (offset, page or cursor)",
                endpoint=self.endpoint,
            )
        self._previous = ids

    def forget_page(self) -> None:
        """The next page is a deliberate re-read (a re-anchor): do not compare it."""
        self._previous = ()

    def token(self, token: str) -> None:
        """A next-page token about to be followed: refused when sent recently already."""
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        if digest in self._digests:
            raise SourceProtocolError(
                f"the DAM sent the same next token twice ({self.pages} pages in)",
                endpoint=self.endpoint,
            )
        self._digests.add(digest)
        self._order.append(digest)
        if len(self._order) > RECENT_TOKENS:
            self._digests.discard(self._order.popleft())


#: fetch(since, offset, limit, token) -> RawPage
Fetch = Callable[[datetime | None, int, int, str | None], Awaitable[RawPage]]


async def token_pages(
    fetch: Fetch, since: datetime | None, limit: int, guard: PageGuard
) -> AsyncIterator[Sequence[DamAsset | SourceAssetError]]:
    """Follow next tokens until the DAM sends none (or an empty page)."""
    token: str | None = None
    while True:
        guard.request()
        page = await fetch(since, 0, limit, token)
        more = bool(page.token and page.items)
        if more:
            # Before yielding: a repeated page must not be written again.
            guard.continuing(page.items)
        yield page.items
        if not more or page.token is None:
            return
        guard.token(page.token)
        token = page.token


async def positional_pages(
    fetch: Fetch, limit: int, guard: PageGuard
) -> AsyncIterator[Sequence[DamAsset | SourceAssetError]]:
    """Plain offsets (unsorted DAMs): stable only while the DAM does not change."""
    offset = 0
    while True:
        guard.request()
        page = await fetch(None, offset, limit, None)
        more = len(page.items) >= limit
        if more:
            guard.continuing(page.items)
        yield page.items
        if not more:
            return
        offset += len(page.items)


async def anchored_pages(
    fetch: Fetch,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    floor: Callable[[datetime], datetime],
    guard: PageGuard,
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
        guard: Stops a DAM that would be paged forever.

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
        guard.request()
        page = await fetch(asked, target, limit, None)
        items = page.items
        first = next((i for i in items if isinstance(i, DamAsset)), None)
        if target > 0 and at_anchor and (not items or (first is not None and not seen(first))):
            # A seen asset left the window before our position: re-read the anchor.
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise SourceProtocolError("paging did not converge: the DAM ignores the bounds")
            target = 0
            guard.forget_page()
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
        guard.continuing(items)
        if anchor != asked:
            target = max(0, len(at_anchor) - 1)
        else:
            target = page.offset + (last_good if last_good >= 0 else len(items) - 1)


__all__ = [
    "MAX_RESTARTS",
    "RECENT_TOKENS",
    "BoundaryDedupe",
    "PageGuard",
    "RawPage",
    "anchored_pages",
    "positional_pages",
    "token_pages",
]
