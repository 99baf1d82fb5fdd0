"""
Catalog routes of the PIM simulator: product attributes (read and upsert), channels, locales,
and the paginators.

Offset pagination (``page``/``limit``, ``limit`` at most 100) and search_after pagination both
emit ``next`` only when the page is full, as the reference's paginators do.

``PATCH /attributes/{code}`` (akeneo-api.md §0, §6, §7, §8.5) upserts a product attribute:
201 created / 204 updated plus ``Location``. A property the resource does not have is a 422
carrying ``_links.documentation`` (§7); ``type`` must be a product attribute type and, at
creation, ``type`` and ``group`` are required (the group: ``other``, the group every PIM has,
or one a product attribute already uses); a ``pim_catalog_asset_collection`` needs a
``reference_data_name`` naming an existing asset family. ``type``, ``localizable``,
``scopable``, ``unique`` and ``reference_data_name`` cannot change once the attribute exists
(§8.5: likely immutable). Validation failures are 422 ``Validation failed.`` with ``errors``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.families import check_labels, merge_labels, state_of
from daemon.sim.pim.http_errors import API, ApiError, base_url, json_kind, json_object, upserted
from daemon.sim.pim.state import PimState
from daemon.sim.pim.validation import check_code, error

ASSET_COLLECTION = "pim_catalog_asset_collection"
#: Product attribute types the API can create (the identifier exists once, made by the PIM).
PRODUCT_TYPES = frozenset(
    {
        "pim_catalog_text",
        "pim_catalog_textarea",
        "pim_catalog_number",
        "pim_catalog_boolean",
        "pim_catalog_date",
        "pim_catalog_file",
        "pim_catalog_image",
        "pim_catalog_metric",
        "pim_catalog_price_collection",
        "pim_catalog_simpleselect",
        "pim_catalog_multiselect",
        "pim_reference_data_simpleselect",
        "pim_reference_data_multiselect",
        ASSET_COLLECTION,
    }
)
PRODUCT_ATTRIBUTE_KEYS = frozenset(
    {
        "_links",
        "code",
        "type",
        "labels",
        "group",
        "group_labels",
        "sort_order",
        "localizable",
        "scopable",
        "available_locales",
        "unique",
        "useable_as_grid_filter",
        "max_characters",
        "validation_rule",
        "validation_regexp",
        "wysiwyg_enabled",
        "number_min",
        "number_max",
        "decimals_allowed",
        "negative_allowed",
        "metric_family",
        "default_metric_unit",
        "date_min",
        "date_max",
        "max_file_size",
        "minimum_input_length",
        "allowed_extensions",
        "reference_data_name",
        "auto_option_sorting",
        "default_value",
    }
)
PRODUCT_IMMUTABLE = ("type", "localizable", "scopable", "unique", "reference_data_name")
BOOLEANS = ("localizable", "scopable", "unique", "useable_as_grid_filter")
DEFAULT_GROUP = "other"
VALIDATION_FAILED = "Validation failed."
DOCUMENTATION = "http://api.akeneo.com/api-reference.html#patch_attributes__code_"


def _limit(request: Request) -> int:
    try:
        limit = int(request.query_params.get("limit", "10"))
    except ValueError as exc:
        raise ApiError(422, "The limit must be an integer.") from exc
    if limit > 100:
        raise ApiError(422, "You cannot request more than 100 items.")
    if limit < 1:
        raise ApiError(422, "The limit must be greater than 0.")
    return limit


def offset_page(request: Request, items: list[dict[str, Any]], path: str) -> Response:
    """
    Offset pagination (``page``/``limit``); ``next`` only on a full page.

    Args:
        request: the request.
        items: every item, in order.
        path: the resource path under ``/api/rest/v1``.

    Returns:
        The HAL page.
    """
    limit = _limit(request)
    try:
        page = max(int(request.query_params.get("page", "1")), 1)
    except ValueError as exc:
        raise ApiError(422, "The page must be an integer.") from exc
    chunk = items[(page - 1) * limit : page * limit]
    url = f"{base_url(request)}{API}{path}"
    extra = {k: v for k, v in request.query_params.items() if k not in ("page", "limit")}

    def href(number: int) -> dict[str, str]:
        return {"href": f"{url}?{urlencode({**extra, 'page': number, 'limit': limit})}"}

    links = {"self": href(page), "first": href(1)}
    if page > 1:
        links["previous"] = href(page - 1)
    if len(chunk) == limit:
        links["next"] = href(page + 1)
    body: dict[str, Any] = {"_links": links, "current_page": page, "_embedded": {"items": chunk}}
    if request.query_params.get("with_count") == "true":
        body["items_count"] = len(items)
    return JSONResponse(body)


def search_after_page(
    request: Request, items: list[dict[str, Any]], key: str, path: str
) -> Response:
    """
    search_after pagination over items sorted by ``key``; ``next`` only on a full page.

    Args:
        request: the request.
        items: every item, sorted by ``key``.
        key: the cursor property.
        path: the resource path under ``/api/rest/v1``.

    Returns:
        The HAL page.
    """
    limit = _limit(request)
    after = request.query_params.get("search_after")
    chunk = [i for i in items if after is None or str(i[key]) > after][:limit]
    url = f"{base_url(request)}{API}{path}"
    extra = {k: v for k, v in request.query_params.items() if k != "search_after"}
    extra["limit"] = str(limit)

    def href(cursor: str | None) -> dict[str, str]:
        params = {**extra, **({"search_after": cursor} if cursor else {})}
        return {"href": f"{url}?{urlencode(params)}"}

    links = {"self": href(after), "first": href(None)}
    if len(chunk) == limit:
        links["next"] = href(str(chunk[-1][key]))
    return JSONResponse({"_links": links, "_embedded": {"items": chunk}})


async def list_product_attributes(request: Request) -> Response:
    """``GET /attributes``: offset pagination."""
    state = state_of(request)
    url = f"{base_url(request)}{API}/attributes"
    items = [
        {"_links": {"self": {"href": f"{url}/{code}"}}, **attr}
        for code, attr in sorted(state.product_attributes.items())
    ]
    return offset_page(request, items, "/attributes")


async def get_product_attribute(request: Request) -> Response:
    """``GET /attributes/{code}``."""
    code = request.path_params["code"]
    found = state_of(request).product_attributes.get(code)
    if found is None:
        raise ApiError(404, f'Resource "{code}" does not exist.')
    return JSONResponse(found)


async def patch_product_attribute(request: Request) -> Response:
    """``PATCH /attributes/{code}``: upsert (see the module docstring)."""
    state = state_of(request)
    code = request.path_params["code"]
    body = await json_object(request, "attribute")
    check_code(code, "Attribute")
    if "code" in body and body["code"] != code:
        raise ApiError(
            422,
            "The code of the attribute provided in the URI must be the same as the one "
            "provided in the request body.",
        )
    unknown = sorted(k for k in body if k not in PRODUCT_ATTRIBUTE_KEYS)
    if unknown:
        return JSONResponse(
            {
                "code": 422,
                "message": f'Property "{unknown[0]}" does not exist. Check the expected format '
                "on the API documentation.",
                "_links": {"documentation": {"href": DOCUMENTATION}},
            },
            status_code=422,
        )
    existing = state.product_attributes.get(code)
    errors = product_attribute_errors(state, body, existing)
    if errors:
        raise ApiError(422, VALIDATION_FAILED, errors)
    url = f"{base_url(request)}{API}/attributes/{code}"
    target = existing if existing is not None else _new_product_attribute(code)
    state.product_attributes[code] = target
    merge_labels(target.setdefault("labels", {}), body.get("labels", {}))
    for key, value in body.items():
        if key not in ("labels", "_links", "code"):
            target[key] = value
    return upserted(existing is None, url)


def _new_product_attribute(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "labels": {},
        "localizable": False,
        "scopable": False,
        "unique": False,
        "useable_as_grid_filter": False,
        "reference_data_name": None,
        "available_locales": [],
        "sort_order": 0,
    }


def product_attribute_errors(
    state: PimState, body: dict[str, Any], existing: dict[str, Any] | None
) -> list[dict[str, str]]:
    """The ``errors`` of a product attribute PATCH (empty: valid)."""
    errors: list[dict[str, str]] = []
    check_labels(body, errors)
    for key in BOOLEANS:
        if key in body and not isinstance(body[key], bool):
            errors.append(
                error(key, f"{json_kind(body[key])} value found, but a boolean is required")
            )
    if existing is not None:
        errors.extend(
            error(k, "This property cannot be changed.")
            for k in PRODUCT_IMMUTABLE
            if k in body and body[k] != existing.get(k, False if k in BOOLEANS else None)
        )
        if errors:
            return errors
    merged = {**(existing or {}), **body}
    kind = merged.get("type")
    if existing is not None:
        pass  # the type cannot change (checked above): a seeded one may be any
    elif kind is None:
        errors.append(error("type", "This value should not be blank."))
    elif kind not in PRODUCT_TYPES:
        errors.append(error("type", f'The attribute type "{kind}" does not exist.'))
    group = merged.get("group")
    groups = {DEFAULT_GROUP} | {
        a["group"] for a in state.product_attributes.values() if isinstance(a.get("group"), str)
    }
    if existing is not None and "group" not in body:
        pass  # a seeded attribute may have none; only a sent group is checked
    elif group in (None, ""):
        errors.append(error("group", "This value should not be blank."))
    elif group not in groups:
        errors.append(
            error(
                "group",
                f'Property "group" expects a valid group code. The attribute group does not '
                f'exist, "{group}" given.',
            )
        )
    if kind == ASSET_COLLECTION and existing is None:
        family = merged.get("reference_data_name")
        if family in (None, ""):
            errors.append(error("reference_data_name", "This value should not be blank."))
        elif not isinstance(family, str) or family not in state.families:
            errors.append(
                error("reference_data_name", f'The asset family "{family}" does not exist.')
            )
    return errors


async def list_channels(request: Request) -> Response:
    """``GET /channels``: offset pagination."""
    url = f"{base_url(request)}{API}/channels"
    items = [
        {"_links": {"self": {"href": f"{url}/{c['code']}"}}, **c}
        for c in state_of(request).channels
    ]
    return offset_page(request, items, "/channels")


async def list_locales(request: Request) -> Response:
    """``GET /locales``: offset pagination; ``enabled`` means used by a channel."""
    state = state_of(request)
    active = state.active_locales()
    url = f"{base_url(request)}{API}/locales"
    items = [
        {"_links": {"self": {"href": f"{url}/{code}"}}, "code": code, "enabled": code in active}
        for code in state.locales
    ]
    return offset_page(request, items, "/locales")
