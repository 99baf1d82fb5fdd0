"""
The PIM catalog side of :class:`~daemon.pim.client.PimClient`: channels, product attributes
and the product / product-model bulk upserts that link assets to products.

A mixin so that ``client.py`` stays about assets; it only needs the client's ``_open()``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal

from daemon.core.json_limits import dump_bytes
from daemon.core.records import Channel
from daemon.pim import bulk, parse, urls
from daemon.pim.models import LineResult, Product, ProductAttribute, ProductKind, UpsertStatus
from daemon.pim.parse import Reader
from daemon.pim.reads import MAX_CODES, PAGE_LIMIT, get_one, pages
from daemon.pim.responses import handle_upsert
from daemon.upstream.policy import RequestSpec
from daemon.upstream.session import Upstream

#: The list endpoint of each product-like resource.
PRODUCT_LISTS: Mapping[ProductKind, str] = {
    "product": "/api/rest/v1/products",
    "product_model": "/api/rest/v1/product-models",
}


class CatalogMethods:
    """Channels, product attributes and product bulk upserts."""

    def _open(self) -> Upstream:
        raise NotImplementedError

    # -- catalog ------------------------------------------------------------------------------

    async def iter_channels(self) -> AsyncIterator[Channel]:
        """Every channel, with offset pagination (``limit`` 100)."""
        async for page in pages(
            self._open(),
            endpoint=urls.CHANNELS,
            url=urls.CHANNELS,
            params={"limit": str(PAGE_LIMIT)},
            item=parse.channel,
        ):
            for channel in page:
                yield channel

    async def iter_product_attributes(self) -> AsyncIterator[ProductAttribute]:
        """Every product attribute, with offset pagination (``limit`` 100)."""
        async for page in pages(
            self._open(),
            endpoint=urls.PRODUCT_ATTRIBUTES,
            url=urls.PRODUCT_ATTRIBUTES,
            params={"limit": str(PAGE_LIMIT)},
            item=parse.product_attribute,
        ):
            for attribute in page:
                yield attribute

    async def get_product_attribute(self, code: str) -> ProductAttribute:
        """One product attribute (``PimNotFound`` if unknown)."""
        url = urls.path(urls.PRODUCT_ATTRIBUTE, code=code)
        return await get_one(
            self._open(), endpoint=urls.PRODUCT_ATTRIBUTE, url=url, item=parse.product_attribute
        )

    async def upsert_product_attribute(self, code: str, body: Mapping[str, Any]) -> UpsertStatus:
        """
        Create or update one product attribute (``PATCH /attributes/{code}``).

        Args:
            code: The attribute code (also sent as ``code`` in the body).
            body: The attribute JSON, e.g. ``{"type": "pim_catalog_asset_collection",
                "reference_data_name": "packshots", "group": "other"}``.

        Returns:
            ``CREATED`` (201) or ``UPDATED`` (204).

        Raises:
            PimRejected: 422, with Akeneo's ``errors`` (an immutable property changed, an
                unknown asset family...).
        """
        spec = RequestSpec(
            method="PATCH",
            url=urls.path(urls.PRODUCT_ATTRIBUTE, code=code),
            endpoint=urls.PRODUCT_ATTRIBUTE,
            headers=bulk.JSON_HEADERS,
            body=dump_bytes({**body, "code": code}),
        )
        return UpsertStatus(await self._open().request(spec, handle_upsert(spec)))

    async def iter_products(
        self,
        search: Mapping[str, Any],
        *,
        kind: Literal["product", "product_model"] = "product",
        attributes: Sequence[str] | None = None,
    ) -> AsyncIterator[Product]:
        """
        Products (``GET /products``) or product models (``GET /product-models``) matching
        ``search``, 100 per request with ``pagination_type=search_after``.

        Args:
            search: Akeneo's ``search`` filter as a mapping, e.g.
                ``{"identifier": [{"operator": "IN", "value": [...]}]}`` (sent as compact JSON;
                an ``IN`` list should stay within 100 values: see :meth:`iter_products_by_key`).
                An empty mapping lists everything.
            kind: ``product`` (by identifier) or ``product_model`` (by code).
            attributes: Only these attributes' values are returned (``None``: all).

        Returns:
            An async iterator of :class:`~daemon.pim.models.Product`, one page in memory.
        """
        endpoint = PRODUCT_LISTS[kind]
        params = {"limit": str(PAGE_LIMIT), "pagination_type": "search_after"}
        if search:
            params["search"] = json.dumps(dict(search), separators=(",", ":"))
        if attributes is not None:
            params["attributes"] = ",".join(attributes)

        def item(reader: Reader, raw: dict[str, Any]) -> Product:
            return parse.product(reader, kind, raw)

        async for page in pages(
            self._open(), endpoint=endpoint, url=endpoint, params=params, item=item
        ):
            for found in page:
                yield found

    async def iter_products_by_key(
        self,
        keys: Iterable[str],
        *,
        kind: ProductKind = "product",
        attributes: Sequence[str] | None = None,
    ) -> AsyncIterator[Product]:
        """
        Products by identifier (or product models by code): one ``identifier IN`` search per
        100 keys (duplicates dropped). Keys the PIM does not know are simply not returned.
        """
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), MAX_CODES):
            chunk = wanted[start : start + MAX_CODES]
            search = {"identifier": [{"operator": "IN", "value": chunk}]}
            async for found in self.iter_products(search, kind=kind, attributes=attributes):
                yield found

    async def upsert_products(self, products: Iterable[Mapping[str, Any]]) -> list[LineResult]:
        """Bulk-PATCH products by ``identifier`` (NDJSON, at most 100 lines per request)."""
        return await bulk.upsert_lines(self._open(), "identifier", products)

    async def upsert_products_by_uuid(
        self, products: Iterable[Mapping[str, Any]]
    ) -> list[LineResult]:
        """Bulk-PATCH products by ``uuid`` (NDJSON, at most 100 lines per request)."""
        return await bulk.upsert_lines(self._open(), "uuid", products)

    async def upsert_product_models(self, models: Iterable[Mapping[str, Any]]) -> list[LineResult]:
        """Bulk-PATCH product models by ``code`` (NDJSON, at most 100 lines per request)."""
        return await bulk.upsert_lines(self._open(), "code", models)


__all__ = ["PRODUCT_LISTS", "CatalogMethods"]
