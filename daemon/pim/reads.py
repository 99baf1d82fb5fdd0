"""
Paged reads: HAL pages followed through ``_links.next.href``, one page in memory at a time.

Both Akeneo pagination styles end up here: ``search_after`` (asset families, assets; the server
fixes the page size) and offset (channels, product attributes: ``page``/``limit`` <= 100). The
next link's path and query are requested on *our* configured origin: behind a reverse proxy
Akeneo may print an internal host name in its links, and the bearer token must never be sent to
a host other than the configured one. A next link that repeats a page already read is a
protocol error, not an endless loop.

Also here: the asset ``search`` filter (``updated`` with operators, ``code IN`` chunked to at
most 100 codes per request).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx

from daemon.core.records import require_utc
from daemon.pim.parse import Reader
from daemon.pim.responses import parse_json, protocol_error, require_status
from daemon.upstream.origin import rebase
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream

T = TypeVar("T")

ACCEPT_JSON = {"Accept": "application/json"}
MAX_CODES = 100
PAGE_LIMIT = 100

UpdatedOperator = Literal[">", "<", "BETWEEN", "NOT BETWEEN", "SINCE LAST N DAYS"]


def format_datetime(value: datetime) -> str:
    """An aware datetime as Akeneo's asset filter wants it: ISO 8601 in UTC with ``Z``."""
    return require_utc(value, "updated filter").astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class UpdatedFilter:
    """
    One ``updated`` condition; several are ANDed by the PIM.

    Args:
        operator: ``>``, ``<``, ``BETWEEN``, ``NOT BETWEEN`` or ``SINCE LAST N DAYS``.
        value: A datetime, a pair of datetimes (``BETWEEN``) or a number of days.
    """

    operator: UpdatedOperator
    value: datetime | tuple[datetime, datetime] | int

    def to_json(self) -> dict[str, Any]:
        value = self.value
        if self.operator in ("BETWEEN", "NOT BETWEEN"):
            if not isinstance(value, tuple) or len(value) != 2:
                raise ValueError(f"updated {self.operator} needs a (start, end) pair")
            return {"operator": self.operator, "value": [format_datetime(v) for v in value]}
        if self.operator == "SINCE LAST N DAYS":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("updated SINCE LAST N DAYS needs a number of days")
            return {"operator": self.operator, "value": value}
        if not isinstance(value, datetime):
            raise ValueError(f"updated {self.operator} needs a datetime")
        return {"operator": self.operator, "value": format_datetime(value)}


def asset_searches(
    *,
    updated: Sequence[UpdatedFilter] = (),
    codes: Iterable[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[str | None]:
    """
    The ``search`` parameter for each request of an asset listing.

    Returns:
        One JSON string per request (one per chunk of at most 100 codes), or ``[None]``
        when there is no filter at all. An empty ``codes`` collection gives no request.
    """
    base: dict[str, Any] = dict(extra or {})
    if updated:
        base["updated"] = [f.to_json() for f in updated]
    if codes is None:
        return [json.dumps(base, separators=(",", ":"))] if base else [None]
    wanted = list(dict.fromkeys(codes))
    searches: list[str | None] = []
    for start in range(0, len(wanted), MAX_CODES):
        chunk = wanted[start : start + MAX_CODES]
        search = {**base, "code": [{"operator": "IN", "value": chunk}]}
        searches.append(json.dumps(search, separators=(",", ":")))
    return searches


def on_origin(base_url: httpx.URL, href: str) -> httpx.URL:
    """
    A link's path and query on our configured scheme, host and port.

    Whatever origin the link names (an internal host, another port, ``http``), the request
    goes to ours, so the bearer token never follows it (:mod:`daemon.upstream.origin`).
    """
    return rebase(base_url, href)


async def pages(
    upstream: Upstream,
    *,
    endpoint: str,
    url: str,
    params: Mapping[str, str] | None,
    item: Callable[[Reader, dict[str, Any]], T],
) -> AsyncIterator[list[T]]:
    """
    Read a HAL collection page by page.

    Args:
        upstream: The PIM upstream.
        endpoint: The endpoint template, for metrics and errors.
        url: The first page's path.
        params: The first page's query parameters.
        item: Parses one item of a page.

    Returns:
        An async iterator of parsed pages.
    """
    next_url: str | httpx.URL = url
    next_params = params
    seen: set[str] = set()
    while True:
        spec = RequestSpec(
            method="GET",
            url=str(next_url),
            endpoint=endpoint,
            params=next_params,
            headers=ACCEPT_JSON,
        )

        def handle(
            response: httpx.Response, spec: RequestSpec = spec
        ) -> tuple[list[T], str | None]:
            require_status(spec, response, (200,))
            reader = Reader(spec, response)
            document = parse_json(spec, response)
            found = [item(reader, raw) for raw in reader.items(document, "page")]
            href = reader.next_href(document)
            if href is not None:
                key = httpx.URL(href).raw_path.decode("ascii", "replace")
                if key in seen:
                    raise protocol_error(spec, response, "next link repeats a page already read")
                seen.add(key)
            return found, href

        found, href = await upstream.request(spec, handle)
        if found:
            yield found
        if href is None or not found:
            return
        next_url = on_origin(upstream.client.base_url, href)
        next_params = None


async def get_list(
    upstream: Upstream,
    *,
    endpoint: str,
    url: str,
    item: Callable[[Reader, dict[str, Any]], T],
) -> list[T]:
    """
    Read a plain JSON array (asset attributes, attribute options: at most 100, not paged).

    Returns:
        The parsed items.
    """
    spec = RequestSpec(method="GET", url=url, endpoint=endpoint, headers=ACCEPT_JSON)

    def handle(response: httpx.Response) -> list[T]:
        require_status(spec, response, (200,))
        reader = Reader(spec, response)
        document = parse_json(spec, response)
        return [item(reader, reader.obj(raw, "item")) for raw in reader.array(document, "answer")]

    return await upstream.request(spec, handle)


async def get_one(
    upstream: Upstream,
    *,
    endpoint: str,
    url: str,
    item: Callable[[Reader, dict[str, Any]], T],
) -> T:
    """
    Read one JSON object.

    Returns:
        The parsed item.
    """
    spec = RequestSpec(method="GET", url=url, endpoint=endpoint, headers=ACCEPT_JSON)

    def handle(response: httpx.Response) -> T:
        require_status(spec, response, (200,))
        reader = Reader(spec, response)
        return item(reader, reader.obj(parse_json(spec, response), "answer"))

    return await upstream.request(spec, handle)


__all__ = [
    "ACCEPT_JSON",
    "MAX_CODES",
    "PAGE_LIMIT",
    "UpdatedFilter",
    "asset_searches",
    "format_datetime",
    "get_list",
    "get_one",
    "on_origin",
    "pages",
]
