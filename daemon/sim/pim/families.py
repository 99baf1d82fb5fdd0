"""
Asset families in the PIM simulator: list, get and upsert, plus helpers shared by the routes.

Upserts follow the reference: 201/204 with ``Location``, body code equal to the URL code,
``labels`` merged, ``attribute_as_main_media`` naming a media attribute, rule/transform limits.
The API cannot delete a family; :func:`delete_family` does what the PIM's UI does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.sim.pim.family_structure_checks import (
    link_rule_errors,
    naming_convention_errors,
    transformation_errors,
)
from daemon.sim.pim.http_errors import API, ApiError, base_url, json_kind, json_object, upserted
from daemon.sim.pim.state import MAX_FAMILIES, MEDIA_TYPES, Family, PimState
from daemon.sim.pim.validation import check_code, error

# The connector's source sets 200 families per page [src, unsure for SaaS]; with the limit of
# 100 families a PIM fits on one page, so ``next`` never appears in practice.
FAMILY_PAGE_SIZE = 200
FAMILY_KEYS = frozenset(
    {
        "code",
        "labels",
        "attribute_as_main_media",
        "naming_convention",
        "product_link_rules",
        "transformations",
        "sharing_enabled",
        "_links",
    }
)
FAMILY_FORMAT = "The asset family has an invalid format."
FAMILY_RULES = "The asset family has data that does not comply with the business rules."


def state_of(request: Request) -> PimState:
    """
    The simulator state behind a request.

    Args:
        request: the request.

    Returns:
        The app's :class:`PimState`.
    """
    state: PimState = request.app.state.pim
    return state


def family_of(request: Request, key: str = "family") -> Family:
    """
    The family named by a path parameter, or the documented 404.

    Args:
        request: the request.
        key: the path parameter name.

    Returns:
        The family.
    """
    code = request.path_params[key]
    family = state_of(request).families.get(code)
    if family is None:
        raise ApiError(404, f'Asset family "{code}" does not exist.')
    return family


def delete_family(state: PimState, code: str) -> None:
    """
    Delete a family as the PIM's UI does, with its attributes, options and assets.

    Args:
        state: the PIM.
        code: the family code (``KeyError`` when there is none).
    """
    del state.families[code]


def family_url(request: Request, code: str) -> str:
    """
    Absolute URL of a family.

    Args:
        request: the request.
        code: the family code.

    Returns:
        The URL.
    """
    return f"{base_url(request)}{API}/asset-families/{code}"


def check_labels(body: dict[str, Any], errors: list[dict[str, str]]) -> None:
    labels = body.get("labels", {})
    if not isinstance(labels, dict):
        errors.append(
            error("labels", f"{json_kind(labels)} value found, but an object is required")
        )
        return
    for locale, label in labels.items():
        if label is not None and not isinstance(label, str):
            errors.append(
                error(
                    f"labels.{locale}",
                    f"{json_kind(label)} value found, but a string or a null is required",
                )
            )


def merge_labels(target: dict[str, str], labels: dict[str, Any]) -> bool:
    before = dict(target)
    for locale, label in labels.items():
        if label in (None, ""):
            target.pop(locale, None)
        else:
            target[locale] = label
    return before != target


async def list_families(request: Request) -> Response:
    """``GET /asset-families``: search_after pagination over family codes."""
    state = state_of(request)
    after = request.query_params.get("search_after")
    codes = sorted(c for c in state.families if after is None or c > after)[:FAMILY_PAGE_SIZE]
    url = f"{base_url(request)}{API}/asset-families"
    links: dict[str, Any] = {
        "self": {"href": url + (f"?{urlencode({'search_after': after})}" if after else "")},
        "first": {"href": url},
    }
    if len(codes) == FAMILY_PAGE_SIZE:
        links["next"] = {"href": f"{url}?{urlencode({'search_after': codes[-1]})}"}
    items = [
        {"_links": {"self": {"href": f"{url}/{c}"}}, **state.families[c].to_json()} for c in codes
    ]
    return JSONResponse({"_links": links, "_embedded": {"items": items}})


async def get_family(request: Request) -> Response:
    """``GET /asset-families/{code}``."""
    return JSONResponse(family_of(request, "code").to_json())


async def patch_family(request: Request) -> Response:
    """``PATCH /asset-families/{code}``: upsert."""
    state = state_of(request)
    code = request.path_params["code"]
    body = await json_object(request, "asset family")
    if "code" in body and body["code"] != code:
        raise ApiError(
            422,
            "The code of the asset family provided in the URI must be the same "
            "as the one provided in the request body.",
        )
    check_code(code, "Asset family")
    errors = [
        error(
            k,
            f"The property {k} is not defined and the definition does not allow "
            "additional properties",
        )
        for k in body
        if k not in FAMILY_KEYS
    ]
    check_labels(body, errors)
    for key, kind, name in (
        ("naming_convention", dict, "an object"),
        ("product_link_rules", list, "an array"),
        ("transformations", list, "an array"),
    ):
        if key in body and not isinstance(body[key], kind):
            errors.append(error(key, f"{json_kind(body[key])} value found, but {name} is required"))
    main = body.get("attribute_as_main_media")
    if main is not None and not isinstance(main, str):
        errors.append(
            error(
                "attribute_as_main_media",
                f"{json_kind(main)} value found, but a string is required",
            )
        )
    if "sharing_enabled" in body and not isinstance(body["sharing_enabled"], bool):
        errors.append(error("sharing_enabled", "The value must be a boolean"))
    if errors:
        raise ApiError(422, FAMILY_FORMAT, errors)
    family = state.families.get(code)
    created = family is None
    if family is None:
        if len(state.families) >= MAX_FAMILIES:
            raise ApiError(
                422,
                FAMILY_RULES,
                [
                    error(
                        "code",
                        f"You cannot create the asset family "
                        f'"{code}" because you have reached the limit of {MAX_FAMILIES} asset '
                        "families",
                    )
                ],
            )
        family = Family(code=code)
    check_family_rules(family, body)
    merge_labels(family.labels, body.get("labels", {}))
    for key in ("naming_convention", "product_link_rules", "transformations", "sharing_enabled"):
        if key in body:
            setattr(family, key, body[key])
    if "attribute_as_main_media" in body:
        family.attribute_as_main_media = main
    state.families[code] = family
    return upserted(created, family_url(request, code))


def check_family_rules(family: Family, body: dict[str, Any]) -> None:
    """
    Refuse a family PATCH whose main media, naming convention, rules or transformations break
    the reference's business rules (one 422 listing every error).

    Args:
        family: the family as stored (attributes included), or a new empty one.
        body: the PATCH body, already checked for JSON types.
    """
    errors: list[dict[str, str]] = []
    main = body.get("attribute_as_main_media")
    if main is not None and family.attributes.get(main, {}).get("type") not in MEDIA_TYPES:
        errors.append(
            error(
                "attribute_as_main_media",
                f'The attribute "{main}" cannot be the '
                "main media: it must be a media_file or media_link attribute of the "
                f'asset family "{family.code}".',
            )
        )
    if "naming_convention" in body:
        patched = replace(family, attribute_as_main_media=main or family.attribute_as_main_media)
        errors.extend(naming_convention_errors(patched, body["naming_convention"]))
    errors.extend(link_rule_errors(body.get("product_link_rules", [])))
    errors.extend(transformation_errors(family, body.get("transformations", [])))
    if errors:
        raise ApiError(422, FAMILY_RULES, errors)
