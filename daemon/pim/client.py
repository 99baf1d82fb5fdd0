"""
``PimClient``: the Akeneo PIM Asset Manager API over one long-lived ``httpx.AsyncClient``.

The transport discipline (retries with backoff and ``Retry-After``, the in-flight limiter and
the shared 429 pause, the 401 refresh, the metrics observer) comes from
:class:`daemon.upstream.session.Upstream`; this class only knows Akeneo: endpoint templates,
pagination, bulk splitting and the typed answers. Status mapping lives in
:mod:`daemon.pim.responses`, JSON-to-record parsing in :mod:`daemon.pim.parse`.

Lifecycle follows httpx's ``ClientState``: usable until :meth:`aclose` (idempotent), unusable
after it; ``async with PimClient(...)`` closes it on exit.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from daemon.core.errors import PimAuthError, PimProtocolError, PimThrottled, PimUnavailable
from daemon.core.json_limits import dump_bytes
from daemon.core.records import AssetAttribute, AssetFamily, PimAsset
from daemon.pim import bulk, media, parse, urls
from daemon.pim.catalog import CatalogMethods
from daemon.pim.models import (
    AssetFamilyInfo,
    AssetUpsertResult,
    AttributeOption,
    ClientState,
    RemoteAsset,
    UpsertStatus,
)
from daemon.pim.reads import (
    UpdatedFilter,
    asset_searches,
    get_list,
    get_one,
    pages,
)
from daemon.pim.responses import handle_delete, handle_upsert
from daemon.pim.structure_docs import StructureMethods
from daemon.pim.tokens import AppTokenAuth, PasswordAuth
from daemon.settings.connections import DEFAULT_PIM, PimSettings
from daemon.upstream.policy import (
    AttemptLimits,
    ErrorKinds,
    HttpTimeouts,
    RequestObserver,
    RequestSpec,
    RetryPolicy,
)
from daemon.upstream.session import Upstream
from daemon.upstream.throttle import UpstreamLimiter
from daemon.upstream.tls import TlsOptions, tls_verify

T = TypeVar("T")

PIM_ERRORS = ErrorKinds(
    unavailable=PimUnavailable, throttled=PimThrottled, auth=PimAuthError, protocol=PimProtocolError
)
OPTION_TYPES = frozenset({"single_option", "multiple_options"})


class PimClient(CatalogMethods, StructureMethods):
    """
    Async client of one Akeneo PIM.

    Args:
        base_url: The PIM's root URL (``https://pim.example.com``).
        auth: :class:`PasswordAuth` or :class:`AppTokenAuth`.
        timeouts: Explicit connect/read/write/pool timeouts.
        retry: Retry policy for transient failures.
        max_in_flight: Concurrent requests (Akeneo allows 4 per connection).
        rate_limit: Requests per second, or ``None``.
        observer: Metrics hook; every request is reported with its endpoint template.
        transport: Injected transport (``httpx.ASGITransport(app)`` in tests).
        tls: Certificate verification, CA bundle and client certificate (default: verify
            against the default CAs).
        limits: Per-attempt deadlines and the answer body cap (``pim.http`` keys).
        sleep: Injected backoff sleep, for tests.
        name: Its ``upstream`` in logs and metrics (``pim``; ``pim:<name>`` for ``[pims.<name>]``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: PasswordAuth | AppTokenAuth,
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
        max_in_flight: int = 4,
        rate_limit: float | None = None,
        observer: RequestObserver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tls: TlsOptions | None = None,
        limits: AttemptLimits | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        name: str = "pim",
    ) -> None:
        timeouts = timeouts or HttpTimeouts()
        limits = limits or AttemptLimits(key="pim.http")
        http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeouts.to_httpx(),
            transport=transport,
            verify=tls_verify(tls or TlsOptions(), upstream=name, key=limits.key),
            # The limiter bounds requests; the pool is larger because an open download keeps
            # its connection after giving its limiter slot back.
            limits=httpx.Limits(
                max_connections=max(10, 2 * max_in_flight), max_keepalive_connections=max_in_flight
            ),
            headers={"User-Agent": "damsync"},
        )
        self.auth = auth
        self.upstream = Upstream(
            name,
            http,
            PIM_ERRORS,
            limiter=UpstreamLimiter(max_in_flight, rate_limit),
            retry=retry,
            observer=observer,
            auth=auth,
            sleep=sleep,
            limits=limits,
        )
        if isinstance(auth, PasswordAuth):
            auth.bind(self.upstream)
        self.state = ClientState.UNOPENED

    @classmethod
    def from_settings(
        cls,
        settings: PimSettings,
        *,
        observer: RequestObserver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_cap: RetryPolicy | None = None,
        name: str = DEFAULT_PIM,
    ) -> PimClient:
        """
        Build a client from the ``[pim]`` (or ``[pims.<name>]``) section; ``retry_cap`` caps
        ``pim.http.retry`` field by field (one-shot commands pass ``ONE_SHOT_RETRY``).

        Returns:
            A new client; the caller closes it.
        """
        auth: PasswordAuth | AppTokenAuth
        if settings.token is not None:
            auth = AppTokenAuth(settings.token.get_secret_value())
        else:
            # The settings validator guarantees all four are set in this mode.
            assert settings.client_id and settings.secret and settings.username
            assert settings.password is not None
            auth = PasswordAuth(
                client_id=settings.client_id,
                secret=settings.secret.get_secret_value(),
                username=settings.username,
                password=settings.password.get_secret_value(),
                refresh_margin=settings.refresh_margin,
            )
        http, named = settings.http, name != DEFAULT_PIM
        return cls(
            str(settings.base_url),
            auth=auth,
            timeouts=HttpTimeouts.from_settings(http.timeouts),
            retry=RetryPolicy.from_settings(http.retry).within(retry_cap),
            max_in_flight=http.max_in_flight,
            rate_limit=http.rate_limit,
            observer=observer,
            transport=transport,
            tls=TlsOptions.from_settings(http),
            limits=AttemptLimits.from_settings(http, f"pims.{name}.http" if named else "pim.http"),
            name=f"pim:{name}" if named else "pim",
        )

    def __repr__(self) -> str:
        return f"PimClient(base_url={str(self.upstream.client.base_url)!r}, auth={self.auth!r})"

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self.state is ClientState.CLOSED:
            raise RuntimeError("cannot reopen a closed PimClient")
        self.state = ClientState.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; calling it again does nothing."""
        if self.state is ClientState.CLOSED:
            return
        self.state = ClientState.CLOSED
        await self.upstream.aclose()

    def _open(self) -> Upstream:
        if self.state is ClientState.CLOSED:
            raise RuntimeError("the PimClient is closed")
        return self.upstream

    # -- asset families -----------------------------------------------------------------------

    async def iter_asset_families(self) -> AsyncIterator[AssetFamilyInfo]:
        """Every asset family, following ``search_after`` pages."""
        async for page in pages(
            self._open(),
            endpoint=urls.ASSET_FAMILIES,
            url=urls.ASSET_FAMILIES,
            params=None,
            item=parse.asset_family_info,
        ):
            for family in page:
                yield family

    async def get_asset_family(self, code: str) -> AssetFamilyInfo:
        """One asset family (``PimNotFound`` if unknown)."""
        url = urls.path(urls.ASSET_FAMILY, family=code)
        return await get_one(
            self._open(), endpoint=urls.ASSET_FAMILY, url=url, item=parse.asset_family_info
        )

    async def get_asset_attributes(self, family: str) -> list[AssetAttribute]:
        """The attributes of ``family`` (a plain array of at most 100)."""
        url = urls.path(urls.ASSET_ATTRIBUTES, family=family)
        return await get_list(
            self._open(), endpoint=urls.ASSET_ATTRIBUTES, url=url, item=parse.asset_attribute
        )

    async def get_attribute_options(self, family: str, attribute: str) -> list[AttributeOption]:
        """The options of an option attribute (a plain array of at most 100)."""
        url = urls.path(urls.ASSET_OPTIONS, family=family, attribute=attribute)
        return await get_list(
            self._open(), endpoint=urls.ASSET_OPTIONS, url=url, item=parse.attribute_option
        )

    async def get_family_structure(self, code: str) -> AssetFamily:
        """
        A family with its attributes and the option codes of its option attributes.

        Returns:
            The structure ``mapping/`` converts values with.
        """
        info = await self.get_asset_family(code)
        attributes = await self.get_asset_attributes(code)
        options: dict[str, frozenset[str]] = {}
        for attribute in attributes:
            if attribute.type in OPTION_TYPES:
                found = await self.get_attribute_options(code, attribute.code)
                options[attribute.code] = frozenset(o.code for o in found)
        return AssetFamily(
            code=info.code,
            attributes={a.code: a for a in attributes},
            options=options,
            attribute_as_main_media=info.attribute_as_main_media,
            labels=info.labels,
            naming_source=parse.naming_source(info.naming_convention),
        )

    async def upsert_asset_family(self, code: str, body: Mapping[str, Any]) -> UpsertStatus:
        """PATCH one asset family (``code`` is added to the body when missing)."""
        return await self._patch(urls.ASSET_FAMILY, {"family": code}, {"code": code, **body})

    async def upsert_asset_attribute(
        self, family: str, code: str, body: Mapping[str, Any]
    ) -> UpsertStatus:
        """PATCH one attribute of ``family``."""
        params = {"family": family, "attribute": code}
        return await self._patch(urls.ASSET_ATTRIBUTE, params, {"code": code, **body})

    async def upsert_attribute_option(
        self, family: str, attribute: str, code: str, labels: Mapping[str, str] | None = None
    ) -> UpsertStatus:
        """PATCH one option of an option attribute."""
        params = {"family": family, "attribute": attribute, "code": code}
        body: dict[str, Any] = {"code": code}
        if labels is not None:
            body["labels"] = dict(labels)
        return await self._patch(urls.ASSET_OPTION, params, body)

    # -- assets -------------------------------------------------------------------------------

    async def iter_assets(
        self,
        family: str,
        *,
        updated: Sequence[UpdatedFilter] = (),
        codes: Iterable[str] | None = None,
        channel: str | None = None,
        locales: Sequence[str] | None = None,
        search: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[RemoteAsset]:
        """
        The assets of ``family``, page by page (100 per page, set by the server).

        Args:
            family: Asset family code.
            updated: ``updated`` conditions (ANDed).
            codes: Only these codes (sent as ``code IN``, at most 100 per request).
            channel: Keep only values of this channel (or without channel).
            locales: Keep only values of these locales (or without locale).
            search: Further raw filters, merged into ``search``.
        """
        url = urls.path(urls.ASSETS, family=family)

        def item(reader: parse.Reader, raw: dict[str, Any]) -> RemoteAsset:
            return parse.remote_asset(reader, family, raw)

        for query in asset_searches(updated=updated, codes=codes, extra=search):
            params: dict[str, str] = {}
            if query is not None:
                params["search"] = query
            if channel:
                params["channel"] = channel
            if locales:
                params["locales"] = ",".join(locales)
            async for page in pages(
                self._open(), endpoint=urls.ASSETS, url=url, params=params or None, item=item
            ):
                for asset in page:
                    yield asset

    async def get_asset(self, family: str, code: str) -> RemoteAsset:
        """One asset (``PimNotFound`` if the family or the asset is unknown)."""
        url = urls.path(urls.ASSET, family=family, code=code)

        def item(reader: parse.Reader, raw: dict[str, Any]) -> RemoteAsset:
            return parse.remote_asset(reader, family, raw)

        return await get_one(self._open(), endpoint=urls.ASSET, url=url, item=item)

    async def upsert_asset(self, asset: PimAsset) -> UpsertStatus:
        """PATCH one asset; a refusal raises ``PimRejected`` with its field errors."""
        params = {"family": asset.family, "code": asset.code}
        return await self._patch(urls.ASSET, params, asset.to_json())

    async def upsert_assets(
        self, family: str, assets: Iterable[PimAsset | Mapping[str, Any]]
    ) -> list[AssetUpsertResult]:
        """
        Upsert any number of assets, at most 100 per request, requests sent concurrently.

        Returns:
            One :class:`AssetUpsertResult` per input item, in input order.
        """
        return await bulk.upsert_assets(self._open(), family, assets)

    async def delete_asset(self, family: str, code: str) -> None:
        """DELETE one asset (``PimNotFound`` if it does not exist)."""
        url = urls.path(urls.ASSET, family=family, code=code)
        spec = RequestSpec(method="DELETE", url=url, endpoint=urls.ASSET)
        await self._open().request(spec, handle_delete(spec))

    # -- media files --------------------------------------------------------------------------

    async def upload_media_file(
        self,
        source: str | os.PathLike[str] | media.StreamFactory,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
    ) -> str:
        """
        Upload a binary from a path or an async byte-stream factory (see :mod:`media`).

        Returns:
            The media file code.
        """
        return await media.upload_media_file(
            self._open(), source, filename=filename, mime_type=mime_type
        )

    def download_media_file(self, code: str) -> AbstractAsyncContextManager[media.MediaDownload]:
        """
        Stream a media file: ``async with client.download_media_file(code) as download``.

        Returns:
            A context manager yielding a :class:`~daemon.pim.media.MediaDownload`.
        """
        return media.download_media_file(self._open(), code)

    # -- helpers ------------------------------------------------------------------------------

    async def _patch(
        self, template: str, params: Mapping[str, str], body: Mapping[str, Any]
    ) -> UpsertStatus:
        spec = RequestSpec(
            method="PATCH",
            url=urls.path(template, **params),
            endpoint=template,
            headers=bulk.JSON_HEADERS,
            body=dump_bytes(body),
        )
        return UpsertStatus(await self._open().request(spec, handle_upsert(spec)))


__all__ = ["PIM_ERRORS", "ClientState", "PimClient"]
