"""
The Cloudinary shape of the DAM simulator (dam-apis.md §2): the Search API and the public
delivery URLs (``secure_url``).

Search expressions support clauses joined by ``AND``: date comparisons
(``updated_at``/``uploaded_at``/``created_at`` with ``> >= < <= =``, quoted ISO-8601 or
relative ``1d``/``12h``/``2w``), and ``resource_type``, ``status``, ``format``, ``public_id``,
``asset_id`` with ``:`` or ``=``. Dates compare as shown, with seconds precision. Deleted
assets are left out unless the expression asks for ``status:deleted``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from daemon.sim.dam.binaries import EXTENSIONS
from daemon.sim.dam.bynder import ceil_second, floor_second
from daemon.sim.dam.dataset import NUM_BITS, AssetRecord, parse_asset_id
from daemon.sim.dam.generic import binary_response
from daemon.sim.dam.plumbing import DamSim, error_response, json_body
from daemon.sim.dam.query import (
    MAX_US,
    MIN_US,
    Page,
    QueryError,
    decode_cursor,
    encode_cursor,
    id_page,
    parse_time,
    time_page,
)
from daemon.sim.dam.shapes import CLOUDINARY_FOLDER, cloudinary_asset_id, cloudinary_resource

MAX_RESULTS = 500
_SECOND = 1_000_000
_CLAUSE = re.compile(
    r'^\s*(?P<field>[a-z_.]+)\s*(?P<op>>=|<=|>|<|=|:)\s*(?P<value>"[^"]*"|[^\s"]+)\s*$'
)
_RELATIVE = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
_DATE_FIELDS = {
    "updated_at": "updated_us",
    "last_updated.updated_at": "updated_us",
    "uploaded_at": "uploaded_us",
    "created_at": "created_us",
}
_SORT_FIELDS = ("updated_at", "uploaded_at", "created_at", "public_id")


@dataclass(slots=True)
class SearchFilter:
    """
    A parsed expression: an updated_at window plus further record predicates.
    """

    since_us: int = MIN_US
    before_us: int = MAX_US
    status: str = "active"
    checks: list[Callable[[AssetRecord], bool]] = field(default_factory=list)

    def accepts(self, record: AssetRecord) -> bool:
        """
        Args:
            record: an asset.

        Returns:
            Whether every clause but the indexed window holds.
        """
        return all(check(record) for check in self.checks)


def _bounds(op: str, value_us: int) -> tuple[int, int]:
    """Turn a comparison on seconds-precision dates into a [since, before) microsecond range."""
    if op == ">":
        return floor_second(value_us) + _SECOND, MAX_US
    if op == ">=":
        return ceil_second(value_us), MAX_US
    if op == "<":
        return MIN_US, ceil_second(value_us)
    if op == "<=":
        return MIN_US, floor_second(value_us) + _SECOND
    return floor_second(value_us), floor_second(value_us) + _SECOND


def _between(attr: str, low: int, high: int) -> Callable[[AssetRecord], bool]:
    def check(record: AssetRecord) -> bool:
        return bool(low <= getattr(record, attr) < high)

    return check


def _equals(get: Callable[[AssetRecord], object], value: object) -> Callable[[AssetRecord], bool]:
    def check(record: AssetRecord) -> bool:
        return get(record) == value

    return check


def parse_expression(
    expression: str, now_us: int, resolve_asset: Callable[[str], int]
) -> SearchFilter:
    """
    Parse the supported subset of Cloudinary's search expressions.

    Args:
        expression: e.g. ``updated_at>"2026-01-01T00:00:00Z" AND resource_type:image``.
        now_us: the DAM's clock, for relative dates.
        resolve_asset: maps an ``asset_id`` to an asset number (0 when unknown).

    Returns:
        The filter.
    """
    result = SearchFilter()
    clauses = [c for c in re.split(r"\s+AND\s+", expression.strip()) if c] if expression else []
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if match is None:
            raise QueryError("expression", f"unsupported clause {clause!r}")
        name, op, value = match["field"], match["op"], match["value"].strip('"')
        if name in _DATE_FIELDS:
            relative = _RELATIVE.match(value)
            if relative:
                stamp = now_us - int(relative[1]) * _UNITS[relative[2]] * _SECOND
                op = {">": ">=", "<": "<="}.get(op, op)
            else:
                stamp = parse_time(value, "expression", assume_utc=True)
            low, high = _bounds(op, stamp)
            attr = _DATE_FIELDS[name]
            if attr == "updated_us":
                result.since_us = max(result.since_us, low)
                result.before_us = min(result.before_us, high)
            else:
                result.checks.append(_between(attr, low, high))
            continue
        if op not in (":", "="):
            raise QueryError("expression", f"{name} supports ':' and '=' only")
        if name == "status":
            if value not in ("active", "deleted"):
                raise QueryError("expression", f"unknown status {value!r}")
            result.status = value
        elif name == "resource_type":
            result.checks.append(_equals(lambda _r: "image", value))
        elif name == "format":
            result.checks.append(_equals(lambda r: EXTENSIONS[r.kind], value))
        elif name == "public_id":
            result.checks.append(_equals(lambda r: f"{CLOUDINARY_FOLDER}/{r.id}", value))
        elif name == "asset_id":
            result.checks.append(_equals(lambda r: r.num, resolve_asset(value)))
        else:
            raise QueryError("expression", f"unsupported field {name!r}")
    return result


def parse_sort(raw: Any) -> tuple[str, bool]:
    """
    Args:
        raw: ``sort_by`` from the body: a list of single-key objects, or one object.

    Returns:
        The primary sort field and whether it is descending (``public_id`` tiebreaks only).
    """
    if raw is None:
        return "created_at", True
    items = raw if isinstance(raw, list) else [raw]
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise QueryError("sort_by", "expected a list of single-key objects")
        key, direction = next(iter(item.items()))
        if key not in _SORT_FIELDS or direction not in ("asc", "desc"):
            raise QueryError("sort_by", f"unsupported sort {item!r}")
        pairs.append((key, direction))
    if not pairs:
        return "created_at", True
    for key, direction in pairs[1:]:
        if key != "public_id" or direction != pairs[0][1]:
            raise QueryError("sort_by", "only public_id in the same direction may follow")
    return pairs[0][0], pairs[0][1] == "desc"


def cloudinary_routes(sim: DamSim) -> list[Route]:
    """
    Args:
        sim: the simulator the routes serve.

    Returns:
        The Search route (Basic auth) and the public delivery route.
    """
    store = sim.store
    base = sim.options.base_url.rstrip("/")
    cloud = sim.options.cloud_name
    by_asset_id: dict[str, int] = {}

    def resolve(asset: str) -> int:
        if len(by_asset_id) < len(store.records):
            for record in store.records[len(by_asset_id) :]:
                by_asset_id[cloudinary_asset_id(store, record)] = record.num
        return by_asset_id.get(asset, 0)

    async def search(request: Request) -> Response:
        started = time.perf_counter()
        if request.path_params["cloud"] != cloud:
            return error_response("cloudinary", 404, "Unknown cloud name")
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise QueryError("body", "expected a JSON object")
        max_results = body.get("max_results", 50)
        if not isinstance(max_results, int) or not 0 <= max_results <= MAX_RESULTS:
            raise QueryError("max_results", f"must be an integer from 0 to {MAX_RESULTS}")
        expression = body.get("expression") or ""
        if not isinstance(expression, str):
            raise QueryError("expression", "must be a string")
        spec = parse_expression(expression, sim.now_us(), resolve)
        sort_field, desc = parse_sort(body.get("sort_by"))
        with_fields = body.get("with_field") or []
        with_set = {with_fields} if isinstance(with_fields, str) else set(with_fields)
        mode = {"updated_at": "t", "uploaded_at": "u"}.get(sort_field, "i") + ("r" if desc else "")
        after = (
            decode_cursor(body["next_cursor"], mode, "next_cursor")
            if body.get("next_cursor")
            else None
        )
        page = _search_page(sim, spec, sort_field, desc, after, max_results)
        resources = [
            cloudinary_resource(store, store.records[n - 1], base, cloud, with_set)
            for n in page.nums
        ]
        answer: dict[str, Any] = {
            "total_count": page.total,
            "time": int((time.perf_counter() - started) * 1000),
            "resources": resources,
        }
        if page.has_more and page.last_key is not None and max_results > 0:
            answer["next_cursor"] = encode_cursor(mode, page.last_key)
        return json_body(answer)

    async def deliver(request: Request) -> Response:
        params = request.path_params
        stem, _, ext = params["name"].rpartition(".")
        num = parse_asset_id(stem)
        record = store.get(num) if num is not None else None
        if (
            params["cloud"] != cloud
            or not params["version"].startswith("v")
            or record is None
            or EXTENSIONS[record.kind] != ext
        ):
            return Response(status_code=404, headers={"X-Cld-Error": "Resource not found"})
        # Cloudinary serves the current file whatever the version segment says.
        found = binary_response(sim, record.id, record.file_version)
        if found is None:
            return Response(status_code=404, headers={"X-Cld-Error": "Resource not found"})
        return found

    return [
        sim.api("/v1_1/{cloud}/resources/search", search, shape="cloudinary", method="POST"),
        sim.api(
            f"/res/{{cloud}}/image/upload/{{version}}/{CLOUDINARY_FOLDER}/{{name}}",
            deliver,
            shape="public",
        ),
    ]


def _search_page(
    sim: DamSim, spec: SearchFilter, sort_field: str, desc: bool, after: int | None, limit: int
) -> Page:
    store = sim.store
    deleted_only = spec.status == "deleted"

    def keep(record: AssetRecord) -> bool:
        return record.deleted == deleted_only and spec.accepts(record)

    if sort_field == "updated_at":
        index = store.by_time if deleted_only else store.by_time_live
        extra = (lambda n: keep(store.records[n - 1])) if spec.checks or deleted_only else None
        return time_page(
            index,
            since_us=spec.since_us,
            before_us=spec.before_us,
            after_key=after,
            limit=limit,
            desc=desc,
            extra=extra,
        )
    if sort_field in ("created_at", "public_id"):
        return id_page(
            store,
            since_us=spec.since_us,
            before_us=spec.before_us,
            live_only=not deleted_only,
            after_num=after,
            limit=limit,
            desc=desc,
            extra=keep if spec.checks or deleted_only else None,
        )
    # uploaded_at is not indexed: sort the matches (fine for tests and demos).
    keys = sorted(
        (r.uploaded_us << NUM_BITS) | r.num
        for r in store.records
        if keep(r) and spec.since_us <= r.updated_us < spec.before_us
    )
    return time_page(keys, after_key=after, limit=limit, desc=desc)


__all__ = ["MAX_RESULTS", "SearchFilter", "cloudinary_routes", "parse_expression", "parse_sort"]
