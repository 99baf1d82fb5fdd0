"""
The legacy PAM REST API of a 2.1-3.2 EE PIM (``pam-migration.md`` §3), route by route.

Assets as the server's ``AssetNormalizer`` builds them (§3.2: key order, ``_link`` on file
entries, files with no binary row left out, ``null`` for an empty description), ``page`` and
``search_after`` pagination sorted by code (§3.3: ``next`` only on a full page), reference and
variation metadata and downloads with the exact 404/422 messages (§3.4), asset categories and
tags: :mod:`pam_sim_catalog`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pam.pam_dataset import CHANNELS, LOCALES, PamDataset, SimAsset, SimFile
from daemon.sim.pam.pam_sim_auth import SimError, authorize

API = "/api/rest/v1"
TOO_MANY = "You cannot request more than 100 items."


def dataset_of(request: Request) -> PamDataset:
    data: PamDataset = request.app.state.dataset
    return data


def base_of(request: Request) -> str:
    return dataset_of(request).options.base_url.rstrip("/")


def _word(request: Request) -> str:
    return dataset_of(request).options.locale_word


def _end_of_use(when: datetime | None, offset: str) -> str | None:
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S") + offset


def limit_of(request: Request) -> int:
    raw = request.query_params.get("limit", "10")
    try:
        limit = int(raw)
    except ValueError:
        raise SimError(422, f'"{raw}" is not a valid limit number.') from None
    if limit > 100:
        raise SimError(422, TOO_MANY)
    if limit < 1:
        raise SimError(422, f'"{raw}" is not a valid limit number.')
    return limit


def page_of(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise SimError(422, f'"{raw}" is not a valid page number.')
    return int(raw)


def _file_links(base: str, path: str, *, with_self: bool) -> dict[str, Any]:
    links: dict[str, Any] = {"download": {"href": f"{base}{path}/download"}}
    if with_self:
        links["self"] = {"href": f"{base}{path}"}
    return links


def _reference_path(code: str, locale: str | None, word: str) -> str:
    return f"{API}/assets/{quote(code)}/reference-files/{locale or word}"


def _variation_path(code: str, channel: str, locale: str | None, word: str) -> str:
    return f"{API}/assets/{quote(code)}/variation-files/{channel}/{locale or word}"


def asset_json(request: Request, asset: SimAsset, *, item: bool) -> dict[str, Any]:
    """The asset as ``AssetNormalizer`` builds it; list items get ``_links.self`` first."""
    base, word, options = base_of(request), _word(request), dataset_of(request).options
    body: dict[str, Any] = {}
    if item:
        body["_links"] = {"self": {"href": f"{base}{API}/assets/{quote(asset.code)}"}}
    variations = []
    for channel, locale, file in asset.variations:
        if file is None:
            continue  # entries whose file is missing are left out (§3.2)
        path = _variation_path(asset.code, channel, locale, word)
        variations.append(
            {
                "_link": _file_links(base, path, with_self=True),
                "locale": locale,
                options.channel_key: channel,
                "code": file.key,
            }
        )
    references = [
        {
            "_link": _file_links(base, _reference_path(asset.code, locale, word), with_self=True),
            "locale": locale,
            "code": file.key,
        }
        for locale, file in asset.references
        if file is not None
    ]
    body.update(
        code=asset.code,
        localizable=asset.localizable,
        description=asset.description or None,
        end_of_use=_end_of_use(asset.end_of_use, options.end_of_use_offset),
        tags=list(asset.tags),
        categories=list(asset.categories),
        variation_files=variations,
        reference_files=references,
    )
    return body


def _link(base: str, path: str, params: dict[str, str]) -> dict[str, str]:
    return {"href": f"{base}{path}?{urlencode(params)}" if params else f"{base}{path}"}


async def list_assets(request: Request) -> Response:
    """``GET /assets``: page (default) or search_after pagination, sorted by code."""
    authorize(request, right="asset_list")
    data, base = dataset_of(request), base_of(request)
    limit = limit_of(request)
    kind = request.query_params.get("pagination_type", "page")
    path = f"{API}/assets"
    if kind == "search_after":
        cursor = request.query_params.get("search_after")
        start = 0 if cursor is None else data.after(cursor)
        items = [
            asset_json(request, data.asset(i), item=True)
            for i in range(start, min(start + limit, len(data)))
        ]
        params = {"pagination_type": "search_after", "limit": str(limit)}
        links = {
            "self": _link(base, path, {**params, **({"search_after": cursor} if cursor else {})}),
            "first": _link(base, path, params),
        }
        if len(items) == limit:
            links["next"] = _link(base, path, {**params, "search_after": items[-1]["code"]})
        return JSONResponse({"_links": links, "_embedded": {"items": items}})
    if kind != "page":
        raise SimError(422, "Pagination type does not exist.")
    page = page_of(request)
    start = (page - 1) * limit
    items = [
        asset_json(request, data.asset(i), item=True)
        for i in range(start, min(start + limit, len(data)))
    ]
    return JSONResponse(page_body(request, path, page, limit, items, len(data)))


def page_body(
    request: Request, path: str, page: int, limit: int, items: list[dict[str, Any]], total: int
) -> dict[str, Any]:
    base = base_of(request)
    with_count = request.query_params.get("with_count") == "true"
    params = {
        "page": str(page),
        "with_count": str(with_count).lower(),
        "pagination_type": "page",
        "limit": str(limit),
    }
    links = {"self": _link(base, path, params), "first": _link(base, path, {**params, "page": "1"})}
    if page > 1:
        links["previous"] = _link(base, path, {**params, "page": str(page - 1)})
    if len(items) == limit:
        links["next"] = _link(base, path, {**params, "page": str(page + 1)})
    body: dict[str, Any] = {"_links": links, "current_page": page}
    if with_count:
        body["items_count"] = total
    body["_embedded"] = {"items": items}
    return body


def _asset(request: Request) -> SimAsset:
    data = dataset_of(request)
    code = request.path_params["code"]
    index = data.index_of(code)
    if index is None:
        raise SimError(404, f'Asset "{code}" does not exist.')
    return data.asset(index)


async def get_asset(request: Request) -> Response:
    """``GET /assets/{code}``."""
    authorize(request, right="asset_list")
    return JSONResponse(asset_json(request, _asset(request), item=False))


def _locale(request: Request, asset: SimAsset) -> str | None:
    """The locale of the path: None for the no-locale word; 404/422 as §3.4 says."""
    raw: str = request.path_params["locale"]
    word = _word(request)
    if raw == word:
        if asset.localizable:
            raise SimError(
                422,
                f'The asset "{asset.code}" is localizable, you must provide an existing locale '
                f'code. "{word}" is only allowed when the asset is not localizable.',
            )
        return None
    if raw not in LOCALES:
        raise SimError(404, f'Locale "{raw}" does not exist or is not activated.')
    if not asset.localizable:
        raise SimError(
            422,
            f'The asset "{asset.code}" is not localizable, you must provide the string "{word}" '
            "as a locale.",
        )
    return raw


def _reference(request: Request) -> tuple[SimAsset, str | None, SimFile]:
    authorize(request, right="asset_list")
    asset = _asset(request)
    locale = _locale(request, asset)
    _, file = asset.reference(locale)
    if file is None:
        which = f' and the locale "{locale}"' if locale else ""
        raise SimError(404, f'Reference file for the asset "{asset.code}"{which} does not exist.')
    return asset, locale, file


def _variation(request: Request) -> tuple[SimAsset, str, str | None, SimFile]:
    authorize(request, right="asset_list")
    asset = _asset(request)
    channel = request.path_params["channel"]
    if channel not in CHANNELS:
        raise SimError(404, f'Channel "{channel}" does not exist.')
    locale = _locale(request, asset)
    if locale is not None and locale not in CHANNELS[channel]:
        raise SimError(
            404,
            f'You cannot have a variation file for the locale "{locale}" and the channel '
            f'"{channel}" as the locale "{locale}" is not activated for the channel "{channel}".',
        )
    file = asset.variation(channel, locale)
    if file is None:
        which = f' and the locale "{locale}"' if locale else ""
        raise SimError(
            404,
            f'Variation file for the asset "{asset.code}" and the channel "{channel}"{which} '
            "does not exist.",
        )
    return asset, channel, locale, file


async def get_reference(request: Request) -> Response:
    """``GET .../reference-files/{locale}``: metadata, no ``self`` link."""
    asset, locale, file = _reference(request)
    path = _reference_path(asset.code, locale, _word(request))
    return JSONResponse(
        {
            "_link": _file_links(base_of(request), path, with_self=False),
            "locale": locale,
            "code": file.key,
        }
    )


async def get_variation(request: Request) -> Response:
    """``GET .../variation-files/{channel}/{locale}``: metadata with ``scope``."""
    asset, channel, locale, file = _variation(request)
    path = _variation_path(asset.code, channel, locale, _word(request))
    key = dataset_of(request).options.channel_key
    return JSONResponse(
        {
            "_link": _file_links(base_of(request), path, with_self=False),
            "locale": locale,
            key: channel,
            "code": file.key,
        }
    )


def _binary(request: Request, asset: SimAsset, file: SimFile, missing: str) -> Response:
    if not file.stored:
        raise SimError(404, missing)  # a file_info row whose binary is gone (§3.4)
    request.app.state.downloads[file.key] += 1
    return Response(
        file.content,
        media_type=file.mime_type,
        headers={"Content-Disposition": f'attachment; filename="{file.original_name}"'},
    )


async def download_reference(request: Request) -> Response:
    """``GET .../reference-files/{locale}/download``: the binary."""
    asset, locale, file = _reference(request)
    which = f' and the locale "{locale}"' if locale else ""
    return _binary(
        request, asset, file, f'Reference file for the asset "{asset.code}"{which} does not exist.'
    )


async def download_variation(request: Request) -> Response:
    """``GET .../variation-files/{channel}/{locale}/download``: the binary."""
    asset, channel, locale, file = _variation(request)
    which = f' and the locale "{locale}"' if locale else ""
    missing = (
        f'Variation file for the asset "{asset.code}" and the channel "{channel}"{which} '
        "does not exist."
    )
    return _binary(request, asset, file, missing)


__all__ = [
    "API",
    "base_of",
    "dataset_of",
    "limit_of",
    "page_body",
    "page_of",
    "asset_json",
    "download_reference",
    "download_variation",
    "get_asset",
    "get_reference",
    "get_variation",
    "list_assets",
]
