"""
The generic "reference REST DAM" API of the simulator and its OAuth2 token endpoint.

``GET /generic/assets`` offers every pagination style of the contract (page, offset, cursor,
``next`` URL, ``Link`` header); ``next``/``Link``/``next_cursor`` always resume with a keyset
cursor, whatever style the current request used.
"""

from __future__ import annotations

import base64
import binascii
from functools import partial
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.sim.dam.binaries import render_binary
from daemon.sim.dam.dataset import format_micro, from_us, parse_asset_id
from daemon.sim.dam.plumbing import DamSim, error_response, json_body
from daemon.sim.dam.query import (
    MAX_US,
    MIN_US,
    Page,
    QueryError,
    decode_cursor,
    encode_cursor,
    id_page,
    parse_int,
    parse_time,
    time_page,
)
from daemon.sim.dam.shapes import generic_item

MAX_LIMIT = 500
MAX_IDS_LIMIT = 10_000
_PAGING = ("page", "offset", "cursor")


def binary_response(sim: DamSim, asset: str, version: int) -> Response | None:
    """
    Args:
        sim: the simulator.
        asset: the asset id.
        version: the file version asked for.

    Returns:
        The file (any version from 1 to the current one of a live asset), or ``None``.
    """
    num = parse_asset_id(asset)
    record = sim.store.get(num) if num is not None else None
    if record is None or record.deleted or not 1 <= version <= record.file_version:
        return None
    binary = render_binary(sim.store.seed, record.id, version, record.kind)
    sim.count_download(binary.size)
    return Response(
        binary.content,
        media_type=binary.mime_type,
        headers={"ETag": f'"{binary.sha256}"', "Cache-Control": "private, max-age=0"},
    )


async def list_assets(sim: DamSim, request: Request) -> Response:
    """
    ``GET /generic/assets``: filters, sort and one of the pagination styles.

    Args:
        sim: the simulator.
        request: the request.

    Returns:
        The page envelope, with a ``Link`` header when a next page exists.
    """
    store = sim.store
    base = sim.options.base_url.rstrip("/")
    query = request.query_params
    limit = parse_int(query.get("limit"), "limit", default=100, low=1, high=MAX_LIMIT)
    if "ids" in query:
        nums = sorted({n for n in map(parse_asset_id, query["ids"].split(",")) if n})
        items = [generic_item(store, r, base) for n in nums if (r := store.get(n))]
        return json_body(_envelope(items, None, None, len(items), sim))
    sort = query.get("sort")
    if sort not in (None, "", "updated_at"):
        raise QueryError("sort", f"only 'updated_at' is supported, got {sort!r}")
    styles = [name for name in _PAGING if name in query]
    if len(styles) > 1:
        raise QueryError(styles[1], f"choose one pagination style, got {', '.join(styles)}")
    since = (
        parse_time(query["updated_since"], "updated_since") if "updated_since" in query else MIN_US
    )
    before = (
        parse_time(query["updated_before"], "updated_before")
        if "updated_before" in query
        else MAX_US
    )
    mode = "t" if sort else "i"
    after = decode_cursor(query["cursor"], mode) if query.get("cursor") else None
    offset = parse_int(query.get("offset"), "offset", default=0, low=0, high=10**9)
    if "page" in query:
        page_no = parse_int(query.get("page"), "page", default=1, low=1, high=10**9)
        offset = (page_no - 1) * limit
    page: Page
    if sort:
        page = time_page(
            store.by_time,
            since_us=since,
            before_us=before,
            after_key=after,
            offset=offset,
            limit=limit,
        )
    else:
        page = id_page(
            store, since_us=since, before_us=before, after_num=after, offset=offset, limit=limit
        )
    items = [generic_item(store, store.records[n - 1], base) for n in page.nums]
    next_cursor = next_url = None
    headers: dict[str, str] = {}
    if page.has_more and page.last_key is not None:
        next_cursor = encode_cursor(mode, page.last_key)
        params = [(k, v) for k, v in query.multi_items() if k not in (*_PAGING, "api_key")]
        next_url = f"{base}{request.url.path}?{urlencode([*params, ('cursor', next_cursor)])}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = _envelope(items, next_cursor, next_url, page.total, sim)
    return json_body(body, headers=headers)


async def token(sim: DamSim, request: Request) -> Response:
    """
    ``POST /oauth/token``: OAuth2 client credentials (form fields or HTTP Basic).

    Args:
        sim: the simulator.
        request: the request.

    Returns:
        The token answer, 400 for another grant type, 401 for a bad client.
    """
    form = await request.form()
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _, client_secret = decoded.partition(":")
    if form.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    if client_id != sim.options.client_id or client_secret != sim.options.client_secret:
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    return JSONResponse(
        {"access_token": sim.issue_token(), "token_type": "bearer", "expires_in": 3600}
    )


def generic_routes(sim: DamSim) -> list[Route]:
    """
    Args:
        sim: the simulator the routes serve.

    Returns:
        The routes of the generic API and of ``POST /oauth/token``.
    """
    base = sim.options.base_url.rstrip("/")
    store = sim.store

    async def one_asset(request: Request) -> Response:
        num = parse_asset_id(request.path_params["id"])
        record = store.get(num) if num is not None else None
        if record is None:
            return error_response("generic", 404, f"unknown asset {request.path_params['id']!r}")
        return json_body(generic_item(store, record, base))

    async def file(request: Request) -> Response:
        version = request.path_params["version"]
        found = binary_response(sim, request.path_params["id"], int(version))
        if found is None:
            return error_response("generic", 404, "no such file (unknown or deleted asset)")
        return found

    async def ids(request: Request) -> Response:
        query = request.query_params
        limit = parse_int(query.get("limit"), "limit", default=1000, low=1, high=MAX_IDS_LIMIT)
        after = decode_cursor(query["cursor"], "i") if query.get("cursor") else None
        page = id_page(store, live_only=True, after_num=after, limit=limit)
        cursor = encode_cursor("i", page.last_key) if page.has_more and page.last_key else None
        return json_body(
            {
                "ids": [store.records[n - 1].id for n in page.nums],
                "next_cursor": cursor,
                "total": page.total,
            }
        )

    return [
        sim.api("/generic/assets", partial(list_assets, sim), shape="generic"),
        sim.api("/generic/assets/{id}", one_asset, shape="generic"),
        sim.api("/generic/files/{id}/{version:int}", file, shape="generic"),
        sim.api("/generic/ids", ids, shape="generic"),
        sim.api("/oauth/token", partial(token, sim), shape="public", method="POST"),
        sim.api(
            "/v6/authentication/oauth2/token", partial(token, sim), shape="public", method="POST"
        ),
    ]


def _envelope(
    items: list[dict[str, object]],
    next_cursor: str | None,
    next_url: str | None,
    total: int,
    sim: DamSim,
) -> dict[str, object]:
    return {
        "items": items,
        "next_cursor": next_cursor,
        "next": next_url,
        "total": total,
        "server_time": format_micro(from_us(sim.now_us())),
    }


__all__ = ["MAX_LIMIT", "binary_response", "generic_routes", "list_assets", "token"]
