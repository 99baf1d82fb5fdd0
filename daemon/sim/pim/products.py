"""
Products and product models in the PIM simulator.

Just enough catalog to hold ``pim_catalog_asset_collection`` values: single and NDJSON bulk
PATCH (per-line results, ``line`` numbers, 100-line and 1,000,000-character limits), asset codes
checked against the family, lists with ``page`` or ``search_after`` pagination.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.catalog_routes import offset_page, search_after_page
from daemon.sim.pim.families import state_of
from daemon.sim.pim.http_errors import (
    API,
    BAD_JSON,
    NDJSON_TYPE,
    TOO_MANY,
    ApiError,
    base_url,
    compact,
    json_kind,
    json_object,
    require_content_type,
    upserted,
)
from daemon.sim.pim.state import PimState, Product, iso

MAX_LINES = 100
MAX_LINE_CHARS = 1_000_000
PRODUCT_KEYS = frozenset(
    {
        "identifier",
        "uuid",
        "enabled",
        "family",
        "categories",
        "groups",
        "parent",
        "values",
        "associations",
        "quantified_associations",
        "created",
        "updated",
        "_links",
        "metadata",
    }
)
MODEL_KEYS = frozenset(
    {
        "code",
        "family",
        "family_variant",
        "parent",
        "categories",
        "values",
        "associations",
        "quantified_associations",
        "created",
        "updated",
        "_links",
        "metadata",
    }
)


@dataclass(frozen=True, slots=True)
class Kind:
    """One product-like resource: its path, key property and storage."""

    path: str
    key: str
    missing: str
    allowed: frozenset[str]
    store: Callable[[PimState], dict[str, Product]]


PRODUCTS = Kind(
    "products", "identifier", "Identifier is missing.", PRODUCT_KEYS, lambda s: s.products
)
PRODUCTS_UUID = Kind(
    "products-uuid", "uuid", "Uuid is missing.", PRODUCT_KEYS, lambda s: s.products
)
MODELS = Kind("product-models", "code", "Code is missing.", MODEL_KEYS, lambda s: s.product_models)


def _find(kind: Kind, state: PimState, key: str) -> Product | None:
    store = kind.store(state)
    if kind.key == "identifier":
        # Products are stored by uuid; identifiers are looked up (demo scale).
        return next((p for p in store.values() if p.key == key), None)
    return store.get(key)


def upsert_product(state: PimState, kind: Kind, key: str, body: dict[str, Any]) -> bool:
    """
    Validate and write one product or product model.

    Args:
        state: the PIM.
        kind: which resource.
        key: the identifier, uuid or code.
        body: the decoded object.

    Returns:
        True when it was created.
    """
    for name in body:
        if name not in kind.allowed:
            raise ApiError(422, f'Property "{name}" does not exist.')
    values = body.get("values", {})
    if not isinstance(values, dict):
        raise ApiError(
            422, f'Property "values" expects an array as data, "{json_kind(values)}" given.'
        )
    errors = [e for attr, items in values.items() for e in _check_value(state, attr, items)]
    if errors:
        raise ApiError(422, "Validation failed.", errors)
    existing = _find(kind, state, key)
    now = state.clock()
    fields = {k: v for k, v in body.items() if k not in ("values", "_links", "created", "updated")}
    if existing is None:
        if kind is MODELS:
            product_uuid, store_key = None, key
        else:
            product_uuid = key if kind.key == "uuid" else str(body.get("uuid") or uuid.uuid4())
            store_key = product_uuid
        name = key if kind.key != "uuid" else str(body.get("identifier") or "")
        record = Product(key=name, uuid=product_uuid, body=fields, created=now, updated=now)
        record.body["values"] = _merge({}, values)
        kind.store(state)[store_key] = record
        return True
    merged = {**existing.body, **fields, "values": _merge(existing.body["values"], values)}
    if merged != existing.body:
        existing.body = merged
        existing.updated = now
    return False


def _merge(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = {attr: list(items) for attr, items in old.items()}
    for attr, items in patch.items():
        current = merged.setdefault(attr, [])
        for item in items:
            key = (item["locale"], item["scope"])
            current[:] = [v for v in current if (v["locale"], v["scope"]) != key]
            if item["data"] is not None:
                current.append(dict(item))
        if not current:
            del merged[attr]
    return merged


def _check_value(state: PimState, attr: str, items: Any) -> list[dict[str, Any]]:
    def err(message: str, locale: Any = None, scope: Any = None) -> dict[str, Any]:
        return {
            "property": "values",
            "message": message,
            "attribute": attr,
            "locale": locale,
            "scope": scope,
        }

    definition = state.product_attributes.get(attr)
    if definition is None:
        return [err(f'The "{attr}" attribute does not exist.')]
    if not isinstance(items, list):
        return [err(f'Property "{attr}" expects an array of values.')]
    errors: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or not {"locale", "scope", "data"} <= set(item):
            errors.append(err('Each value needs the keys "locale", "scope" and "data".'))
            continue
        if definition.get("type") != "pim_catalog_asset_collection" or item["data"] is None:
            continue
        locale, scope, data = item["locale"], item["scope"], item["data"]
        family = state.families.get(str(definition.get("reference_data_name")))
        if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
            errors.append(
                err("An asset collection value must be an array of asset codes.", locale, scope)
            )
        elif family is None:
            errors.append(
                err(
                    f'The asset family "{definition.get("reference_data_name")}" does not exist.',
                    locale,
                    scope,
                )
            )
        else:
            missing = [c for c in data if c not in family.assets]
            if missing:
                errors.append(
                    err(
                        f"The asset codes {', '.join(missing)} do not exist in the "
                        f'"{family.code}" asset family.',
                        locale,
                        scope,
                    )
                )
    return errors


def render_product(request: Request, kind: Kind, product: Product) -> dict[str, Any]:
    """
    A product or product model as the API returns it.

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


