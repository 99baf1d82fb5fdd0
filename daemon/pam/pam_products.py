"""
The legacy products' PAM asset collections, for keeping product links across instances.

Two sources, both streamed (one page or one row in memory):

- API mode (``pam-migration.md`` §3.6 step 7): ``GET /api/rest/v1/attributes`` gives the
  collection attributes (type ``pim_assets_collection``), then ``GET /api/rest/v1/products``
  (``search_after``, 100 per page, only those attributes) gives each product's values
  ``{"<attr>": [{"locale": null, "scope": null, "data": ["code1", "code2"]}]}``. The reference
  is unsure of the exact 3.x value shape; this reads the standard product JSON (an array of
  codes per value) and reports any other shape as one line, never as a crash.
- File mode (``--products-csv FILE``): a product export CSV. The identifier column is
  ``identifier`` or ``sku`` when there is one, else the first column; every other column is a
  collection attribute (or, when the attributes are known, only those columns; the others are
  ignored), each cell a comma-separated list of asset codes (Akeneo's export layout). The
  delimiter is ``;`` (Akeneo's default) when the header has one, else ``,``.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ATTRIBUTES = "/api/rest/v1/attributes"
PRODUCTS = "/api/rest/v1/products"
LEGACY_COLLECTION = "pim_assets_collection"
IDENTIFIER_COLUMNS = ("identifier", "sku")


@dataclass(frozen=True, slots=True)
class ProductLinks:
    """
    One legacy product's asset collections.

    Args:
        identifier: The product identifier (the same in the target).
        collections: Collection attribute -> ordered asset codes (empty: the value is empty).
        where: The input and row, or the API item.
        problems: One line per value that could not be read (attribute, why).
    """

    identifier: str
    collections: dict[str, tuple[str, ...]] = field(default_factory=dict)
    where: str = ""
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ProductRowError:
    """An input row or item that is not a product (no identifier, broken row)."""

    where: str
    reason: str


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
        return found

    async def products(self, attributes: Collection[str]) -> AsyncIterator[ProductRead]:
        """Every product with its collection values (only ``attributes`` asked)."""
        params = {"pagination_type": "search_after", "limit": str(self.api.page_limit)}
        if attributes:
            params["attributes"] = ",".join(sorted(attributes))
        number = 0
        async for items in self.api._pages(PRODUCTS, PRODUCTS, params):
            for item in items:
                number += 1
                yield parse_product(item, attributes, f"product #{number} of the API listing")


def parse_product(item: Any, attributes: Collection[str], where: str) -> ProductRead:
    """One legacy product JSON -> its collections (values of other attributes ignored)."""
    if not isinstance(item, dict) or not isinstance(item.get("identifier"), str):
        return ProductRowError(where, "no identifier")
    identifier: str = item["identifier"]
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
    return ProductLinks(identifier, collections, f"{where} ({identifier})", tuple(problems))


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
    """A product export CSV (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _header(self) -> tuple[list[str], str, str]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            header = handle.readline()
        delimiter = _delimiter(header)
        names = [n.strip() for n in header.rstrip("\r\n").split(delimiter)]
        return names, _identifier_column(names), delimiter

    async def collection_attributes(self) -> list[str]:
        """Every column but the identifier's."""
        names, id_column, _ = self._header()
        return [n for n in names if n and n != id_column]

    async def products(self, attributes: Collection[str]) -> AsyncIterator[ProductRead]:
        """One read per data row; only the columns among ``attributes`` are read."""
        for read in self.rows(attributes):
            yield read

    def rows(self, attributes: Collection[str]) -> Iterator[ProductRead]:
        """One read per data row (blank rows are passed over)."""
        names, id_column, delimiter = self._header()
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            handle.readline()
            reader = csv.reader(handle, delimiter=delimiter)
            for row in reader:
                where = f"{self.path.name} line {reader.line_num + 1}"
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
                yield ProductLinks(identifier, collections, where)


def _delimiter(header: str) -> str:
    return ";" if ";" in header else ","


def _identifier_column(names: list[str]) -> str:
    for wanted in IDENTIFIER_COLUMNS:
        if wanted in names:
            return wanted
    return names[0] if names else ""


__all__ = [
    "ApiProducts",
    "PagedApi",
    "CsvProducts",
    "ProductLinks",
    "ProductRead",
    "ProductRowError",
    "parse_product",
    "split_codes",
]
