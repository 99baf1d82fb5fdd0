"""
Catalog reads of the PIM simulator: product attributes, channels, locales, and the paginators.

Offset pagination (``page``/``limit``, ``limit`` at most 100) and search_after pagination both
emit ``next`` only when the page is full, as the reference's paginators do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.families import state_of
from daemon.sim.pim.http_errors import API, ApiError, base_url


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
