"""
Asset family attributes and their options in the PIM simulator: validation and routes.

Type-specific attribute properties with ``additionalProperties: false`` (422 "The attribute has
an invalid format."), immutable ``type``/``value_per_locale``/``value_per_channel``, reserved
codes, the (sic) code-mismatch message, and the 100 attributes / 100 options limits.

The API has no DELETE for attributes or options; :func:`delete_attribute` and
:func:`delete_option` do what the PIM's UI does, so tests can change the structure behind a
client's back (a type change is a deletion, then a new attribute with the same code).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.families import check_labels, family_of, family_url, merge_labels
from daemon.sim.pim.http_errors import ApiError, json_kind, json_object, upserted
from daemon.sim.pim.state import (
    MAX_ATTRIBUTES,
    MAX_OPTIONS,
    MEDIA_TYPES,
    OPTION_TYPES,
    Family,
    new_attribute,
)
from daemon.sim.pim.validation import check_code, error

COMMON_ATTRIBUTE_KEYS = frozenset(
    {
        "code",
        "labels",
        "type",
        "value_per_locale",
        "value_per_channel",
        "is_required_for_completeness",
        "is_read_only",
        "_links",
    }
)
TYPE_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset(
        {
            "max_characters",
            "is_textarea",
            "is_rich_text_editor",
            "validation_rule",
            "validation_regexp",
        }
    ),
    "media_file": frozenset({"media_type", "allowed_extensions", "max_file_size"}),
    "media_link": frozenset({"media_type", "prefix", "suffix"}),
    "number": frozenset({"decimals_allowed", "min_value", "max_value"}),
    "single_option": frozenset(),
    "multiple_options": frozenset(),
    "boolean": frozenset(),
    "date": frozenset(),
    "record": frozenset({"reference_entity"}),
}
IMMUTABLE = ("type", "value_per_locale", "value_per_channel")
RESERVED = ("code", "label", "image")
MEDIA_KINDS = ("image", "pdf", "youtube", "vimeo", "other")
BOOL_KEYS = (
    "value_per_locale",
    "value_per_channel",
    "is_required_for_completeness",
    "is_read_only",
    "is_textarea",
    "is_rich_text_editor",
    "decimals_allowed",
    "sharing_enabled",
)
ATTRIBUTE_FORMAT = "The attribute has an invalid format."
ATTRIBUTE_RULES = "The attribute has data that does not comply with the business rules."
OPTION_FORMAT = "The attribute option has an invalid format."
OPTION_RULES = "The attribute option has data that does not comply with the business rules."


def attribute_json(request: Request, family: Family, code: str) -> dict[str, Any]:
    """
    An attribute as the API returns it, with ``_links.self``.

    Args:
        request: the request.
        family: its family.
        code: the attribute code.

    Returns:
        The attribute JSON.
    """
    href = f"{family_url(request, family.code)}/attributes/{code}"
    return {"_links": {"self": {"href": href}}, **family.attributes[code]}


def attribute_of(request: Request, family: Family) -> dict[str, Any]:
    """
    The attribute named by the path, or the documented 404.

    Args:
        request: the request.
        family: its family.

    Returns:
        The stored attribute.
    """
    code = request.path_params["attribute"]
    found = family.attributes.get(code)
    if found is None:
        raise ApiError(404, f'Attribute "{code}" does not exist for asset family "{family.code}".')
    return found


async def list_attributes(request: Request) -> Response:
    """``GET /asset-families/{family}/attributes``: a plain array."""
    family = family_of(request)
    return JSONResponse([attribute_json(request, family, c) for c in family.attributes])


async def get_attribute(request: Request) -> Response:
    """``GET /asset-families/{family}/attributes/{attribute}``."""
    family = family_of(request)
    return JSONResponse(attribute_json(request, family, attribute_of(request, family)["code"]))


async def patch_attribute(request: Request) -> Response:
    """``PATCH /asset-families/{family}/attributes/{attribute}``: upsert."""
    family = family_of(request)
    code = request.path_params["attribute"]
    body = await json_object(request, "attribute")
    if "code" in body and body["code"] != code:
        # (sic) the server really names the asset family here.
        raise ApiError(
            422,
            "The code of the asset family provided in the URI must be the same "
            "as the one provided in the request body.",
        )
    check_code(code, "Attribute")
    existing = family.attributes.get(code)
    kind = body.get("type", existing["type"] if existing else None)
    check_attribute_format(body, kind)
    rules = attribute_rule_errors(family, code, body, existing)
    if rules:
        raise ApiError(422, ATTRIBUTE_RULES, rules)
    if existing is None:
        family.attributes[code] = new_attribute(code, body)
        if kind in OPTION_TYPES:
            family.options[code] = {}
        if kind in MEDIA_TYPES and family.attribute_as_main_media is None:
            family.attribute_as_main_media = code
    else:
        merge_labels(existing["labels"], body.get("labels", {}))
        for key, value in body.items():
            if key not in ("labels", "_links", "code"):
                existing[key] = value
    return upserted(existing is None, f"{family_url(request, family.code)}/attributes/{code}")


def check_attribute_format(body: dict[str, Any], kind: Any) -> None:
    errors: list[dict[str, str]] = []
    if kind is None:
        errors.append(error("type", "The property type is required"))
    elif kind not in TYPE_KEYS:
        errors.append(
            error(
                "type",
                f'The attribute type "{kind}" does not exist or cannot be '
                f"created through the API. Allowed: {', '.join(TYPE_KEYS)}.",
            )
        )
    allowed = COMMON_ATTRIBUTE_KEYS | TYPE_KEYS.get(str(kind), frozenset())
    errors.extend(
        error(
            k,
            f"The property {k} is not defined and the definition does not allow "
            "additional properties",
        )
        for k in body
        if k not in allowed
    )
    check_labels(body, errors)
    for key in BOOL_KEYS:
        if key in body and not isinstance(body[key], bool):
            errors.append(
                error(key, f"{json_kind(body[key])} value found, but a boolean is required")
            )
    checks: dict[str, tuple[tuple[type, ...], str]] = {
        "max_characters": ((int, str, type(None)), "an integer or a null"),
        "validation_rule": ((str, type(None)), "a string"),
        "validation_regexp": ((str, type(None)), "a string or a null"),
        "media_type": ((str,), "a string"),
        "allowed_extensions": ((list,), "an array"),
        "max_file_size": ((str, int, float, type(None)), "a string or a null"),
        "prefix": ((str, type(None)), "a string or a null"),
        "suffix": ((str, type(None)), "a string or a null"),
        "min_value": ((str, int, float, type(None)), "a string or a null"),
        "max_value": ((str, int, float, type(None)), "a string or a null"),
        "reference_entity": ((str,), "a string"),
    }
    for key, (kinds, wanted) in checks.items():
        value = body.get(key)
        if key in body and (not isinstance(value, kinds) or isinstance(value, bool)):
            errors.append(error(key, f"{json_kind(value)} value found, but {wanted} is required"))
    if errors:
        raise ApiError(422, ATTRIBUTE_FORMAT, errors)


def attribute_rule_errors(
    family: Family, code: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if existing is not None:
        errors.extend(
            error(k, f'The property "{k}" cannot be changed once the attribute is created.')
            for k in IMMUTABLE
            if k in body and body[k] != existing[k]
        )
        merged = {**existing, **body}
    else:
        if code.lower() in RESERVED:
            errors.append(
                error("code", f"The code cannot be any of the following: {', '.join(RESERVED)}")
            )
        if len(family.attributes) >= MAX_ATTRIBUTES:
            errors.append(
                error(
                    "code",
                    f"You cannot create more than {MAX_ATTRIBUTES} attributes for an asset family",
                )
            )
        if body["type"] in MEDIA_TYPES and "media_type" not in body:
            errors.append(error("media_type", "The property media_type is required"))
        merged = dict(body)
    if "media_type" in body and body["media_type"] not in MEDIA_KINDS:
        errors.append(
            error("media_type", f"The media type must be one of: {', '.join(MEDIA_KINDS)}")
        )
    rule = merged.get("validation_rule")
    if rule not in (None, "none", "email", "url", "regexp"):
        errors.append(
            error("validation_rule", "The validation rule must be one of: none, email, url, regexp")
        )
    if rule == "regexp" and not merged.get("validation_regexp"):
        errors.append(
            error(
                "validation_regexp",
                "A regular expression is required when the validation rule is regexp",
            )
        )
    low, high = merged.get("min_value"), merged.get("max_value")
    try:
        if low not in (None, "") and high not in (None, "") and float(low) >= float(high):
            errors.append(error("min_value", "The min value must be lower than the max value"))
    except (TypeError, ValueError):
        errors.append(error("min_value", "The min and max values must be numbers"))
    return errors


async def list_options(request: Request) -> Response:
    """``GET .../attributes/{attribute}/options``: a plain array."""
    family, attribute = _option_attribute(request)
    return JSONResponse(list(family.options[attribute].values()))


async def get_option(request: Request) -> Response:
    """``GET .../attributes/{attribute}/options/{code}``."""
    family, attribute = _option_attribute(request)
    code = request.path_params["code"]
    found = family.options[attribute].get(code)
    if found is None:
        raise ApiError(
            404, f'Attribute option "{code}" does not exist for attribute "{attribute}".'
        )
    return JSONResponse(found)


async def patch_option(request: Request) -> Response:
    """``PATCH .../attributes/{attribute}/options/{code}``: upsert."""
    family, attribute = _option_attribute(request)
    code = request.path_params["code"]
    body = await json_object(request, "attribute option")
    if "code" in body and body["code"] != code:
        raise ApiError(
            422,
            "The code of the attribute option provided in the URI must be the "
            "same as the one provided in the request body.",
        )
    check_code(code, "Option")
    errors = [
        error(
            k,
            f"The property {k} is not defined and the definition does not allow "
            "additional properties",
        )
        for k in body
        if k not in ("code", "labels", "_links")
    ]
    check_labels(body, errors)
    if errors:
        raise ApiError(422, OPTION_FORMAT, errors)
    options = family.options[attribute]
    existing = options.get(code)
    if existing is None:
        if len(options) >= MAX_OPTIONS:
            raise ApiError(
                422,
                OPTION_RULES,
                [
                    error(
                        "code",
                        f"You cannot create more than "
                        f'{MAX_OPTIONS} options for the attribute "{attribute}"',
                    )
                ],
            )
        existing = options[code] = {"code": code, "labels": {}}
        created = True
    else:
        created = False
    merge_labels(existing["labels"], body.get("labels", {}))
    url = f"{family_url(request, family.code)}/attributes/{attribute}/options/{code}"
    return upserted(created, url)


def delete_attribute(family: Family, code: str) -> None:
    """
    Delete an attribute as the PIM's UI does: its options and every asset's values of it go.

    Args:
        family: the attribute's family.
        code: the attribute code (``KeyError`` when the family has none).
    """
    del family.attributes[code]
    family.options.pop(code, None)
    for asset in family.assets.values():
        asset.values.pop(code, None)
    if family.attribute_as_main_media == code:
        # [unsure] whether the UI lets the main media go; the family is then without one.
        family.attribute_as_main_media = None


def delete_option(family: Family, attribute: str, code: str) -> None:
    """
    Delete an option as the PIM's UI does: the assets' values lose that option code.

    Args:
        family: the attribute's family.
        attribute: the option attribute.
        code: the option code (``KeyError`` when the attribute has none).
    """
    del family.options[attribute][code]
    for asset in family.assets.values():
        kept = []
        for value in asset.values.get(attribute, []):
            data = value["data"]
            if isinstance(data, list) and code in data:
                value = {**value, "data": [c for c in data if c != code]}
            if value["data"] not in (code, []):
                kept.append(value)
        if kept:
            asset.values[attribute] = kept
        else:
            asset.values.pop(attribute, None)


def _option_attribute(request: Request) -> tuple[Family, str]:
    family = family_of(request)
    attribute = attribute_of(request, family)
    if attribute["type"] not in OPTION_TYPES:
        raise ApiError(404, f'Attribute "{attribute["code"]}" does not support options.')
    return family, attribute["code"]
