"""
The legacy PIM's asset categories and tags (``pam-migration.md`` §3.5: page pagination only;
categories by tree root then left, tags by code) and its channels and locales (§3.6 step 2).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pam.pam_dataset import BAD_TAG, CATEGORIES, CHANNELS, LOCALES, PamDataset
from daemon.sim.pam.pam_sim_auth import SimError, authorize
from daemon.sim.pam.pam_sim_routes import API, base_of, dataset_of, limit_of, page_body, page_of


def _category(code: str, parent: str | None, labels: dict[str, str], base: str) -> dict[str, Any]:
    return {
        "_links": {"self": {"href": f"{base}{API}/asset-categories/{code}"}},
        "code": code,
        "parent": parent,
        "labels": labels,
    }


def _paged(request: Request, path: str, everything: list[dict[str, Any]]) -> Response:
    if request.query_params.get("pagination_type", "page") != "page":
        raise SimError(422, "Pagination type does not exist.")
    limit, page = limit_of(request), page_of(request)
    items = everything[(page - 1) * limit : page * limit]
    return JSONResponse(page_body(request, path, page, limit, items, len(everything)))


async def list_categories(request: Request) -> Response:
    """``GET /asset-categories``: page pagination, by tree root then left."""
    authorize(request, right="asset_list")
    base = base_of(request)
    return _paged(
        request,
        f"{API}/asset-categories",
        [_category(c, p, dict(labels), base) for c, p, labels in CATEGORIES],
    )


async def get_category(request: Request) -> Response:
    """``GET /asset-categories/{code}``."""
    authorize(request, right="asset_list")
    code = request.path_params["code"]
    for cat, parent, labels in CATEGORIES:
        if cat == code:
            body = _category(cat, parent, dict(labels), base_of(request))
            del body["_links"]
            return JSONResponse(body)
    raise SimError(404, f'Asset category "{code}" does not exist.')


def _all_tags(data: PamDataset) -> list[str]:
    extra = [BAD_TAG] if data.options.pitfalls else []
    return sorted([*data.tags, *extra])


async def list_tags(request: Request) -> Response:
    """``GET /asset-tags``: page pagination, sorted by code."""
    authorize(request, right=None)  # the 3.x tag controller declares no ACL (§2)
    base = base_of(request)
    items = [
        {"_links": {"self": {"href": f"{base}{API}/asset-tags/{t}"}}, "code": t}
        for t in _all_tags(dataset_of(request))
    ]
    return _paged(request, f"{API}/asset-tags", items)


async def get_tag(request: Request) -> Response:
    """``GET /asset-tags/{code}``."""
    authorize(request, right=None)
    code = request.path_params["code"]
    if code not in _all_tags(dataset_of(request)):
        raise SimError(404, f'Tag "{code}" does not exist.')
    return JSONResponse({"code": code})


async def list_channels(request: Request) -> Response:
    """``GET /channels``: the source's channels and their activated locales."""
    authorize(request, right=None)
    base = base_of(request)
    items = [
        {
            "_links": {"self": {"href": f"{base}{API}/channels/{c}"}},
            "code": c,
            "locales": list(locales),
            "currencies": ["USD"],
            "category_tree": "master",
            "conversion_units": {},
            "labels": {},
        }
        for c, locales in CHANNELS.items()
    ]
    return _paged(request, f"{API}/channels", items)


async def list_locales(request: Request) -> Response:
    """``GET /locales``: the activated locales."""
    authorize(request, right=None)
    base = base_of(request)
    items = [
        {"_links": {"self": {"href": f"{base}{API}/locales/{code}"}}, "code": code, "enabled": True}
        for code in LOCALES
    ]
    return _paged(request, f"{API}/locales", items)


__all__ = [
    "get_category",
    "get_tag",
    "list_categories",
    "list_channels",
    "list_locales",
    "list_tags",
]
