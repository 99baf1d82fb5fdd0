"""
The whole shape of a product or product model in the PIM simulator, and its PATCH semantics.

A product reads back with ``uuid``, ``identifier``, ``enabled``, ``family``, ``categories``,
``groups``, ``parent``, ``values``, ``created``, ``updated``, ``associations`` and
``quantified_associations``; a product model with ``code``, ``family``, ``family_variant``,
``parent``, ``categories``, ``values``, ``created``, ``updated``, ``associations`` and
``quantified_associations`` (Akeneo's standard format). PATCH follows the reference's
merge-patch rules: objects (``associations``, ``quantified_associations``) are merged, scalars
and arrays (``categories``, an asset collection's ``data``) are replaced, a type mismatch is a
422 that changes nothing, and properties not sent are left alone.
"""

from __future__ import annotations

import copy
from typing import Any

from daemon.sim.pim.http_errors import ApiError

READ_ONLY = frozenset({"_links", "created", "updated", "metadata"})
PRODUCT_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "family": None,
    "categories": [],
    "groups": [],
    "parent": None,
    "associations": {},
    "quantified_associations": {},
}
MODEL_DEFAULTS: dict[str, Any] = {
    "family": None,
    "family_variant": None,
    "parent": None,
    "categories": [],
    "associations": {},
    "quantified_associations": {},
}
# JSON type each property must have: "bool", "scalar" (string or null), "strings", "object".
PROPERTY_TYPES = {
    "enabled": "bool",
    "family": "scalar",
    "family_variant": "scalar",
    "parent": "scalar",
    "identifier": "scalar",
    "categories": "strings",
    "groups": "strings",
    "associations": "object",
    "quantified_associations": "object",
}
ASSOCIATION_LISTS = ("groups", "products", "product_models")
QUANTIFIED_LISTS = ("products", "product_models")


def php_type(value: Any) -> str:
    """
    Name a decoded JSON value's type as PHP's ``gettype`` does in Akeneo's messages.

    Args:
        value: a decoded JSON value.

    Returns:
        ``string``, ``integer``, ``double``, ``boolean``, ``array`` or ``NULL``.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    return "array"


def check_properties(body: dict[str, Any]) -> None:
    """
    Refuse a top-level property of the wrong JSON type (422, nothing changes).

    Args:
        body: the decoded product or product model (unknown keys already refused).
    """
    for name, kind in PROPERTY_TYPES.items():
        if name not in body:
            continue
        value = body[name]
        if kind == "bool" and not isinstance(value, bool):
            raise ApiError(
                422, f'Property "{name}" expects a boolean as data, "{php_type(value)}" given.'
            )
        if kind == "scalar" and value is not None and not isinstance(value, str):
            raise ApiError(
                422, f'Property "{name}" expects a scalar as data, "{php_type(value)}" given.'
            )
        if kind == "strings" and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise ApiError(
                422, f'Property "{name}" expects an array as data, "{php_type(value)}" given.'
            )
        if kind == "object":
            _check_associations(name, value)


def _check_associations(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ApiError(
            422, f'Property "{name}" expects an array as data, "{php_type(value)}" given.'
        )
    lists = QUANTIFIED_LISTS if name == "quantified_associations" else ASSOCIATION_LISTS
    for association, links in value.items():
        if not isinstance(links, dict):
            raise ApiError(
                422,
                f'Property "{name}" expects an array as data, "{php_type(links)}" given.',
            )
        for key, items in links.items():
            if key not in lists:
                raise ApiError(
                    422,
                    f'Property "{name}" expects a valid association format, '
                    f'"{association}.{key}" given.',
                )
            if name == "associations":
                ok = isinstance(items, list) and all(isinstance(i, str) for i in items)
            else:
                ok = isinstance(items, list) and all(_quantified(i) for i in items)
            if not ok:
                raise ApiError(
                    422,
                    f'Property "{name}" expects an array of valid links, "{association}.{key}" '
                    "given.",
                )


def _quantified(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) == {"identifier", "quantity"}
        and isinstance(item["identifier"], str)
        and isinstance(item["quantity"], int)
        and not isinstance(item["quantity"], bool)
        and item["quantity"] > 0
    )


def merge_properties(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """
    Apply a PATCH's top-level properties (not ``values``) with merge-patch rules.

    Args:
        old: the stored properties.
        patch: the checked PATCH body.

    Returns:
        The new properties; ``old`` is not changed.
    """
    merged = copy.deepcopy(old)
    for name, value in patch.items():
        if name in READ_ONLY or name == "values":
            continue
        if name in ("associations", "quantified_associations"):
            target = merged.setdefault(name, {})
            for association, links in value.items():
                target.setdefault(association, {}).update(copy.deepcopy(links))
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def new_properties(is_model: bool) -> dict[str, Any]:
    """
    The properties a new product (or product model) has before its first PATCH is applied.

    Args:
        is_model: True for a product model.

    Returns:
        A fresh copy of the defaults.
    """
    return copy.deepcopy(MODEL_DEFAULTS if is_model else PRODUCT_DEFAULTS)
