"""
Products and product models in the PIM simulator.

Writes: single and NDJSON bulk PATCH (per-line results, ``line`` numbers, 100-line and
1,000,000-character limits), the whole product shape with merge-patch rules
(:mod:`product_shape`), values placed by locale/scope, asset-collection ``data`` replaced whole
and checked against the family named by ``reference_data_name``. Reads are in
:mod:`product_reads`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from daemon.sim.pim.families import state_of
from daemon.sim.pim.http_errors import (
    API,
    BAD_JSON,
    NDJSON_TYPE,
    TOO_MANY,
    ApiError,
    base_url,
    compact,
    json_object,
    require_content_type,
    upserted,
)
from daemon.sim.pim.product_shape import (
    check_properties,
    merge_properties,
    new_properties,
    php_type,
)
from daemon.sim.pim.state import PimState, Product

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


def find_product(kind: Kind, state: PimState, key: str) -> Product | None:
    """
    Find a stored product (by identifier or uuid) or product model (by code).

    Args:
        kind: which resource and key.
        state: the PIM.
        key: the identifier, uuid or code.

    Returns:
        The record, or None.
    """
    store = kind.store(state)
    if kind.key == "identifier":
        # Products are stored by uuid; identifiers are looked up (demo scale).
        return next((p for p in store.values() if p.key == key), None)
    return store.get(key)


def upsert_product(state: PimState, kind: Kind, key: str, body: dict[str, Any]) -> bool:
    """
    Validate and write one product or product model (merge-patch rules, whole shape).

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
    check_properties(body)
    values = body.get("values", {})
    if not isinstance(values, dict):
        raise ApiError(
            422, f'Property "values" expects an array as data, "{php_type(values)}" given.'
        )
    errors = [e for attr, items in values.items() for e in _check_value(state, attr, items)]
    if errors:
        raise ApiError(422, "Validation failed.", errors)
    existing = find_product(kind, state, key)
    fields = {k: v for k, v in body.items() if k not in ("identifier", "uuid", "code")}
    if existing is None:
        if kind is MODELS:
            product_uuid, store_key = None, key
        else:
            product_uuid = key if kind.key == "uuid" else str(body.get("uuid") or uuid.uuid4())
            store_key = product_uuid
        name = key if kind.key != "uuid" else str(body.get("identifier") or "")
        if kind is not MODELS and name and find_product(PRODUCTS, state, name) is not None:
            raise ApiError(422, "Validation failed.", [_same_identifier(name)])
        properties = merge_properties(new_properties(kind is MODELS), fields)
        properties["values"] = merge_values({}, values)
        now = state.clock()
        record = Product(key=name, uuid=product_uuid, body=properties, created=now, updated=now)
        kind.store(state)[store_key] = record
        return True
    if kind.key == "uuid" and "identifier" in body and body["identifier"] != existing.key:
        other = find_product(PRODUCTS, state, str(body["identifier"] or ""))
        if other is not None and other is not existing:
            raise ApiError(422, "Validation failed.", [_same_identifier(str(body["identifier"]))])
        existing.key = str(body["identifier"] or "")
        existing.updated = state.clock()
    merged = merge_properties(existing.body, fields)
    merged["values"] = merge_values(existing.body["values"], values)
    write_product(state, existing, merged)
    return False


def write_product(state: PimState, product: Product, body: dict[str, Any]) -> bool:
    """
    Store a product's new properties and values; ``updated`` moves only when they changed.

    Args:
        state: the PIM (its clock).
        product: the stored record.
        body: the new properties with ``values``.

    Returns:
        True when something changed.
    """
    if body == product.body:
        return False
    product.body = body
    product.updated = state.clock()
    return True


def _same_identifier(identifier: str) -> dict[str, Any]:
    return {
        "property": "identifier",
        "message": "The same identifier is already set on another product",
        "attribute": "sku",
        "locale": None,
        "scope": None,
    }


def merge_values(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """
    Merge product values per attribute+locale+scope; a sent ``data`` array replaces the old one.

    Args:
        old: the stored values.
        patch: checked values (``data: null`` erases that one value).

    Returns:
        The new values; ``old`` is not changed.
    """
    merged = {attr: [dict(v) for v in items] for attr, items in old.items()}
    for attr, items in patch.items():
        current = merged.setdefault(attr, [])
        for item in items:
            key = (item["locale"], item["scope"])
            current[:] = [v for v in current if (v["locale"], v["scope"]) != key]
            if item["data"] is not None:
                # Read-only extras (linked_data, attribute_type, ...) are not stored.
                current.append(
                    {"locale": item["locale"], "scope": item["scope"], "data": item["data"]}
                )
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
        locale, scope, data = item["locale"], item["scope"], item["data"]
        wrong_place = _place_error(state, definition, locale, scope)
        if wrong_place:
            errors.append(err(wrong_place, locale, scope))
            continue
        if definition.get("type") != "pim_catalog_asset_collection" or data is None:
            continue
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


def _place_error(state: PimState, definition: dict[str, Any], locale: Any, scope: Any) -> str:
    code = definition["code"]
    if definition.get("localizable"):
        if locale is None:
            return f'Attribute "{code}" expects a locale, none given.'
        if locale not in state.active_locales():
            return f'Attribute "{code}" expects an existing and activated locale, "{locale}" given.'
    elif locale is not None:
        return f'Attribute "{code}" does not expect a locale, "{locale}" given.'
    if definition.get("scopable"):
        if scope is None:
            return f'Attribute "{code}" expects a scope, none given.'
        if state.channel(str(scope)) is None:
            return f'Attribute "{code}" expects an existing scope, "{scope}" given.'
    elif scope is not None:
        return f'Attribute "{code}" does not expect a scope, "{scope}" given.'
    return ""


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
