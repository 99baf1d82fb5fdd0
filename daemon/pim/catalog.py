"""
The PIM catalog side of :class:`~daemon.pim.client.PimClient`: channels, product attributes
and the product / product-model bulk upserts that link assets to products.

A mixin so that ``client.py`` stays about assets; it only needs the client's ``_open()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from daemon.core.records import Channel
from daemon.pim import bulk, parse, urls
from daemon.pim.models import LineResult, ProductAttribute
from daemon.pim.reads import PAGE_LIMIT, get_one, pages
from daemon.upstream.session import Upstream


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


__all__ = ["CatalogMethods"]
