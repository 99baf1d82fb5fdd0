"""
Assets and asset media files: the simulator's routes for the Asset Manager's data.

List (``search``/``channel``/``locales`` filters, search_after by code, fixed page of 100, ``next``
only on a full page), GET one, PATCH one, DELETE, bulk PATCH (JSON array, per-item results in
input order), media upload (multipart part ``file``) and download.
"""

from __future__ import annotations

import json
import mimetypes
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.families import family_of, family_url, state_of
from daemon.sim.pim.http_errors import (
    API,
    JSON_TYPE,
    TOO_MANY,
    ApiError,
    base_url,
    json_object,
    parse_json,
    require_content_type,
    upserted,
)
from daemon.sim.pim.link_rules_run import run_link_rules
from daemon.sim.pim.naming_convention_run import naming_convention_values
from daemon.sim.pim.state import (
    MAX_ASSETS_PER_FAMILY,
    Asset,
    Family,
    PimState,
    iso,
    whole_second,
)
from daemon.sim.pim.validation import check_code, error, merge_values, validate_asset

ASSET_PAGE_SIZE = 100
MAX_BULK = 100
SEARCH_FORMAT = "The search filters have an invalid format."
UPDATED_OPERATORS = (">", "<", "BETWEEN", "NOT BETWEEN", "SINCE LAST N DAYS")


def render_asset(
    request: Request,
    family: Family,
    asset: Asset,
    *,
    listed: bool,
    channel: str | None = None,
    locales: set[str] | None = None,
) -> dict[str, Any]:
    """
    An asset as the API returns it, with read-only extras on media values.

    Args:
        request: the request (for absolute links).
        family: the asset's family.
        asset: the asset.
        listed: True inside a list page (adds ``_links.self``).
        channel: keep only values of this channel or without channel.
        locales: keep only values of these locales or without locale.

    Returns:
        The asset JSON.
    """
    base = base_url(request)
    values: dict[str, list[dict[str, Any]]] = {}
    for code, items in asset.values.items():
        attribute = family.attributes.get(code, {})
        kept = []
        for item in items:
            if channel is not None and item["channel"] not in (None, channel):
                continue
            if locales is not None and item["locale"] is not None and item["locale"] not in locales:
                continue
            value = dict(item)
            if attribute.get("type") == "media_file":
                href = f"{base}{API}/asset-media-files/{item['data']}"
                value["_links"] = {"download": {"href": href}}
            elif attribute.get("type") == "media_link":
                prefix, suffix = attribute.get("prefix"), attribute.get("suffix")
                full = f"{prefix or ''}{item['data']}{suffix or ''}"
                value["linked_data"] = {"full_url": full, "prefix": prefix, "suffix": suffix}
            kept.append(value)
        if kept:
            values[code] = kept
    body: dict[str, Any] = {
        "code": asset.code,
        "values": values,
        "created": iso(asset.created),
        "updated": iso(asset.updated),
    }
    if listed:
        href = f"{family_url(request, family.code)}/assets/{asset.code}"
        body = {"_links": {"self": {"href": href}}, **body}
    return body


def upsert_asset(state: PimState, family: Family, code: str, body: dict[str, Any]) -> bool:
    """
    Validate and write one asset; ``updated`` moves only when something changed.

    A new asset gets its family's naming convention values, then its product link rules run.

    Args:
        state: the PIM.
        family: the asset's family.
        code: the asset code.
        body: the decoded asset object.

    Returns:
        True when the asset was created.
    """
    check_code(code, "Asset")
    patch = validate_asset(state, family, body)
    existing = family.assets.get(code)
    now = state.clock()
    if existing is None:
        if len(family.assets) >= MAX_ASSETS_PER_FAMILY:
            raise ApiError(
                422,
                f'You cannot create the asset "{code}" because you have reached '
                f'the limit of {MAX_ASSETS_PER_FAMILY} assets for the "{family.code}" '
                "asset family",
            )
        extracted = naming_convention_values(state, family, code, patch)
        values, _ = merge_values({}, {**patch, **extracted})
        asset = Asset(code=code, values=values, created=now, updated=now)
        family.assets[code] = asset
        run_link_rules(state, family, asset)
        return True
    values, changed = merge_values(existing.values, patch)
    if changed:
        existing.values = values
        existing.updated = now
    return False


