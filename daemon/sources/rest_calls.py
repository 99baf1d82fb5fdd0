"""
What every part of a REST source shares: the JSON request, the item list and its parsing.

:class:`RestCalls` bundles one source's name, settings, :class:`~daemon.upstream.session.Upstream`,
query-string credentials and DAM clock, so the listing, the fetch by id and the binary download
(:mod:`daemon.sources.rest_listing`, :mod:`daemon.sources.rest_lookup`,
:mod:`daemon.sources.rest_binaries`) send and read requests the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote as percent_encode

import httpx

from daemon.core.errors import SourceAssetError, SourceAuthError, SourceProtocolError
from daemon.core.records import DamAsset
from daemon.settings.dam_sources import RestSettings
from daemon.sources.fields import PathMissingError, dig
from daemon.sources.rest_clock import DamClock
from daemon.sources.rest_items import parse_item
from daemon.sources.rest_paging import PageGuard
from daemon.sources.window import future_error
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream, read_json


class RestCalls:
    """
    One REST source's request plumbing.

    Args:
        name: Source name (metrics, logs, errors).
        settings: The ``[sources.rest]`` section.
        upstream: The shared HTTP session (retries, limiter, auth, observer).
        query_auth: Query parameters that authenticate (``api_key_query``), else empty.
        clock: The DAM's clock, anchored on the answers read.
    """

    __slots__ = ("clock", "name", "query_auth", "settings", "upstream")

    def __init__(
        self,
        name: str,
        settings: RestSettings,
        upstream: Upstream,
        query_auth: dict[str, str],
        clock: DamClock,
    ) -> None:
        self.name = name
        self.settings = settings
        self.upstream = upstream
        self.query_auth = query_auth
        self.clock = clock

    async def get_json(self, spec: RequestSpec) -> tuple[Any, httpx.Response]:
        """The JSON body and the response of one request; refusals and errors raise."""

        def handle(response: httpx.Response) -> tuple[Any, httpx.Response]:
            if response.status_code in (401, 403):
                raise SourceAuthError(
                    "access refused",
                    endpoint=spec.endpoint,
                    method=spec.method,
                    status_code=response.status_code,
                )
            if response.status_code >= 300:
                raise self.upstream.protocol_error(
                    spec, response, f"unexpected HTTP {response.status_code}"
                )
            return read_json(self.upstream, spec, response), response

        return await self.upstream.request(spec, handle)

    def items(self, body: Any, spec: RequestSpec) -> list[Any]:
        """The raw items of a listing answer (at ``items_path``)."""
        try:
            items = dig(body, self.settings.items_path)
        except PathMissingError:
            raise SourceProtocolError(
                f"no items at {self.settings.items_path!r}",
                endpoint=spec.endpoint,
                method=spec.method,
            ) from None
        if not isinstance(items, list):
            raise SourceProtocolError(
                f"items at {self.settings.items_path or '<body>'!r} are not a list",
                endpoint=spec.endpoint,
                method=spec.method,
            )
        return items

    def parse(self, raw: Any) -> DamAsset | SourceAssetError:
        """One item read into an asset; an unreadable one becomes its per-asset error."""
        try:
            return parse_item(
                raw,
                self.settings.fields,
                source=self.name,
                download=self.settings.download is not None,
            )
        except SourceAssetError as exc:
            return exc

    def page_guard(self, endpoint: str) -> PageGuard:
        """A fresh guard for one walk over ``endpoint`` (``paging.max_pages``)."""
        return PageGuard(
            self.settings.paging.max_pages,
            key=f"sources.{self.name}.rest.paging.max_pages",
            endpoint=endpoint,
        )

    def future(self, asset: DamAsset, dam_now: datetime) -> SourceAssetError:
        """The per-asset error of an asset dated beyond the DAM's clock plus the tolerance."""
        return future_error(
            asset.id,
            asset.updated_at,
            source=self.name,
            path=self.settings.fields.updated_at,
            dam_now=dam_now,
            tolerance=timedelta(seconds=self.settings.future_tolerance),
        )


def quote(asset_id: str) -> str:
    """An id as it may stand inside a quoted search expression (no quote can close it)."""
    return asset_id.replace("\\", "\\\\").replace('"', '\\"')


def path_segment(value: str) -> str:
    """
    A DAM value (an asset id) as exactly one URL path segment.

    Everything but unreserved characters is percent-encoded (``/``, ``?``, ``#``, ``%``
    included), and the dot segments ``.`` and ``..`` too, which URL normalisation would
    otherwise resolve: the id ``../../admin/delete?all=1#`` must not become another path.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return percent_encode(value, safe="")


def fill_path(template: str, asset_id: str) -> str:
    """A path template (``/api/v4/media/{id}/``) with ``{id}`` as one encoded segment."""
    return template.replace("{id}", path_segment(asset_id))


def render(template: Any, values: dict[str, str]) -> Any:
    """Copy a JSON body template, replacing ``{since}``-style placeholders in strings."""
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if isinstance(template, str):
        if template in values and template == "{limit}":
            return int(values["{limit}"])
        for key, value in values.items():
            template = template.replace(key, value)
    return template


__all__ = ["RestCalls", "fill_path", "path_segment", "quote", "render"]
