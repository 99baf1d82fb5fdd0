"""
Reads of products and product models in the PIM simulator: GET one, lists, ``search`` filters.

Lists page with ``page``/``limit`` or ``pagination_type=search_after`` and keep only the values
asked by ``scope``, ``locales`` and ``attributes``. ``search`` supports the documented property
filters a sync needs: ``identifier`` (product models: their code) and ``uuid`` ``IN``/``NOT IN``,
``enabled``, ``family``, ``groups``, ``categories``, ``parent``, ``created``/``updated``
(``YYYY-MM-DD hh:mm:ss``), and asset-collection attributes (``IN``, ``NOT IN``, ``EMPTY``,
``NOT EMPTY``). Conditions are ANDed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.catalog_routes import offset_page, search_after_page
from daemon.sim.pim.families import state_of
from daemon.sim.pim.http_errors import API, ApiError, base_url
from daemon.sim.pim.products import MODELS, PRODUCTS, PRODUCTS_UUID, Kind, find_product
from daemon.sim.pim.state import PimState, Product, iso, whole_second

Test = Callable[[Product], bool]
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LIST_FIELDS = {"family": "scalar", "groups": "list", "categories": "list"}


def render_product(request: Request, kind: Kind, product: Product) -> dict[str, Any]:
    """
    A product or product model as the API returns it, in Akeneo's standard format.

    Args:
        request: the request.
        kind: which resource.
        product: the record.

    Returns:
        The JSON object with ``_links.self``.
    """
    key = product.uuid if kind.key == "uuid" else product.key
    head: dict[str, Any] = {
        "_links": {"self": {"href": f"{base_url(request)}{API}/{kind.path}/{key}"}}
    }
    if kind is MODELS:
        head["code"] = product.key
    else:
        head.update(uuid=product.uuid, identifier=product.key or None)
    body = {k: v for k, v in product.body.items() if k not in ("identifier", "uuid", "code")}
    return {**head, **body, "created": iso(product.created), "updated": iso(product.updated)}


def list_many(kind: Kind) -> Callable[[Request], Any]:
    """
    Build the GET list route of ``kind`` (``page`` or ``search_after`` pagination).

    Args:
        kind: which resource.

    Returns:
        The Starlette endpoint.
    """

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        keep = product_filter(state, kind, request.query_params.get("search"))
        records = sorted(
            (p for p in kind.store(state).values() if keep(p)),
            key=lambda p: (p.uuid or "") if kind.key == "uuid" else p.key,
        )
        items = [_trim(request, render_product(request, kind, p)) for p in records]
        if request.query_params.get("pagination_type") == "search_after":
            return search_after_page(request, items, kind.key, f"/{kind.path}")
        return offset_page(request, items, f"/{kind.path}")

    return endpoint


def _trim(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    query = request.query_params
    scope = query.get("scope")
    locales = set(query["locales"].split(",")) if query.get("locales") else None
    wanted = set(query["attributes"].split(",")) if query.get("attributes") else None
    values: dict[str, Any] = {}
    for attribute, items in item.get("values", {}).items():
        if wanted is not None and attribute not in wanted:
            continue
        kept = [
            v
            for v in items
            if (scope is None or v["scope"] in (None, scope))
            and (locales is None or v["locale"] is None or v["locale"] in locales)
        ]
        if kept:
            values[attribute] = kept
    return {**item, "values": values}


async def get_one(request: Request) -> Response:
    """``GET /products/{identifier}`` and friends (kind chosen from the path)."""
    path = request.url.path.removeprefix(f"{API}/").split("/", 1)[0]
    kind = {"products": PRODUCTS, "products-uuid": PRODUCTS_UUID, "product-models": MODELS}[path]
    key = request.path_params["key"]
    found = find_product(kind, state_of(request), key)
    if found is None:
        raise ApiError(404, f'Resource "{key}" does not exist.')
    return JSONResponse(render_product(request, kind, found))


def product_filter(state: PimState, kind: Kind, raw: str | None) -> Test:
    """
    Turn a ``search`` query parameter into a predicate on stored products.

    Args:
        state: the PIM (clock, attributes, product models).
        kind: which resource.
        raw: the parameter, or None.

    Returns:
        A predicate; every condition must hold.
    """
    if raw is None:
        return lambda product: True
    try:
        search = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Search query parameter should be valid JSON.") from exc
    if not isinstance(search, dict):
        raise ApiError(422, "Search query parameter has to be an array.")
    tests: list[Test] = []
    for field, conditions in search.items():
        if not isinstance(conditions, list):
            raise ApiError(
                422,
                f'Structure of filter "{field}" should respect this structure: '
                f'{{"{field}":[{{"operator": "my_operator", "value": "my_value"}}]}}',
            )
        for condition in conditions:
            if not isinstance(condition, dict) or "operator" not in condition:
                raise ApiError(422, f'Operator is missing for the property "{field}".')
            tests.append(_condition(state, kind, field, condition))
    return lambda product: all(test(product) for test in tests)


def _unsupported(field: str, operator: Any) -> ApiError:
    return ApiError(
        422,
        f'Filter on property "{field}" is not supported or does not support operator "{operator}"',
    )


def _condition(state: PimState, kind: Kind, field: str, condition: dict[str, Any]) -> Test:
    operator, value = condition["operator"], condition.get("value")
    is_model = kind is MODELS
    if field in ("identifier", "uuid") and not (is_model and field == "uuid"):
        if operator not in ("IN", "NOT IN") or not _strings(value):
            raise _unsupported(field, operator)
        wanted, inside = set(value), operator == "IN"
        if field == "uuid":
            return lambda p: (p.uuid in wanted) is inside
        return lambda p: (p.key in wanted) is inside
    if field == "enabled" and not is_model:
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise _unsupported(field, operator)
        return lambda p: (p.body.get("enabled") is value) is (operator == "=")
    if field in LIST_FIELDS and not (is_model and field == "groups"):
        return _list_condition(field, operator, value)
    if field == "parent":
        return _parent_condition(state, operator, value)
    if field in ("created", "updated"):
        return _date_condition(state, field, operator, value)
    definition = state.product_attributes.get(field)
    if definition is not None and definition.get("type") == "pim_catalog_asset_collection":
        return _collection_condition(field, operator, value, condition)
    raise _unsupported(field, operator)


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _list_condition(field: str, operator: str, value: Any) -> Test:
    def current(p: Product) -> set[str]:
        found = p.body.get(field)
        if LIST_FIELDS[field] == "scalar":
            return set() if found is None else {str(found)}
        return set(found or [])

    if operator in ("EMPTY", "NOT EMPTY", "UNCLASSIFIED") and (
        operator != "UNCLASSIFIED" or field == "categories"
    ):
        empty = operator != "NOT EMPTY"
        return lambda p: (not current(p)) is empty
    if operator in ("IN", "NOT IN", "IN OR UNCLASSIFIED") and _strings(value):
        wanted = set(value)
        if operator == "IN OR UNCLASSIFIED" and field == "categories":
            return lambda p: not current(p) or bool(current(p) & wanted)
        if operator != "IN OR UNCLASSIFIED":
            inside = operator == "IN"
            return lambda p: bool(current(p) & wanted) is inside
    raise _unsupported(field, operator)


def _parent_condition(state: PimState, operator: str, value: Any) -> Test:
    if operator == "EMPTY":
        return lambda p: p.body.get("parent") is None
    if operator == "NOT EMPTY":
        return lambda p: p.body.get("parent") is not None
    if operator == "IN" and _strings(value):
        wanted = set(value)
        return lambda p: p.body.get("parent") in wanted
    if operator == "=" and isinstance(value, str):

        def descends(p: Product) -> bool:
            parent, seen = p.body.get("parent"), 0
            while parent is not None and seen < 3:
                if parent == value:
                    return True
                model = state.product_models.get(str(parent))
                parent, seen = (model.body.get("parent") if model else None), seen + 1
            return False

        return descends
    raise _unsupported("parent", operator)


def _date_condition(state: PimState, field: str, operator: str, value: Any) -> Test:
    def stamp(p: Product) -> datetime:
        return whole_second(p.created if field == "created" else p.updated)

    if operator == "SINCE LAST N DAYS" and isinstance(value, int) and not isinstance(value, bool):
        since = whole_second(state.clock() - timedelta(days=value))
        return lambda p: stamp(p) >= since
    if operator in ("BETWEEN", "NOT BETWEEN") and isinstance(value, list) and len(value) == 2:
        low, high = _moment(field, value[0]), _moment(field, value[1])
        inside = operator == "BETWEEN"
        return lambda p: (low <= stamp(p) <= high) is inside
    if operator in (">", "<"):
        moment = _moment(field, value)
        if operator == ">":
            return lambda p: stamp(p) > moment
        return lambda p: stamp(p) < moment
    raise _unsupported(field, operator)


def _moment(field: str, value: Any) -> datetime:
    try:
        return datetime.strptime(str(value), DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ApiError(
            422,
            f'Property "{field}" expects a string with the format "yyyy-mm-dd H:i:s" as data, '
            f'"{value}" given.',
        ) from exc


def _collection_condition(field: str, operator: str, value: Any, condition: dict[str, Any]) -> Test:
    locale, scope = condition.get("locale"), condition.get("scope")

    def codes(p: Product) -> set[str]:
        return {
            code
            for item in p.body.get("values", {}).get(field, [])
            if (locale is None or item["locale"] == locale)
            and (scope is None or item["scope"] == scope)
            for code in item["data"]
        }

    if operator in ("EMPTY", "NOT EMPTY"):
        empty = operator == "EMPTY"
        return lambda p: (not codes(p)) is empty
    if operator in ("IN", "NOT IN") and _strings(value):
        wanted, inside = set(value), operator == "IN"
        return lambda p: bool(codes(p) & wanted) is inside
    raise _unsupported(field, operator)