async def list_assets(request: Request) -> Response:
    """``GET /asset-families/{family}/assets``."""
    state = state_of(request)
    family = family_of(request)
    query = request.query_params
    channel = query.get("channel")
    if channel is not None and state.channel(channel) is None:
        raise ApiError(422, f'Channel "{channel}" does not exist.')
    locales: set[str] | None = None
    if query.get("locales"):
        locales = set(query["locales"].split(","))
        for locale in sorted(locales - state.active_locales()):
            raise ApiError(422, f'Locale "{locale}" does not exist or is not activated.')
    keep = _search(state, query.get("search"))
    after = query.get("search_after")
    codes = sorted(c for c in family.assets if after is None or c > after)
    page: list[Asset] = []
    for code in codes:
        if keep(family.assets[code]):
            page.append(family.assets[code])
            if len(page) == ASSET_PAGE_SIZE:
                break
    params = {k: query[k] for k in ("channel", "locales", "search") if k in query}
    url = f"{family_url(request, family.code)}/assets"

    def href(extra: dict[str, str]) -> dict[str, str]:
        merged = {**params, **extra}
        return {"href": f"{url}?{urlencode(merged)}" if merged else url}

    links = {"self": href({"search_after": after} if after else {}), "first": href({})}
    if len(page) == ASSET_PAGE_SIZE:
        links["next"] = href({"search_after": page[-1].code})
    items = [
        render_asset(request, family, a, listed=True, channel=channel, locales=locales)
        for a in page
    ]
    return JSONResponse({"_links": links, "_embedded": {"items": items}})


def _search(state: PimState, raw: str | None) -> Any:
    if raw is None:
        return lambda asset: True
    try:
        search = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "The search query parameter must be a valid JSON.") from exc
    if not isinstance(search, dict):
        raise ApiError(422, SEARCH_FORMAT, [error("", "The search must be a JSON object")])
    tests: list[Any] = []
    errors: list[dict[str, str]] = []
    for field, conditions in search.items():
        if field not in ("updated", "code"):
            errors.append(
                error(
                    field,
                    f'Filtering on "{field}" is not supported by the '
                    "simulator: use updated or code.",
                )
            )
            continue
        if not isinstance(conditions, list) or not conditions:
            errors.append(error(field, "A filter must be a non-empty array of conditions"))
            continue
        for index, condition in enumerate(conditions):
            try:
                tests.append(_condition(state, field, condition))
            except ValueError as exc:
                errors.append(error(f"{field}[{index}]", str(exc)))
    if errors:
        raise ApiError(422, SEARCH_FORMAT, errors)
    return lambda asset: all(test(asset) for test in tests)


def _condition(state: PimState, field: str, condition: Any) -> Any:
    """
    One search condition as a predicate on assets.

    ``updated`` conditions compare whole seconds on both sides: the listing shows stamps
    without a fraction (``2021-05-31T09:23:34+00:00``), so a client that resumes with
    ``updated > T`` from the highest stamp it saw must not get that second's assets again.
    """
    if not isinstance(condition, dict) or "operator" not in condition:
        raise ValueError("A condition must be an object with an operator and a value")
    operator, value = condition["operator"], condition.get("value")
    if field == "code":
        if operator != "IN" or not isinstance(value, list):
            raise ValueError('The code filter needs operator "IN" and an array of codes')
        codes = set(map(str, value))
        return lambda asset: asset.code in codes
    if operator not in UPDATED_OPERATORS:
        raise ValueError(
            f'Operator "{operator}" is not supported for updated; use one of '
            f"{', '.join(UPDATED_OPERATORS)}"
        )
    if operator == "SINCE LAST N DAYS":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError("SINCE LAST N DAYS needs a non-negative integer value")
        since = whole_second(state.clock() - timedelta(days=value))
        return lambda asset: whole_second(asset.updated) >= since
    if operator in ("BETWEEN", "NOT BETWEEN"):
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError(f"{operator} needs an array of two datetimes")
        low, high = _moment(value[0]), _moment(value[1])
        inside = operator == "BETWEEN"
        return lambda asset: (low <= whole_second(asset.updated) <= high) is inside
    moment = _moment(value)
    if operator == ">":
        return lambda asset: whole_second(asset.updated) > moment
    return lambda asset: whole_second(asset.updated) < moment


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"The date {value!r} must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f'The date "{value}" is not a valid ISO-8601 datetime') from exc
    # SaaS interprets dates without offset as UTC. The documented formats carry whole
    # seconds; a fraction is cut like the stamps it is compared with.
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return whole_second(parsed)