def patch_one(kind: Kind) -> Callable[[Request], Any]:
    """
    Build the single-resource PATCH route of ``kind``.

    Args:
        kind: which resource.

    Returns:
        The Starlette endpoint.
    """

    async def endpoint(request: Request) -> Response:
        key = request.path_params["key"]
        body = await json_object(request, kind.path.rstrip("s").replace("-uuid", ""))
        if kind.key in body and body[kind.key] != key:
            raise ApiError(
                422,
                f"The {kind.key} of the resource provided in the URI must be the "
                "same as the one provided in the request body.",
            )
        created = upsert_product(state_of(request), kind, key, {**body, kind.key: key})
        return upserted(created, f"{base_url(request)}{API}/{kind.path}/{key}")

    return endpoint


def patch_many(kind: Kind) -> Callable[[Request], Any]:
    """
    Build the NDJSON bulk PATCH route of ``kind``.

    Args:
        kind: which resource.

    Returns:
        The Starlette endpoint.
    """

    async def endpoint(request: Request) -> Response:
        require_content_type(request, NDJSON_TYPE)
        text = (await request.body()).decode("utf-8", errors="replace")
        lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        if len(lines) > MAX_LINES:
            raise ApiError(413, TOO_MANY)
        state = state_of(request)
        out = [compact(_one_line(state, kind, n, line)) for n, line in lines]
        return Response("\n".join(out), media_type=NDJSON_TYPE)

    return endpoint


def _one_line(state: PimState, kind: Kind, number: int, line: str) -> dict[str, Any]:
    if len(line) > MAX_LINE_CHARS:
        return {"line": number, "status_code": 413, "message": "Line is too long."}
    try:
        body = json.loads(line)
    except ValueError:
        return {"line": number, "status_code": 400, "message": BAD_JSON}
    if not isinstance(body, dict):
        return {"line": number, "status_code": 400, "message": BAD_JSON}
    key = body.get(kind.key)
    if not isinstance(key, str) or not key:
        return {"line": number, "status_code": 422, "message": kind.missing}
    result: dict[str, Any] = {"line": number, kind.key: key}
    try:
        result["status_code"] = 201 if upsert_product(state, kind, key, body) else 204
    except ApiError as exc:
        result.update(status_code=exc.status, message=exc.message)
        if exc.errors:
            result["errors"] = exc.errors
    return result


def list_many(kind: Kind) -> Callable[[Request], Any]:
    """
    Build the GET list route of ``kind`` (``page`` or ``search_after`` pagination).

    Args:
        kind: which resource.

    Returns:
        The Starlette endpoint.
    """

    async def endpoint(request: Request) -> Response:
        store = kind.store(state_of(request))
        records = sorted(
            store.values(), key=lambda p: (p.uuid or "") if kind.key == "uuid" else p.key
        )
        items = [render_product(request, kind, p) for p in records]
        if request.query_params.get("pagination_type") == "search_after":
            return search_after_page(request, items, kind.key, f"/{kind.path}")
        return offset_page(request, items, f"/{kind.path}")

    return endpoint


async def get_one(request: Request) -> Response:
    """``GET /products/{identifier}`` and friends (kind chosen from the path)."""
    path = request.url.path.removeprefix(f"{API}/").split("/", 1)[0]
    kind = {"products": PRODUCTS, "products-uuid": PRODUCTS_UUID, "product-models": MODELS}[path]
    key = request.path_params["key"]
    found = _find(kind, state_of(request), key)
    if found is None:
        raise ApiError(404, f'Resource "{key}" does not exist.')
    return JSONResponse(render_product(request, kind, found))
