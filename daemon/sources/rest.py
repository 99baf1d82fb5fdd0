"""
A REST DAM read through configuration alone (``kind = "rest"``).

Requests go through the shared :class:`daemon.upstream.session.Upstream` (retries, limiter,
auth, observer) with the ``Source*`` error kinds; answers are read by
:mod:`daemon.sources.rest_items` and paged by :mod:`daemon.sources.rest_paging`. Endpoint
names in errors and metrics are the configured path templates, never URLs with query strings
(which may hold an API key).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from daemon.core.errors import (
    SourceAssetError,
    SourceAuthError,
    SourceProtocolError,
    SourceUnavailable,
)
from daemon.core.records import DamAsset, SourcePage, Window
from daemon.settings.connections import HttpSettings
from daemon.settings.dam_sources import RestSettings
from daemon.sources.checksums import verified
from daemon.sources.credentials import OAuth2ClientCredentials, build_auth, query_credentials
from daemon.sources.fields import (
    PathMissingError,
    dig,
    dig_optional,
    floor_to,
    format_datetime,
    parse_datetime,
    resolution,
)
from daemon.sources.rest_items import parse_item
from daemon.sources.rest_paging import (
    BoundaryDedupe,
    RawPage,
    anchored_pages,
    positional_pages,
    token_pages,
)
from daemon.sources.window import future_error, place
from daemon.upstream.policy import (
    ErrorKinds,
    HttpTimeouts,
    RequestObserver,
    RequestSpec,
    RetryPolicy,
)
from daemon.upstream.session import Upstream, read_json
from daemon.upstream.throttle import UpstreamLimiter

log = structlog.get_logger(__name__)

KINDS = ErrorKinds(
    unavailable=SourceUnavailable,
    throttled=SourceUnavailable,
    auth=SourceAuthError,
    protocol=SourceProtocolError,
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
END = datetime.max.replace(tzinfo=UTC)


def _page_plan(target: int, limit: int) -> tuple[int, int]:
    """
    A (page size, 1-based page) whose page holds ``target`` and at least one later slot.

    Smaller sizes are tried first; only when ``target + 1`` is a multiple of every size from 2
    to ``limit`` does the page grow past ``limit`` (keep ``page_size`` below the DAM's max).
    """
    for size in [*range(limit, 1, -1), *range(limit + 1, 2 * limit + 2)]:
        if target % size != size - 1:
            return size, target // size + 1
    return target + 2, 1  # pragma: no cover (no integer is a multiple of limit..2*limit+1)


class RestSource:
    """
    A configurable REST DAM.

    Args:
        name: Source name (metrics, logs, errors).
        settings: The ``[sources.rest]`` section.
        http: Timeouts, retries and limits.
        observer: HTTP metrics hook.
        transport: Injected transport (tests mount a simulator).
        monotonic: Measures the time elapsed since the DAM's clock was last read.
    """

    def __init__(
        self,
        name: str,
        settings: RestSettings,
        http: HttpSettings,
        *,
        observer: RequestObserver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._monotonic = monotonic
        #: (the DAM's time in the latest answer, the monotonic time it arrived)
        self._clock_anchor: tuple[datetime, float] | None = None
        self.settings = settings
        limits = httpx.Limits(max_connections=http.max_in_flight * 2)
        client = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=HttpTimeouts.from_settings(http.timeouts).to_httpx(),
            verify=http.verify_tls,
            limits=limits,
            transport=transport,
        )
        auth = build_auth(settings.auth)
        self.upstream = Upstream(
            name,
            client,
            KINDS,
            limiter=UpstreamLimiter(http.max_in_flight, http.rate_limit),
            retry=RetryPolicy.from_settings(http.retry),
            observer=observer,
            auth=auth,
        )
        if isinstance(auth, OAuth2ClientCredentials):
            auth.bind(self.upstream)
        self._query_auth = query_credentials(settings.auth)
        self.sorted_by_cursor = settings.sorted
        self._anchored = settings.paging.style in ("page", "offset") and (
            settings.sorted and (settings.modified_since is not None or settings.method == "POST")
        )
        if settings.paging.style in ("page", "offset") and not self._anchored:
            log.warning(
                "source.unstable_paging",
                source=name,
                style=settings.paging.style,
                hint="configure sort_param and modified_since; see docs/sources.md",
            )
        #: The de-duplication state of the latest window (its size is bounded by ties).
        self.window_dedupe = BoundaryDedupe()
        self._closed = False

    def __repr__(self) -> str:
        return f"RestSource(name={self.name!r}, base_url={self.settings.base_url!r})"

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.upstream.aclose()

    # -- requests -------------------------------------------------------------------------

    def _since(self, since: datetime | None) -> str | None:
        """The lower bound as sent: floored (one unit earlier when exclusive)."""
        s = self.settings
        if s.modified_since is None:
            return None
        fmt = s.modified_since.format
        low = floor_to(since or EPOCH, fmt)
        if s.modified_since.exclusive:
            low -= resolution(fmt)
        return format_datetime(low, fmt)

    def _listing_spec(
        self,
        since: datetime | None,
        *,
        limit: int,
        position: tuple[str, str] | None,
        url: str | None = None,
    ) -> RequestSpec:
        s = self.settings
        endpoint = s.changes_path
        if url is not None:
            return RequestSpec("GET", url, endpoint, params=self._query_auth or None)
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
            body = _render(s.body_template, values)
            body.update(named)
            params = {**s.params, **self._query_auth}
            return RequestSpec("POST", endpoint, endpoint, params=params or None, json=body)
        params = {**s.params, **{k: str(v) for k, v in named.items()}, **self._query_auth}
        return RequestSpec("GET", endpoint, endpoint, params=params)

    async def _get_json(self, spec: RequestSpec) -> tuple[Any, httpx.Response]:
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

    def _items(self, body: Any, spec: RequestSpec) -> list[Any]:
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

    def _parse(self, raw: Any) -> DamAsset | SourceAssetError:
        try:
            return parse_item(
                raw,
                self.settings.fields,
                source=self.name,
                download=self.settings.download is not None,
            )
        except SourceAssetError as exc:
            return exc

    def _next_token(self, body: Any, response: httpx.Response) -> str | None:
        paging = self.settings.paging
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
        if value is not None and not isinstance(value, str | int):
            raise SourceProtocolError(f"next page token is not text: {type(value).__name__}")
        return str(value) if value not in (None, "") else None

    def _check_same_host(self, url: str) -> str:
        base = httpx.URL(self.settings.base_url)
        target = base.join(url)
        if target.host != base.host:
            raise SourceProtocolError(
                "next page URL points to another host; refusing to send credentials there",
                endpoint=self.settings.changes_path,
            )
        return str(target)

    async def _fetch_page(
        self, since: datetime | None, target: int, limit: int, token: str | None
    ) -> RawPage:
        paging = self.settings.paging
        url = None
        position: tuple[str, str] | None = None
        offset = target
        size = limit
        if paging.style in ("link", "next_url") and token is not None:
            url = self._check_same_host(token)
        elif paging.style == "cursor" and token is not None:
            position = (paging.param, token)
        elif paging.style == "offset":
            position = (paging.param, str(target))
        elif paging.style == "page":
            size, page = _page_plan(target, limit)
            offset = (page - 1) * size
            position = (paging.param, str(page - 1 + paging.first_page))
        spec = self._listing_spec(since, limit=size, position=position, url=url)
        body, response = await self._get_json(spec)
        self._remember_clock(body, response, spec)
        items = [self._parse(raw) for raw in self._items(body, spec)]
        return RawPage(
            items=items, token=self._next_token(body, response), offset=offset, size=size
        )

    # -- DamSource ------------------------------------------------------------------------

    async def server_now(self) -> datetime:
        """
        The DAM's clock: the server-time body field when configured, else ``Date``.

        The clock of the latest answer is reused while it is younger than
        ``clock_anchor_max_age``: its DAM time plus the time elapsed since, measured on the
        monotonic clock (a duration, never a local wall-clock reading). So an idle pass costs
        one request, the listing. Otherwise a one-item probe asks the DAM.
        """
        anchor = self._clock_anchor
        max_age = self.settings.clock_anchor_max_age
        if anchor is not None and max_age > 0:
            elapsed = self._monotonic() - anchor[1]
            if 0 <= elapsed < max_age:
                return anchor[0] + timedelta(seconds=elapsed)
        now = datetime.now(UTC)  # only the bounds of a throw-away probe, never a result
        spec = self._listing_spec(now, limit=1, position=None)
        body, response = await self._get_json(spec)
        when = self._dam_time(body, response, spec)
        self._clock_anchor = (when, self._monotonic())
        return when

    def _dam_time(self, body: Any, response: httpx.Response, spec: RequestSpec) -> datetime:
        """The DAM's time in one answer; the ``Date`` header is floored to the second."""
        if self.settings.server_time_path:
            raw = dig_optional(body, self.settings.server_time_path)
            if raw is not None:
                try:
                    return parse_datetime(raw, "iso")
                except ValueError as exc:
                    raise SourceProtocolError(
                        f"unreadable server time: {exc}", endpoint=spec.endpoint
                    ) from None
        header = response.headers.get("date")
        if header is None:
            raise SourceProtocolError("the DAM sends no Date header", endpoint=spec.endpoint)
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            raise SourceProtocolError("unreadable Date header", endpoint=spec.endpoint) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)

    def _remember_clock(self, body: Any, response: httpx.Response, spec: RequestSpec) -> None:
        """Anchor the DAM's clock on a listing answer (an unreadable clock just skips it)."""
        try:
            when = self._dam_time(body, response, spec)
        except SourceProtocolError:
            return
        self._clock_anchor = (when, self._monotonic())

    def _dam_clock(self) -> datetime | None:
        """The DAM's time now, from the latest answer's clock (no request), if any was read."""
        anchor = self._clock_anchor
        if anchor is None:
            return None
        return anchor[0] + timedelta(seconds=max(0.0, self._monotonic() - anchor[1]))

    def _future(self, asset: DamAsset, dam_now: datetime) -> SourceAssetError:
        return future_error(
            asset.id,
            asset.updated_at,
            source=self.name,
            path=self.settings.fields.updated_at,
            dam_now=dam_now,
            tolerance=timedelta(seconds=self.settings.future_tolerance),
        )

    async def changes(self, window: Window) -> AsyncIterator[SourcePage]:
        """
        Pages of changes in the window; see docs/sources.md for the paging guarantees.

        The listing is read past ``window.until`` (no upper bound is sent): an asset up to the
        DAM's clock plus ``future_tolerance`` belongs to a later window and is skipped; a later
        one is a per-asset error (field ``updated_at``) instead of being invisible.
        """
        paging = self.settings.paging
        limit = paging.page_size
        fmt = self.settings.modified_since.format if self.settings.modified_since else "iso"
        pages: AsyncIterator[Sequence[DamAsset | SourceAssetError]]
        if self._anchored:
            pages = anchored_pages(
                self._fetch_page, window.since, None, limit, lambda d: floor_to(d, fmt)
            )
        elif paging.style in ("page", "offset"):
            pages = positional_pages(self._fetch_page, limit)
        else:
            pages = token_pages(self._fetch_page, window.since, limit)
        tolerance = timedelta(seconds=self.settings.future_tolerance)
        # Anchored reading never repeats an asset; token styles may, at a page boundary.
        dedupe = self.window_dedupe = BoundaryDedupe()
        reported: set[tuple[str | None, str]] = set()
        async for items in pages:
            # The answer just read anchored the clock; without one, until is the best guess.
            dam_now = self._dam_clock() or window.until
            horizon = dam_now + tolerance
            assets: list[DamAsset] = []
            errors: list[SourceAssetError] = []
            for item in items:
                if isinstance(item, DamAsset):
                    where = place(item.updated_at, window, horizon)
                    if where == "window" and (self._anchored or dedupe.first_time(item)):
                        assets.append(item)
                    if where != "future":
                        continue
                    item = self._future(item, dam_now)
                if (item.asset_id, item.field) not in reported:
                    reported.add((item.asset_id, item.field))
                    errors.append(item)
            assets.sort(key=lambda a: a.cursor)
            if assets or errors:
                yield SourcePage(assets=assets, errors=errors)

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        """
        The current state of ``ids`` (deleted ones included when the DAM lists them).

        Uses ``ids_param`` on the changes endpoint, else ``ids_body_template`` (one search per
        id), else ``item_path_template`` per id; an id the DAM does not return is a per-asset
        error (field ``id``).
        """
        s = self.settings
        found: dict[str, DamAsset] = {}
        errors: list[SourceAssetError] = []
        wanted = list(dict.fromkeys(ids))
        if s.ids_param is not None:
            size = s.paging.page_size
            for start in range(0, len(wanted), size):
                chunk = wanted[start : start + size]
                params = {**s.params, s.ids_param: ",".join(chunk), **self._query_auth}
                params[s.paging.limit_param] = str(len(chunk))
                spec = RequestSpec("GET", s.changes_path, s.changes_path, params=params)
                await self._collect(spec, set(chunk), found, errors)
        elif s.ids_body_template is not None:
            for asset_id in wanted:
                spec = RequestSpec(
                    "POST",
                    s.changes_path,
                    s.changes_path,
                    params={**s.params, **self._query_auth} or None,
                    json=_render(s.ids_body_template, {"{id}": _quote(asset_id)}),
                )
                await self._collect(spec, {asset_id}, found, errors)
        elif s.item_path_template is not None:
            for asset_id in wanted:
                one = await self._fetch_one(asset_id)
                if isinstance(one, SourceAssetError):
                    errors.append(one)
                elif one is not None:
                    found[one.id] = one
        else:
            raise SourceProtocolError(
                "this source cannot fetch by id: configure ids_param, ids_body_template "
                "or item_path_template",
                endpoint=s.changes_path,
            )
        dam_now = self._dam_clock()
        if dam_now is not None:
            # A retry must not write what the listing refuses (changes()).
            horizon = dam_now + timedelta(seconds=self.settings.future_tolerance)
            for asset_id, asset in list(found.items()):
                if asset.updated_at >= horizon:
                    del found[asset_id]
                    errors.append(self._future(asset, dam_now))
        reported = {e.asset_id for e in errors}
        for asset_id in wanted:
            if asset_id not in found and asset_id not in reported:
                errors.append(
                    SourceAssetError(
                        asset_id=asset_id,
                        field="id",
                        path=s.item_path_template or s.changes_path,
                        reason="not found on the DAM",
                        source=self.name,
                    )
                )
        assets = sorted(found.values(), key=lambda a: a.cursor)
        return SourcePage(assets=assets, errors=errors)

    async def _collect(
        self,
        spec: RequestSpec,
        wanted: set[str],
        found: dict[str, DamAsset],
        errors: list[SourceAssetError],
    ) -> None:
        """Read one answer of a fetch, keeping the wanted assets and every unreadable record."""
        body, response = await self._get_json(spec)
        self._remember_clock(body, response, spec)
        for raw in self._items(body, spec):
            item = self._parse(raw)
            if isinstance(item, SourceAssetError):
                errors.append(item)
            elif item.id in wanted:
                found[item.id] = item

    async def _fetch_one(self, asset_id: str) -> DamAsset | SourceAssetError | None:
        template = self.settings.item_path_template
        assert template is not None
        spec = RequestSpec(
            "GET",
            template.replace("{id}", asset_id),
            template,
            params=self._query_auth or None,
        )

        def handle(response: httpx.Response) -> Any:
            if response.status_code in (404, 410):
                return None
            if response.status_code in (401, 403):
                raise SourceAuthError(
                    "access refused", endpoint=template, status_code=response.status_code
                )
            if response.status_code >= 300:
                raise self.upstream.protocol_error(spec, response, "unexpected answer")
            body = read_json(self.upstream, spec, response)
            self._remember_clock(body, response, spec)
            return body

        body = await self.upstream.request(spec, handle)
        return None if body is None else self._parse(body)

    async def all_ids(self) -> AsyncIterator[Sequence[str]]:
        """Every live id: the ids endpoint when configured, else a full read of the changes."""
        s = self.settings
        if s.ids_path is None:
            # Every window: a future-dated asset is live too (it must not be swept away).
            async for page in self.changes(Window(None, END)):
                live = [a.id for a in page.assets if not a.deleted]
                if live:
                    yield live
            return
        cursor: str | None = None
        while True:
            params = {**self._query_auth}
            if cursor is not None:
                params[s.paging.param if s.paging.style == "cursor" else "cursor"] = cursor
            spec = RequestSpec("GET", s.ids_path, s.ids_path, params=params or None)
            body, _ = await self._get_json(spec)
            ids = dig_optional(body, s.ids_items_path)
            if not isinstance(ids, list):
                raise SourceProtocolError(
                    f"no id list at {s.ids_items_path!r}", endpoint=s.ids_path
                )
            if ids:
                yield [str(i) for i in ids]
            nxt = dig_optional(body, s.ids_cursor_path)
            if not nxt or not ids:
                return
            cursor = str(nxt)

    async def _resolve_url(self, asset: DamAsset) -> tuple[str, str]:
        download = self.settings.download
        if download is None:
            assert asset.binary is not None and asset.binary.url is not None
            return asset.binary.url, "binary"
        template = download.path_template
        spec = RequestSpec(
            "GET", template.replace("{id}", asset.id), template, params=self._query_auth or None
        )

        def handle(response: httpx.Response) -> Any:
            if response.status_code >= 400:
                raise SourceAssetError(
                    asset_id=asset.id,
                    field="binary_url",
                    path=template,
                    reason=f"download endpoint answered HTTP {response.status_code}",
                    source=self.name,
                )
            return read_json(self.upstream, spec, response)

        body = await self.upstream.request(spec, handle)
        url = dig_optional(body, download.url_path)
        if not isinstance(url, str) or not url:
            raise SourceAssetError(
                asset_id=asset.id,
                field="binary_url",
                path=f"{template} -> {download.url_path}",
                reason="no download URL in the answer",
                source=self.name,
            )
        return url, f"{template} -> {download.url_path}"

    @asynccontextmanager
    async def open_binary(self, asset: DamAsset) -> AsyncIterator[AsyncIterator[bytes]]:
        """Stream the binary; length and checksum are verified as the chunks pass."""
        if asset.binary is None or (asset.binary.url is None and self.settings.download is None):
            raise SourceAssetError(
                asset_id=asset.id,
                field="binary_url",
                path=self.settings.fields.binary_url or "",
                reason="the asset has no binary",
                source=self.name,
            )
        url, where = await self._resolve_url(asset)
        base = httpx.URL(self.settings.base_url)
        target = base.join(url)
        download = self.settings.download
        if download is not None:
            # A resolved URL is presigned (Bynder's S3 answers 400 to a second auth mechanism):
            # the DAM's credentials go with it only when configured, whatever its host.
            authenticate = download.authenticate_binary and target.host == base.host
        else:
            authenticate = target.host == base.host
        spec = RequestSpec(
            "GET",
            str(target),
            "binary",
            params=(self._query_auth or None) if authenticate else None,
            authenticated=authenticate,
        )
        async with self.upstream.stream(spec) as response:
            if response.status_code >= 300:
                raise SourceAssetError(
                    asset_id=asset.id,
                    field="binary_url",
                    path=where,
                    reason=f"binary download answered HTTP {response.status_code}",
                    source=self.name,
                )
            length_header = response.headers.get("content-length")
            try:
                length = int(length_header) if length_header is not None else None
            except ValueError:
                length = None
            yield verified(
                self._chunks(response, asset.id, where),
                source=self.name,
                asset_id=asset.id,
                path=where,
                expected_size=asset.binary.size,
                content_length=length,
                checksum=asset.binary.checksum,
                algorithm=self.settings.fields.checksum_algorithm,
            )

    async def _chunks(
        self, response: httpx.Response, asset_id: str, where: str
    ) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                yield chunk
        except httpx.TimeoutException as exc:
            raise SourceUnavailable("binary download timed out", endpoint="binary") from exc
        except httpx.TransportError as exc:
            raise SourceAssetError(
                asset_id=asset_id,
                field="binary",
                path=where,
                reason=f"truncated download: connection broke after {received} bytes",
                source=self.name,
            ) from exc
        finally:
            self.upstream.observer.bytes_streamed(
                upstream=self.name, endpoint="binary", received=received
            )


def _quote(asset_id: str) -> str:
    """An id as it may stand inside a quoted search expression (no quote can close it)."""
    return asset_id.replace("\\", "\\\\").replace('"', '\\"')


def _render(template: Any, values: dict[str, str]) -> Any:
    """Copy a JSON body template, replacing ``{since}``-style placeholders in strings."""
    if isinstance(template, dict):
        return {k: _render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, values) for v in template]
    if isinstance(template, str):
        if template in values and template == "{limit}":
            return int(values["{limit}"])
        for key, value in values.items():
            template = template.replace(key, value)
    return template


__all__ = ["KINDS", "RestSource"]