async def get_asset(request: Request) -> Response:
    """``GET /asset-families/{family}/assets/{code}``."""
    family = family_of(request)
    asset = _asset_of(family, request.path_params["code"])
    return JSONResponse(render_asset(request, family, asset, listed=False))


def _asset_of(family: Family, code: str) -> Asset:
    asset = family.assets.get(code)
    if asset is None:
        raise ApiError(404, f'Asset "{code}" does not exist for the asset family "{family.code}".')
    return asset


async def patch_asset(request: Request) -> Response:
    """``PATCH /asset-families/{family}/assets/{code}``: upsert one."""
    family = family_of(request)
    code = request.path_params["code"]
    body = await json_object(request, "asset")
    if "code" in body and body["code"] != code:
        raise ApiError(
            422,
            "The code of the asset provided in the URI must be the same as the "
            "one provided in the request body.",
        )
    created = upsert_asset(state_of(request), family, code, body)
    return upserted(created, f"{family_url(request, family.code)}/assets/{code}")


async def delete_asset(request: Request) -> Response:
    """``DELETE /asset-families/{family}/assets/{code}``."""
    family = family_of(request)
    code = request.path_params["code"]
    if family.assets.pop(code, None) is None:
        raise ApiError(404, f"Resource `{code}` does not exist.")
    return Response(status_code=204)


async def bulk_patch_assets(request: Request) -> Response:
    """``PATCH /asset-families/{family}/assets``: JSON array in, per-item results out."""
    require_content_type(request, JSON_TYPE)
    check_code(request.path_params["family"], "Asset family")
    family = family_of(request)
    items = parse_json(await request.body())
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(
            400,
            "The list of assets has an invalid format.",
            [error("", "The body must be a JSON array of asset objects")],
        )
    if len(items) > MAX_BULK:
        raise ApiError(413, TOO_MANY)
    state = state_of(request)
    results: list[dict[str, Any]] = []
    for item in items:
        code = item.get("code")
        result: dict[str, Any] = {"code": code}
        if not isinstance(code, str) or not code:
            result.update(
                status_code=422,
                message="The asset has an invalid format.",
                errors=[error("code", "The property code is required")],
            )
        else:
            try:
                created = upsert_asset(state, family, code, item)
                result["status_code"] = 201 if created else 204
            except ApiError as exc:
                result.update(status_code=exc.status, message=exc.message)
                if exc.errors:
                    result["errors"] = exc.errors
        results.append(result)
    return JSONResponse(results)


async def upload_media(request: Request) -> Response:
    """``POST /asset-media-files``: multipart with a ``file`` part."""
    require_content_type(request, "multipart/form-data")
    form = await request.form()
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise ApiError(422, 'Property "file" is required.')
        content = await part.read()
        filename = part.filename or "file"
        mime = part.content_type or mimetypes.guess_type(filename)[0]
    finally:
        await form.close()
    stored = state_of(request).store_media(filename, mime or "application/octet-stream", content)
    location = f"{base_url(request)}{API}/asset-media-files/{stored.code}"
    return Response(
        status_code=201,
        headers={"Asset-media-file-code": stored.code, "Location": location},
    )


async def download_media(request: Request) -> Response:
    """``GET /asset-media-files/{code}``: the stored bytes."""
    code = request.path_params["code"]
    stored = state_of(request).media.get(code)
    if stored is None:
        raise ApiError(404, f'Media file "{code}" does not exist.')
    return Response(
        stored.content,
        media_type=stored.mime_type,
        headers={"Content-Disposition": f'attachment; filename="{stored.filename}"'},
    )
