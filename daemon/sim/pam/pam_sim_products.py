"""
The legacy PIM's products and product attributes, for the product links of a PAM migration.

``pam-migration.md`` §1 and §3.6 step 7: a product link is a product attribute of type
``pim_assets_collection`` (neither localizable nor scopable) whose value data is an array of PAM
asset codes. The reference is unsure of the exact 3.x product value shape; this serves the
standard product JSON of 2.x/3.x (``{"locale": null, "scope": null, "data": [codes]}``).

Products are built on demand from their index, like the assets: ``product_00000`` ... (codes
sort in index order).

- ``asset_pictures``: two assets (indices ``2i`` and ``2i + 1``), so product 2 links the
  invalid legacy code ``pam_000004-old`` when pitfalls are on; empty for every fifth product;
  with pitfalls, every seventh also links ``pam_deleted_asset`` (no such asset: a dangling link);
- ``asset_notices``: one PDF asset (index ``10i + 7``) for every third product.

:func:`listing` pages products and product models (:mod:`pam_sim_models`) alike;
:func:`item_endpoint` makes the ``GET`` of one of either.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pam.pam_dataset import PamDataset
from daemon.sim.pam.pam_sim_auth import SimError, authorize
from daemon.sim.pam.pam_sim_routes import (
    API,
    base_of,
    dataset_of,
    limit_of,
    page_body,
    page_of,
)

DANGLING = "pam_deleted_asset"
PRODUCT = "product_{index:05d}"
#: (code, type, reference_data_name)
ATTRIBUTES: tuple[tuple[str, str, str | None], ...] = (
    ("asset_notices", "pim_assets_collection", "assets"),
    ("asset_pictures", "pim_assets_collection", "assets"),
    ("name", "pim_catalog_text", None),
    ("sku", "pim_catalog_identifier", None),
)


def identifier_of(index: int) -> str:
    return PRODUCT.format(index=index)


def collections(data: PamDataset, index: int) -> dict[str, list[str]]:
    """The asset collections of product ``index`` (see the module docstring)."""
    found: dict[str, list[str]] = {}
    count = len(data)
    pictures: list[str] = []
    if count and index % 5 != 4:
        pictures = list(dict.fromkeys(data.code_of((2 * index + k) % count) for k in (0, 1)))
    if data.options.pitfalls and index % 7 == 6:
        pictures.append(DANGLING)
    found["asset_pictures"] = pictures
    if count > 7 and index % 3 == 0:
        found["asset_notices"] = [data.code_of((10 * index + 7) % count)]
    return found


def product_json(request: Request, index: int, attributes: set[str] | None) -> dict[str, Any]:
    """The standard product JSON of a 2.x/3.x PIM."""
    data = dataset_of(request)
    identifier = identifier_of(index)
    values: dict[str, list[dict[str, Any]]] = {
        "sku": [{"locale": None, "scope": None, "data": identifier}],
        "name": [{"locale": "en_US", "scope": None, "data": f"Product {index}"}],
    }
    for code, codes in collections(data, index).items():
        values[code] = [{"locale": None, "scope": None, "data": codes}]
    if attributes is not None:
        values = {k: v for k, v in values.items() if k in attributes}
    return {
        "_links": {"self": {"href": f"{base_of(request)}{API}/products/{identifier}"}},
        "identifier": identifier,
        "family": "clothing",
        "parent": None,
        "groups": [],
        "categories": [],
        "enabled": True,
        "values": values,
        "created": "2019-03-01T10:00:00+00:00",
        "updated": "2019-03-02T10:00:00+00:00",
        "associations": {},
    }


#: The JSON of item ``index``, with only the ``attributes`` values (None: them all).
Build = Callable[[Request, int, set[str] | None], dict[str, Any]]


def _attributes_param(request: Request) -> set[str] | None:
    raw = request.query_params.get("attributes")
    return None if raw is None else {a for a in raw.split(",") if a}


def listing(
    request: Request,
    path: str,
    total: int,
    key: str,
    code_of: Callable[[int], str],
    build: Build,
) -> Response:
    """
    A product-like listing of ``total`` items whose codes sort in index order: page (default)
    or search_after pagination (the cursor is the last ``key``; ``next`` only on a full page).
    """
    base, limit, wanted = base_of(request), limit_of(request), _attributes_param(request)
    kind = request.query_params.get("pagination_type", "page")
    if kind == "search_after":
        cursor = request.query_params.get("search_after")
        start = 0
        if cursor is not None:
            start = bisect.bisect_right(range(total), cursor, key=code_of)
        items = [build(request, i, wanted) for i in range(start, min(start + limit, total))]
        query = f"pagination_type=search_after&limit={limit}"
        if wanted is not None:
            query += f"&attributes={','.join(sorted(wanted))}"
        links: dict[str, Any] = {"self": {"href": f"{base}{path}?{query}"}}
        if len(items) == limit:
            after = items[-1][key]
            links["next"] = {"href": f"{base}{path}?{query}&search_after={after}"}
        return JSONResponse({"_links": links, "_embedded": {"items": items}})
    if kind != "page":
        raise SimError(422, "Pagination type does not exist.")
    page = page_of(request)
    start = (page - 1) * limit
    items = [build(request, i, wanted) for i in range(start, min(start + limit, total))]
    return JSONResponse(page_body(request, path, page, limit, items, total))


def index_in(total: int, code: str, code_of: Callable[[int], str]) -> int | None:
    """The index of ``code`` among ``total`` codes sorted in index order, or None."""
    index = bisect.bisect_left(range(total), code, key=code_of)
    return index if index < total and code_of(index) == code else None


def item_endpoint(
    name: str,
    path: str,
    total_of: Callable[[PamDataset], int],
    code_of: Callable[[int], str],
    build: Build,
    noun: str,
) -> Callable[[Request], Awaitable[Response]]:
    """
    The ``GET {path}/{code}`` handler of a product-like listing (see :func:`listing`): the
    item's JSON without ``_links``, else a 404 naming the ``noun``.

    Args:
        name: The handler's name (its route's name).
        path: The listing's path below the API root.
        total_of: How many items the dataset has.
        code_of: The code of item ``index``.
        build: The item's JSON.
        noun: What an item is called in the 404 message (``Product``).
    """

    async def get_one(request: Request) -> Response:
        authorize(request, right=None)
        code = request.path_params["code"]
        index = index_in(total_of(dataset_of(request)), code, code_of)
        if index is not None:
            body = build(request, index, None)
            del body["_links"]
            return JSONResponse(body)
        raise SimError(404, f'{noun} "{code}" does not exist.')

    get_one.__name__ = get_one.__qualname__ = name
    get_one.__doc__ = f"``GET {path}/{{code}}``."
    return get_one


async def list_products(request: Request) -> Response:
    """``GET /products``: page (default) or search_after pagination, sorted by identifier."""
    authorize(request, right=None)
    total = dataset_of(request).options.products
    return listing(request, f"{API}/products", total, "identifier", identifier_of, product_json)


get_product = item_endpoint(
    "get_product",
    "/products",
    lambda data: data.options.products,
    identifier_of,
    product_json,
    "Product",
)


def _attribute(code: str, kind: str, reference: str | None, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_links": {"self": {"href": f"{base}{API}/attributes/{code}"}},
        "code": code,
        "type": kind,
        "group": "marketing",
        "unique": kind == "pim_catalog_identifier",
        "useable_as_grid_filter": True,
        "allowed_extensions": [],
        "metric_family": None,
        "default_metric_unit": None,
        "reference_data_name": reference,
        "available_locales": [],
        "localizable": code == "name",
        "scopable": False,
        "labels": {"en_US": code.replace("_", " ").title()},
    }
    return body


async def list_attributes(request: Request) -> Response:
    """``GET /attributes``: page pagination, sorted by code."""
    authorize(request, right=None)
    base = base_of(request)
    everything = [_attribute(c, t, r, base) for c, t, r in ATTRIBUTES]
    if request.query_params.get("pagination_type", "page") != "page":
        raise SimError(422, "Pagination type does not exist.")
    limit, page = limit_of(request), page_of(request)
    items = everything[(page - 1) * limit : page * limit]
    return JSONResponse(
        page_body(request, f"{API}/attributes", page, limit, items, len(everything))
    )


__all__ = [
    "ATTRIBUTES",
    "DANGLING",
    "collections",
    "get_product",
    "identifier_of",
    "index_in",
    "item_endpoint",
    "list_attributes",
    "list_products",
    "listing",
    "product_json",
]
