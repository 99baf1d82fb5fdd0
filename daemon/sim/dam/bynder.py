"""
The Bynder shape of the DAM simulator (dam-apis.md §1): media listing, single medium,
download resolution to a presigned "S3" URL, the trash listing and the S3 stand-in itself.

Bynder shows dates with seconds precision, and the filters compare the dates as shown:
``dateModified`` is inclusive (``>=``), ``dateModifiedTo`` is inclusive of its whole second.
Deleted assets vanish from ``/api/v4/media/`` and appear in ``/api/trash/media``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daemon.sim.dam.dataset import AssetRecord, from_us, parse_asset_id
from daemon.sim.dam.generic import binary_response
from daemon.sim.dam.plumbing import DamSim, error_response, json_body
from daemon.sim.dam.query import (
    MAX_US,
    MIN_US,
    QueryError,
    decode_cursor,
    encode_cursor,
    id_page,
    parse_int,
    parse_time,
    time_page,
)
from daemon.sim.dam.shapes import bynder_media, filename, seconds_z

MAX_LIMIT = 1000
S3_EXPIRES_SECONDS = 900
_TRUE = ("true", "1")
_TYPES: dict[str, tuple[str, ...]] = {
    "image": ("png", "jpeg"),
    "document": ("pdf",),
    "audio": (),
    "video": (),
    "3d": (),
}
_ORDERS = ("dateModified", "dateCreated")
_SECOND = 1_000_000


def ceil_second(stamp_us: int) -> int:
    """
    Args:
        stamp_us: microseconds since the epoch.

    Returns:
        The stamp rounded up to a whole second.
    """
    return -(-stamp_us // _SECOND) * _SECOND


def floor_second(stamp_us: int) -> int:
    """
    Args:
        stamp_us: microseconds since the epoch.

    Returns:
        The stamp rounded down to a whole second.
    """
    return stamp_us // _SECOND * _SECOND


def _s3_signature(seed: int, asset: str, version: int, amz_date: str) -> str:
    key = hashlib.sha256(f"damsync-sim-s3:{seed}".encode()).digest()
    return hmac.new(key, f"{asset}/{version}/{amz_date}".encode(), hashlib.sha256).hexdigest()


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


async def media(sim: DamSim, request: Request) -> Response:
    """
    ``GET /api/v4/media/``: live assets, filtered, ordered and paged the Bynder way.

    Args:
        sim: the simulator.
        request: the request.

    Returns:
        A bare array, or the ``count``/``total`` envelope; ``X-Bynder-NextCursor`` if more.
    """
    store = sim.store
    q = request.query_params
    limit = parse_int(q.get("limit"), "limit", default=50, low=1, high=MAX_LIMIT)
    page_no = parse_int(q.get("page"), "page", default=1, low=1, high=10**9)
    since = MIN_US
    before = MAX_US
    if q.get("dateModified"):
        since = ceil_second(parse_time(q["dateModified"], "dateModified", assume_utc=True))
    if q.get("dateModifiedTo"):
        upper = parse_time(q["dateModifiedTo"], "dateModifiedTo", assume_utc=True)
        before = floor_second(upper) + _SECOND
    field, _, direction = " ".join(q.get("orderBy", "dateCreated asc").split()).partition(" ")
    if field not in _ORDERS or direction not in ("asc", "desc"):
        raise QueryError("orderBy", "supported: dateModified asc|desc, dateCreated asc|desc")
    kinds: tuple[str, ...] = ("png", "jpeg", "pdf")
    if q.get("type"):
        if q["type"] not in _TYPES:
            raise QueryError("type", f"unknown type {q['type']!r}")
        kinds = _TYPES[q["type"]]
    wanted = None
    if q.get("ids") or q.get("id"):
        wanted = {n for n in map(parse_asset_id, (q.get("ids") or q["id"]).split(",")) if n}
    if q.get("archive", "").lower() in _TRUE:
        wanted = set()  # nothing is archived in the simulator

    def keep(num: int) -> bool:
        return store.records[num - 1].kind in kinds and (wanted is None or num in wanted)

    extra = keep if (wanted is not None or len(kinds) < 3) else None
    desc = direction == "desc"
    mode = ("t" if field == "dateModified" else "i") + ("r" if desc else "")
    after = decode_cursor(q["cursor"], mode) if q.get("cursor") else None
    offset = 0 if after is not None else (page_no - 1) * limit
    if field == "dateModified":
        page = time_page(
            store.by_time_live,
            since_us=since,
            before_us=before,
            after_key=after,
            offset=offset,
            limit=limit,
            desc=desc,
            extra=extra,
        )
    else:
        page = id_page(
            store,
            since_us=since,
            before_us=before,
            live_only=True,
            after_num=after,
            offset=offset,
            limit=limit,
            desc=desc,
            extra=(lambda r: keep(r.num)) if extra else None,
        )
    with_items = q.get("includeMediaItems", "").lower() in _TRUE
    items = [bynder_media(store, store.records[n - 1], media_items=with_items) for n in page.nums]
    headers = {}
    if page.has_more and page.last_key is not None:
        headers["X-Bynder-NextCursor"] = encode_cursor(mode, page.last_key)
    if q.get("count", "").lower() in _TRUE:
        return json_body({"count": {"total": page.total}, "media": items}, headers=headers)
    if q.get("total", "").lower() in _TRUE:
        return json_body({"total": {"count": page.total}, "media": items}, headers=headers)
    return json_body(items, headers=headers)


def bynder_routes(sim: DamSim) -> list[Route]:
    """
    Args:
        sim: the simulator the routes serve.

    Returns:
        The Bynder routes (Bearer auth) and the unauthenticated S3 stand-in.
    """
    store = sim.store
    base = sim.options.base_url.rstrip("/")

    def live(raw: str) -> AssetRecord | None:
        num = parse_asset_id(raw)
        record = store.get(num) if num is not None else None
        return None if record is None or record.deleted else record

    async def one(request: Request) -> Response:
        record = live(request.path_params["id"])
        if record is None:
            return error_response("bynder", 404, "Media item not found")
        versions = request.query_params.get("versions", "").lower() in _TRUE
        return json_body(bynder_media(store, record, media_items=versions))

    async def download(request: Request) -> Response:
        record = live(request.path_params["id"])
        kind = request.query_params.get("type", "original")
        if kind not in ("original", "additional"):
            return error_response("bynder", 400, "Invalid type")
        version = request.path_params.get("version", record.file_version if record else 0)
        if record is None or kind != "original" or not 1 <= version <= record.file_version:
            return error_response("bynder", 404, "Original file not available")
        amz_date = from_us(sim.now_us()).strftime("%Y%m%dT%H%M%SZ")
        signature = _s3_signature(store.seed, record.id, version, amz_date)
        s3_file = (
            f"{base}/s3/{record.id}/{version}/{filename(record)}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={amz_date}&X-Amz-Expires={S3_EXPIRES_SECONDS}&X-Amz-Signature={signature}"
        )
        return json_body({"disclaimer": "", "s3_file": s3_file})

    async def s3(request: Request) -> Response:
        if "authorization" in request.headers:
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        q = request.query_params
        asset, version = request.path_params["id"], request.path_params["version"]
        amz_date = q.get("X-Amz-Date", "")
        expected = _s3_signature(store.seed, asset, version, amz_date)
        if not hmac.compare_digest(q.get("X-Amz-Signature", ""), expected):
            return _s3_error(403, "SignatureDoesNotMatch", "The request signature is invalid")
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if sim.clock() > issued + timedelta(seconds=S3_EXPIRES_SECONDS):
            return _s3_error(403, "AccessDenied", "Request has expired")
        found = binary_response(sim, asset, version)
        if found is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return found

    async def trash(request: Request) -> Response:
        q = request.query_params
        limit = parse_int(q.get("limit"), "limit", default=10, low=1, high=MAX_LIMIT)
        page_no = parse_int(q.get("page"), "page", default=1, low=1, high=10**9)
        since = (
            parse_time(q["dateRemoved"], "dateRemoved", assume_utc=True)
            if q.get("dateRemoved")
            else MIN_US
        )
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise QueryError("order", "asc or desc")
        removed = {n for n in store.removed if store.records[n - 1].deleted}
        records = sorted(
            (r for n in removed if (r := store.records[n - 1]).updated_us >= since),
            key=lambda r: (r.updated_us, r.num),
            reverse=order == "desc",
        )
        chosen = records[(page_no - 1) * limit : page_no * limit]
        return json_body(
            [
                {
                    "id": r.id,
                    "name": store.metadata(r)["title"]["en_US"],
                    "dateRemoved": seconds_z(r.updated_us),
                    "dateCreated": seconds_z(r.created_us),
                    "username": sim.options.username,
                    "userId": "7A4D1F2C-0000-4000-8000-00000000DA11",
                    "S3_filepointer": f"{r.id}/{filename(r)}",
                }
                for r in chosen
            ]
        )

    return [
        sim.api("/api/v4/media/", partial(media, sim), shape="bynder"),
        sim.api("/api/v4/media/{id}/", one, shape="bynder"),
        sim.api("/api/v4/media/{id}/download/", download, shape="bynder"),
        sim.api("/api/v4/media/{id}/{version:int}/download/", download, shape="bynder"),
        sim.api("/api/trash/media", trash, shape="bynder"),
        sim.api("/s3/{id}/{version:int}/{name}", s3, shape="public"),
    ]


__all__ = ["MAX_LIMIT", "bynder_routes", "ceil_second", "floor_second"]
