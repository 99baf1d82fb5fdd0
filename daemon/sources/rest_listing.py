"""
The REST DAM's listing requests: building one page's request and reading its answer.

:class:`RestListing` turns a (since, position, page size) into a request on the changes
endpoint, GET with query parameters or POST with a rendered body template, and reads the
answer into a :class:`~daemon.sources.rest_paging.RawPage` whose next-page token follows the
configured paging style. The walk over pages is :mod:`daemon.sources.rest_paging`'s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from daemon.core.errors import SourceProtocolError
from daemon.sources.fields import dig_optional, floor_to, format_datetime, resolution
from daemon.sources.rest_calls import RestCalls, render
from daemon.sources.rest_paging import RawPage
from daemon.upstream.origin import same_origin
from daemon.upstream.policy import RequestSpec

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def page_plan(target: int, limit: int) -> tuple[int, int]:
    """
    A (page size, 1-based page) whose page holds ``target`` and at least one later slot.

    Smaller sizes are tried first; only when ``target + 1`` is a multiple of every size from 2
    to ``limit`` does the page grow past ``limit`` (keep ``page_size`` below the DAM's max).
    """
    for size in [*range(limit, 1, -1), *range(limit + 1, 2 * limit + 2)]:
        if target % size != size - 1:
            return size, target // size + 1
    return target + 2, 1  # pragma: no cover (no integer is a multiple of limit..2*limit+1)


class RestListing:
    """
    Listing requests of one REST source.

    Args:
        calls: The source's request plumbing (settings, upstream, credentials, clock).
    """

    __slots__ = ("_calls",)

    def __init__(self, calls: RestCalls) -> None:
        self._calls = calls

    def _since(self, since: datetime | None) -> str | None:
        """The lower bound as sent: floored (one unit earlier when exclusive)."""
        s = self._calls.settings
        if s.modified_since is None:
            return None
        fmt = s.modified_since.format
        low = floor_to(since or EPOCH, fmt)
        if s.modified_since.exclusive:
            low -= resolution(fmt)
        return format_datetime(low, fmt)

    def spec(
        self,
        since: datetime | None,
        *,
        limit: int,
        position: tuple[str, str] | None,
        url: str | None = None,
    ) -> RequestSpec:
        """
        The request for one page.

        Args:
            since: The window's lower bound (``None``: from the beginning).
            limit: The page size asked for.
            position: The (parameter, value) of the page, offset or cursor, if any.
            url: A next-page URL given by the DAM; it replaces everything but the credentials.
        """
        s = self._calls.settings
        query_auth = self._calls.query_auth
        endpoint = s.changes_path
        if url is not None:
            return RequestSpec("GET", url, endpoint, params=query_auth or None)
        low = self._since(since)
        named: dict[str, Any] = {}
        if s.modified_since is not None and s.modified_since.name and since is not None:
            named[s.modified_since.name] = low
        # No upper bound: a future-dated asset must be seen to be reported (changes()).
        if s.sort_param:
            named[s.sort_param] = s.sort_value
        named[s.paging.limit_param] = limit
        if position is not None:
            named[position[0]] = position[1]
        if s.method == "POST":
            assert s.body_template is not None
            until_fmt = s.modified_before.format if s.modified_before else "iso_seconds"
            values = {
                "{since}": low or format_datetime(EPOCH, "iso"),
                # The template needs an upper bound: a date no asset reaches.
                "{until}": format_datetime(FAR_FUTURE, until_fmt),
                "{limit}": str(limit),
            }
            body = render(s.body_template, values)
            body.update(named)
            params = {**s.params, **query_auth}
            return RequestSpec("POST", endpoint, endpoint, params=params or None, json=body)
        params = {**s.params, **{k: str(v) for k, v in named.items()}, **query_auth}
        return RequestSpec("GET", endpoint, endpoint, params=params)

    def _next_token(self, body: Any, response: httpx.Response) -> str | None:
        paging = self._calls.settings.paging
        value: Any = None
        if paging.style == "link":
            link = response.links.get("next")
            value = link.get("url") if link else None
            if value:
                value = str(response.url.join(value))
        elif paging.style == "next_url":
            value = dig_optional(body, paging.next_url_path)
        elif paging.style == "cursor":
            if paging.cursor_header:
                names = [paging.cursor_header]
                if paging.cursor_header.lower().startswith("x-"):
                    names.append(paging.cursor_header[2:])
                value = next((response.headers[n] for n in names if n in response.headers), None)
            if value is None and paging.cursor_path:
                value = dig_optional(body, paging.cursor_path)
        if value is False:
            return None  # "next": false, as null: no next page
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            # True would be followed as the token "True", a list as its repr.
            raise SourceProtocolError(
                f"next page token is not text: {type(value).__name__}",
                endpoint=self._calls.settings.changes_path,
            )
        return str(value) if value not in (None, "") else None

    def _check_same_origin(self, url: str) -> str:
        """The next page's absolute URL; refused unless on the DAM's origin (credentials)."""
        base = httpx.URL(self._calls.settings.base_url)
        target = base.join(url)
        if not same_origin(base, target):
            raise SourceProtocolError(
                "next page URL points to another origin (scheme, host or port); "
                "refusing to send credentials there",
                endpoint=self._calls.settings.changes_path,
            )
        return str(target)

    async def fetch_page(
        self, since: datetime | None, target: int, limit: int, token: str | None
    ) -> RawPage:
        """
        One page of the listing (a :data:`~daemon.sources.rest_paging.Fetch`).

        Args:
            since: The window's lower bound.
            target: The position of the first item wanted (positional styles).
            limit: The page size wanted.
            token: The previous page's next-page token (token styles), if any.
        """
        calls = self._calls
        paging = calls.settings.paging
        url = None
        position: tuple[str, str] | None = None
        offset = target
        size = limit
        if paging.style in ("link", "next_url") and token is not None:
            url = self._check_same_origin(token)
        elif paging.style == "cursor" and token is not None:
            position = (paging.param, token)
        elif paging.style == "offset":
            position = (paging.param, str(target))
        elif paging.style == "page":
            size, page = page_plan(target, limit)
            offset = (page - 1) * size
            position = (paging.param, str(page - 1 + paging.first_page))
        spec = self.spec(since, limit=size, position=position, url=url)
        body, response = await calls.get_json(spec)
        calls.clock.remember(body, response, spec)
        items = [calls.parse(raw) for raw in calls.items(body, spec)]
        return RawPage(
            items=items, token=self._next_token(body, response), offset=offset, size=size
        )


__all__ = ["EPOCH", "FAR_FUTURE", "RestListing", "page_plan"]
