"""
The legacy products' PAM asset collections, for keeping product links across instances.

Two sources, both streamed (one page or one row in memory):

- API mode (``pam-migration.md`` §3.6 step 7): ``GET /api/rest/v1/attributes`` gives the
  collection attributes (type ``pim_assets_collection``, with their labels), then
  ``GET /api/rest/v1/products`` and ``GET /api/rest/v1/product-models`` (``search_after``, 100
  per page, only those attributes) give each product's (model's) values
  ``{"<attr>": [{"locale": null, "scope": null, "data": ["code1", "code2"]}]}``: product/product
  model links are kept (§5.0). The reference is unsure of the exact 3.x value shape; this reads
  the standard product JSON (an array of codes per value) and reports any other shape as one
  line, never as a crash. A legacy PIM that answers no product-model listing (an error on its
  first page) gives one note, and the products are still linked.
- File mode (``--products-csv FILE``, ``--product-models-csv FILE``): product (model) export
  CSVs. The key column is ``identifier`` or ``sku`` (models: ``code``) when there is one, else
  the first column; every other column is a collection attribute (or, when the attributes are
  known, only those columns; the others are ignored), each cell a comma-separated list of asset
  codes (Akeneo's export layout). The delimiter is ``;`` (Akeneo's default) when the header
  has one, else ``,``.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from daemon.core.errors import SourceError

ATTRIBUTES = "/api/rest/v1/attributes"
PRODUCTS = "/api/rest/v1/products"
MODELS = "/api/rest/v1/product-models"
LEGACY_COLLECTION = "pim_assets_collection"
IDENTIFIER_COLUMNS = ("identifier", "sku")
MODEL_COLUMNS = ("code",)

#: What carries the collection: a product (by identifier) or a product model (by code).
LinkKind = Literal["product", "product_model"]


@dataclass(frozen=True, slots=True)
class ProductLinks:
    """
    One legacy product's asset collections.

    Args:
        identifier: The product identifier, or the product model code (the same in the target).
        collections: Collection attribute -> ordered asset codes (empty: the value is empty).
        where: The input and row, or the API item.
        problems: One line per value that could not be read (attribute, why).
        kind: ``product`` or ``product_model``.
    """

    identifier: str
    collections: dict[str, tuple[str, ...]] = field(default_factory=dict)
    where: str = ""
    problems: tuple[tuple[str, str], ...] = ()
    kind: LinkKind = "product"


@dataclass(frozen=True, slots=True)
class ProductRowError:
    """
    An input row or item that is not a product (no identifier, broken row); ``row`` false: no
    row at all but a listing that could not be read (a note, not a skipped row).
    """

    where: str
    reason: str
    row: bool = True


ProductRead = ProductLinks | ProductRowError


def split_codes(cell: str) -> tuple[str, ...]:
    """``a, b,,a`` -> ``("a", "b")``: trimmed, empty ones dropped, the first of duplicates kept."""
    return tuple(dict.fromkeys(c.strip() for c in cell.split(",") if c.strip()))


class PagedApi(Protocol):
    """
    What :class:`ApiProducts` needs of :class:`~daemon.pam.pam_api.PamApi`: its paging (next
    links moved onto the configured origin). Not imported: the engine uses this module's
    records and must not load the HTTP reader.
    """

    page_limit: int

    def _pages(self, path: str, endpoint: str, params: dict[str, str]) -> AsyncIterator[Any]: ...


class ApiProducts:
    """The products of a legacy 2.1-3.2 PIM through its REST API (see the module docstring)."""

    def __init__(self, api: PagedApi) -> None:
        self.api = api
        self._labels: dict[str, dict[str, str]] = {}

    async def collection_attributes(self) -> list[str]:
        """The codes of the product attributes of type ``pim_assets_collection``."""
        found: list[str] = []
        params = {"limit": str(self.api.page_limit)}
        # The reader's own paging (next links moved onto the configured origin).
        async for items in self.api._pages(ATTRIBUTES, ATTRIBUTES, params):
            for item in items:
                if isinstance(item, dict) and item.get("type") == LEGACY_COLLECTION:
                    code = item.get("code")
                    if isinstance(code, str):
                        found.append(code)
                        self._labels[code] = _labels(item.get("labels"))
        return found

    def labels(self, attribute: str) -> dict[str, str]:
        """The legacy labels of a collection attribute (after :meth:`collection_attributes`)."""
        return dict(self._labels.get(attribute, {}))

    async def products(self, attributes: Collection[str]) -> AsyncIterator[ProductRead]:
        """Every product, then every product model, with their collection values."""
        params = {"pagination_type": "search_after", "limit": str(self.api.page_limit)}
        if attributes:
            params["attributes"] = ",".join(sorted(attributes))
        number = 0
        async for items in self.api._pages(PRODUCTS, PRODUCTS, params):
            for item in items:
                number += 1
                yield parse_product(item, attributes, f"product #{number} of the API listing")
        number = 0
        try:
            async for items in self.api._pages(MODELS, MODELS, dict(params)):
                for item in items:
                    number += 1
                    where = f"product model #{number} of the API listing"
                    yield parse_product(item, attributes, where, "product_model")
        except SourceError as exc:
            if number:
                raise
            yield ProductRowError(
                MODELS, f"the legacy PIM lists no product models ({exc}): none linked", row=False
            )


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and v}


def parse_product(
    item: Any, attributes: Collection[str], where: str, kind: LinkKind = "product"
) -> ProductRead:
    """One legacy product (model) JSON -> its collections (other attributes ignored)."""
    key = "identifier" if kind == "product" else "code"
    if not isinstance(item, dict) or not isinstance(item.get(key), str):
        return ProductRowError(where, f"no {key}")
    identifier: str = item[key]
    values = item.get("values")
    collections: dict[str, tuple[str, ...]] = {}
    problems: list[tuple[str, str]] = []
    for attribute in sorted(attributes):
        entries = values.get(attribute) if isinstance(values, dict) else None
        if entries is None:
            continue
        codes = _codes(entries)
        if codes is None:
            problems.append((attribute, "the value is not a list of asset codes"))
            continue
        collections[attribute] = codes
    return ProductLinks(identifier, collections, f"{where} ({identifier})", tuple(problems), kind)


def _codes(entries: Any) -> tuple[str, ...] | None:
    if not isinstance(entries, list):
        return None
    codes: list[str] = []
    for entry in entries:
        data = entry.get("data") if isinstance(entry, dict) else None
        if data is None:
            continue
        if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
            return None
        codes.extend(data)
    return tuple(dict.fromkeys(codes))


class CsvProducts:
    """
    A product export CSV, and optionally a product-model export CSV (see the module
    docstring); the products are read first, then the models.
    """

    def __init__(self, path: Path | None, models: Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.models = None if models is None else Path(models)

    def _files(self) -> list[tuple[Path, LinkKind]]:
        found: list[tuple[Path, LinkKind]] = []
        if self.path is not None:
            found.append((self.path, "product"))
        if self.models is not None:
            found.append((self.models, "product_model"))
        return found

    @staticmethod
    def _header(path: Path, kind: LinkKind) -> tuple[list[str], str, str]:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = handle.readline()
        delimiter = _delimiter(header)
        names = [n.strip() for n in header.rstrip("\r\n").split(delimiter)]
        columns = IDENTIFIER_COLUMNS if kind == "product" else MODEL_COLUMNS
        return names, _identifier_column(names, columns), delimiter

    async def collection_attributes(self) -> list[str]:
        """Every column but the key's, of every file (in order, once each)."""
        found: dict[str, None] = {}
        for path, kind in self._files():
            names, id_column, _ = self._header(path, kind)
            found.update((n, None) for n in names if n and n != id_column)
        return list(found)

    def labels(self, attribute: str) -> dict[str, str]:
        """A CSV has no labels."""
        return {}

    async def products(self, attributes: Collection[str]) -> AsyncIterator[ProductRead]:
        """One read per data row; only the columns among ``attributes`` are read."""
        for path, kind in self._files():
            for read in self.rows(attributes, path, kind):
                yield read

    def rows(
        self, attributes: Collection[str], path: Path | None = None, kind: LinkKind = "product"
    ) -> Iterator[ProductRead]:
        """One read per data row of ``path`` (default: the products; blank rows passed over)."""
        path = path or self.path
        if path is None:
            return
        names, id_column, delimiter = self._header(path, kind)
        with path.open(newline="", encoding="utf-8-sig") as handle:
            handle.readline()
            reader = csv.reader(handle, delimiter=delimiter)
            for row in reader:
                where = f"{path.name} line {reader.line_num + 1}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(names):
                    yield ProductRowError(
                        where, f"{len(row)} field(s), the header has {len(names)}"
                    )
                    continue
                cells = dict(zip(names, row, strict=True))
                identifier = cells.get(id_column, "").strip()
                if not identifier:
                    yield ProductRowError(where, f"empty identifier ({id_column})")
                    continue
                collections = {n: split_codes(cells[n]) for n in names if n in attributes}
                yield ProductLinks(identifier, collections, where, kind=kind)


def _delimiter(header: str) -> str:
    return ";" if ";" in header else ","


def _identifier_column(names: list[str], columns: tuple[str, ...] = IDENTIFIER_COLUMNS) -> str:
    for wanted in columns:
        if wanted in names:
            return wanted
    return names[0] if names else ""


__all__ = [
    "ApiProducts",
    "PagedApi",
    "CsvProducts",
    "LinkKind",
    "ProductLinks",
    "ProductRead",
    "ProductRowError",
    "parse_product",
    "split_codes",
]
