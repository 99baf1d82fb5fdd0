"""
A REST DAM read through configuration alone (``kind = "rest"``).

Requests go through the shared :class:`daemon.upstream.session.Upstream` (retries, limiter,
auth, observer) with the ``Source*`` error kinds. :class:`RestSource` places the listed assets
in their window; the work is delegated: requests and parsing to
:mod:`daemon.sources.rest_calls`, page requests to :mod:`daemon.sources.rest_listing` (paged by
:mod:`daemon.sources.rest_paging`), the DAM's clock to :mod:`daemon.sources.rest_clock`,
reading by id to :mod:`daemon.sources.rest_lookup` and downloads to
:mod:`daemon.sources.rest_binaries`. Endpoint names in errors and metrics are the configured
path templates, never URLs with query strings (which may hold an API key).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

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
from daemon.sources import rest_binaries, rest_lookup
from daemon.sources.credentials import OAuth2ClientCredentials, build_auth, query_credentials
from daemon.sources.fields import floor_to
from daemon.sources.rest_calls import RestCalls
from daemon.sources.rest_clock import DamClock
from daemon.sources.rest_listing import RestListing
from daemon.sources.rest_paging import (
    BoundaryDedupe,
    anchored_pages,
    positional_pages,
    token_pages,
)
from daemon.sources.window import place
from daemon.upstream.policy import (
    AttemptLimits,
    ErrorKinds,
    HttpTimeouts,
    RequestObserver,
    RetryPolicy,
)
from daemon.upstream.session import Upstream
from daemon.upstream.throttle import UpstreamLimiter
from daemon.upstream.tls import TlsOptions, tls_verify

log = structlog.get_logger(__name__)

KINDS = ErrorKinds(
    unavailable=SourceUnavailable,
    throttled=SourceUnavailable,
    auth=SourceAuthError,
    protocol=SourceProtocolError,
)
END = datetime.max.replace(tzinfo=UTC)


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
        retry_cap: Caps ``http.retry`` field by field (one-shot commands); ``None``: as configured.
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
        retry_cap: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self._clock = DamClock(settings.server_time_path, monotonic)
        self.settings = settings
        limits = httpx.Limits(max_connections=http.max_in_flight * 2)
        key = f"sources.{name}.http"
        client = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=HttpTimeouts.from_settings(http.timeouts).to_httpx(),
            verify=tls_verify(TlsOptions.from_settings(http), upstream=name, key=key),
            limits=limits,
            transport=transport,
        )
        auth = build_auth(settings.auth)
        query_auth = query_credentials(settings.auth)
        self.upstream = Upstream(
            name,
            client,
            KINDS,
            limiter=UpstreamLimiter(http.max_in_flight, http.rate_limit),
            # The OAuth2 token fetch shares this upstream, so the cap bounds it too.
            retry=RetryPolicy.from_settings(http.retry).within(retry_cap),
            observer=observer,
            auth=auth,
            limits=AttemptLimits.from_settings(http, key),
            credential_params=query_auth,
        )
        if isinstance(auth, OAuth2ClientCredentials):
            auth.bind(self.upstream)
        self._calls = RestCalls(name, settings, self.upstream, query_auth, self._clock)
        self._listing = RestListing(self._calls)
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

    # -- DamSource ------------------------------------------------------------------------

    async def server_now(self) -> datetime:
        """
        The DAM's clock: the server-time body field when configured, else ``Date``.

        The clock of the latest answer is reused while it is younger than
        ``clock_anchor_max_age``: its DAM time plus the time elapsed since, measured on the
        monotonic clock (a duration, never a local wall-clock reading). So an idle pass costs
        one request, the listing. Otherwise a one-item probe asks the DAM.
        """
        recent = self._clock.recent(self.settings.clock_anchor_max_age)
        if recent is not None:
            return recent
        now = datetime.now(UTC)  # only the bounds of a throw-away probe, never a result
        spec = self._listing.spec(now, limit=1, position=None)
        body, response = await self._calls.get_json(spec)
        return self._clock.settle(body, response, spec)

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
        fetch_page = self._listing.fetch_page
        guard = self._calls.page_guard(self.settings.changes_path)
        pages: AsyncIterator[Sequence[DamAsset | SourceAssetError]]
        if self._anchored:
            pages = anchored_pages(
                fetch_page, window.since, None, limit, lambda d: floor_to(d, fmt), guard
            )
        elif paging.style in ("page", "offset"):
            pages = positional_pages(fetch_page, limit, guard)
        else:
            pages = token_pages(fetch_page, window.since, limit, guard)
        tolerance = timedelta(seconds=self.settings.future_tolerance)
        # Anchored reading never repeats an asset; token styles may, at a page boundary.
        dedupe = self.window_dedupe = BoundaryDedupe()
        reported: set[tuple[str | None, str]] = set()
        async for items in pages:
            # The answer just read anchored the clock; without one, until is the best guess.
            dam_now = self._clock.now() or window.until
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
                    item = self._calls.future(item, dam_now)
                if (item.asset_id, item.field) not in reported:
                    reported.add((item.asset_id, item.field))
                    errors.append(item)
            assets.sort(key=lambda a: a.cursor)
            if assets or errors:
                yield SourcePage(assets=assets, errors=errors)

    async def fetch(self, ids: Sequence[str]) -> SourcePage:
        """
        The current state of ``ids`` (deleted ones included when the DAM lists them).

        See :func:`daemon.sources.rest_lookup.fetch_ids` for the ways the DAM is asked.
        """
        return await rest_lookup.fetch_ids(self._calls, ids)

    async def all_ids(self) -> AsyncIterator[Sequence[str]]:
        """Every live id: the ids endpoint when configured, else a full read of the changes."""
        ids_path = self.settings.ids_path
        if ids_path is not None:
            async for batch in rest_lookup.endpoint_ids(self._calls, ids_path):
                yield batch
            return
        # Every window: a future-dated asset is live too (it must not be swept away).
        async for page in self.changes(Window(None, END)):
            live = [a.id for a in page.assets if not a.deleted]
            if live:
                yield live

    def open_binary(self, asset: DamAsset) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream the binary; length and checksum are verified as the chunks pass."""
        return rest_binaries.open_binary(self._calls, asset)


__all__ = ["KINDS", "RestSource"]
