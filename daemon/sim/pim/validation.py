"""
Asset value validation and merging for the PIM simulator, written from the Akeneo reference.

Validation runs in the server's order: unknown attribute (plain message), then structure
("The asset has an invalid format."), then business rules ("... does not comply with the
business rules."). Every error names its property path, like ``values.title[0].data``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from daemon.sim.pim.http_errors import ApiError, json_kind
from daemon.sim.pim.state import CODE_RE, Family, PimState

ASSET_KEYS = frozenset({"code", "values", "_links"})
VALUE_KEYS = ("locale", "channel", "data")
INVALID_ASSET = "The asset has an invalid format."
ASSET_RULES = "The asset has data that does not comply with the business rules."
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
# JSON type each attribute type's ``data`` must have (None is always allowed: it erases).
DATA_KINDS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "media_file": (str,),
    "media_link": (str,),
    "single_option": (str,),
    "multiple_options": (list,),
    "number": (str,),
    "boolean": (bool,),
    "date": (str,),
    "record": (str,),
}

Values = dict[str, list[dict[str, Any]]]


def error(prop: str, message: str) -> dict[str, str]:
    """
    Build one ``errors[]`` item.

    Args:
        prop: the property path.
        message: what is wrong.

    Returns:
        ``{"property", "message"}``.
    """
    return {"property": prop, "message": message}


def check_code(code: str, what: str) -> None:
    """
    Refuse a code that breaks ``^[a-zA-Z0-9_]+$`` or is longer than 255 characters.

    Args:
        code: the code from the URL or body.
        what: ``Asset``, ``Asset family``, ``Attribute`` or ``Option``.
    """
    if not CODE_RE.match(code):
        raise ApiError(
            422, f'{what} code may contain only letters, numbers and underscores. "{code}" given'
        )
    if len(code) > 255:
        raise ApiError(422, f"{what} code cannot be longer than 255 characters.")


def validate_asset(state: PimState, family: Family, body: dict[str, Any]) -> Values:
    """
    Validate one asset PATCH body against the family.

    Args:
        state: the PIM (locales, channels, uploaded files).
        family: the family the asset belongs to.
        body: the decoded asset object.

    Returns:
        The values to merge, keyed by attribute code.
    """
    extra = [key for key in body if key not in ASSET_KEYS]
    if extra:
        # The documented bulk example's message for a top-level key outside code/values/_links.
        raise ApiError(422, f"Property '{extra[0]}' does not exist.")
    raw = body.get("values", {})
    if not isinstance(raw, dict):
        raise ApiError(
            422,
            INVALID_ASSET,
            [error("values", f"{json_kind(raw)} value found, but an object is required")],
        )
    for attribute in raw:
        if attribute not in family.attributes:
            raise ApiError(422, f'Attribute "{attribute}" does not exist for this asset family')
    structure: list[dict[str, str]] = []
    for attribute, items in raw.items():
        structure.extend(_structure(family.attributes[attribute], items))
    if structure:
        raise ApiError(422, INVALID_ASSET, structure)
    rules: list[dict[str, str]] = []
    for attribute, items in raw.items():
        definition = family.attributes[attribute]
        for index, item in enumerate(items):
            rules.extend(_rules(state, family, definition, f"values.{attribute}[{index}]", item))
    if rules:
        raise ApiError(422, ASSET_RULES, rules)
    return {
        attribute: [{key: item[key] for key in VALUE_KEYS} for item in items]
        for attribute, items in raw.items()
    }


def merge_values(old: Values, patch: Values) -> tuple[Values, bool]:
    """
    Merge a values patch per attribute+locale+channel; ``data: null`` erases that one value.

    Args:
        old: the stored values.
        patch: validated values to apply.

    Returns:
        ``(new values, whether anything changed)``.
    """
    merged = {attribute: [dict(v) for v in items] for attribute, items in old.items()}
    for attribute, items in patch.items():
        current = merged.setdefault(attribute, [])
        for item in items:
            key = (item["locale"], item["channel"])
            kept = [v for v in current if (v["locale"], v["channel"]) != key]
            if item["data"] is not None:
                kept.append(dict(item))
            current[:] = kept
        if not current:
            del merged[attribute]
    changed = _canonical(merged) != _canonical(old)
    return merged, changed


def _canonical(values: Values) -> dict[str, Any]:
    return {
        attribute: sorted(
            ((str(v["locale"]), str(v["channel"]), repr(v["data"])) for v in items),
        )
        for attribute, items in values.items()
        if items
    }


def _not_defined(prop: str, key: str) -> dict[str, str]:
    return error(
        prop,
        f"The property {key} is not defined and the definition does not allow additional "
        "properties",
    )


def _structure(definition: dict[str, Any], items: Any) -> list[dict[str, str]]:
    code = definition["code"]
    if not isinstance(items, list):
        return [
            error(f"values.{code}", f"{json_kind(items)} value found, but an array is required")
        ]
    errors: list[dict[str, str]] = []
    kinds = DATA_KINDS.get(definition["type"], (str,))
    for index, item in enumerate(items):
        path = f"values.{code}[{index}]"
        if not isinstance(item, dict):
            errors.append(error(path, f"{json_kind(item)} value found, but an object is required"))
            continue
        errors.extend(
            error(path, f"The property {key} is required") for key in VALUE_KEYS if key not in item
        )
        errors.extend(
            _not_defined(f"{path}.{key}", key)
            for key in item
            if key not in VALUE_KEYS and key != "_links"
        )
        for key in ("locale", "channel"):
            if key in item and item[key] is not None and not isinstance(item[key], str):
                errors.append(
                    error(
                        f"{path}.{key}",
                        f"{json_kind(item[key])} value found, but a string or a null is required",
                    )
                )
        data = item.get("data")
        if data is None:
            continue
        wrong = not isinstance(data, kinds) or (bool not in kinds and isinstance(data, bool))
        if wrong:
            wanted = {str: "a string", list: "an array", bool: "a boolean"}[kinds[0]]
            errors.append(
                error(
                    f"{path}.data",
                    f"{json_kind(data)} value found, but {wanted} or a null is required",
                )
            )
        elif isinstance(data, list) and not all(isinstance(v, str) for v in data):
            errors.append(error(f"{path}.data", "Every option code must be a string"))
    return errors


def _rules(
    state: PimState, family: Family, definition: dict[str, Any], path: str, item: dict[str, Any]
) -> list[dict[str, str]]:
    errors = _scope_rules(state, definition, path, item["locale"], item["channel"])
    data = item["data"]
    if data is None:
        return errors
    kind = definition["type"]
    prop = f"{path}.data"
    if kind == "text":
        errors.extend(_text_rules(definition, prop, data))
    elif kind == "number":
        errors.extend(_number_rules(definition, prop, data))
    elif kind in ("single_option", "multiple_options"):
        known = family.options.get(definition["code"], {})
        for option in [data] if isinstance(data, str) else data:
            if option not in known:
                errors.append(
                    error(
                        prop,
                        f'The option "{option}" does not exist for the '
                        f'attribute "{definition["code"]}".',
                    )
                )
    elif kind == "date":
        try:
            datetime.fromisoformat(data)
        except ValueError:
            errors.append(error(prop, f'The date "{data}" is not a valid ISO-8601 date.'))
    elif kind == "media_file":
        errors.extend(_file_rules(state, definition, prop, data))
    return errors


def _scope_rules(
    state: PimState, definition: dict[str, Any], path: str, locale: Any, channel: Any
) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    code = definition["code"]
    if definition.get("value_per_channel"):
        if channel is None:
            errors.append(
                error(
                    f"{path}.channel", f'The attribute "{code}" is scopable: a channel is required.'
                )
            )
        elif state.channel(channel) is None:
            errors.append(error(f"{path}.channel", f'The channel "{channel}" does not exist.'))
    elif channel is not None:
        errors.append(
            error(
                f"{path}.channel",
                f'The attribute "{code}" is not scopable: the channel must be null.',
            )
        )
    if definition.get("value_per_locale"):
        if locale is None:
            errors.append(
                error(
                    f"{path}.locale",
                    f'The attribute "{code}" is localizable: a locale is required.',
                )
            )
        elif locale not in state.active_locales():
            errors.append(error(f"{path}.locale", f'The locale "{locale}" is not activated.'))
        elif isinstance(channel, str) and (found := state.channel(channel)) is not None:
            if locale not in found.get("locales", []):
                errors.append(
                    error(
                        f"{path}.locale",
                        f'The locale "{locale}" is not activated for the channel "{channel}".',
                    )
                )
    elif locale is not None:
        errors.append(
            error(
                f"{path}.locale",
                f'The attribute "{code}" is not localizable: the locale must be null.',
            )
        )
    return errors


def _text_rules(definition: dict[str, Any], prop: str, data: str) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    limit = definition.get("max_characters")
    if limit not in (None, "") and len(data) > int(limit):
        errors.append(
            error(prop, f"This value is too long. It should have {int(limit)} characters or less.")
        )
    rule = definition.get("validation_rule") or "none"
    if rule == "email" and not EMAIL_RE.match(data):
        errors.append(error(prop, "This value is not a valid email address."))
    elif rule == "url":
        parsed = urlparse(data)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(error(prop, "This value is not a valid URL."))
    elif rule == "regexp":
        pattern = str(definition.get("validation_regexp") or "")
        if re.search(_pcre_body(pattern), data) is None:
            errors.append(
                error(
                    prop, f'The value "{data}" does not match the regular expression "{pattern}".'
                )
            )
    return errors


def _pcre_body(pattern: str) -> str:
    """Strip PCRE delimiters (``/.../flags``) the PIM stores around ``validation_regexp``."""
    if len(pattern) >= 2 and pattern[0] == "/" and "/" in pattern[1:]:
        return pattern[1 : pattern.rindex("/")]
    return pattern


def _number_rules(definition: dict[str, Any], prop: str, data: str) -> list[dict[str, str]]:
    if not NUMBER_RE.match(data):
        return [error(prop, "This value should be a number.")]
    value = Decimal(data)
    errors: list[dict[str, str]] = []
    if "." in data and not definition.get("decimals_allowed"):
        errors.append(error(prop, "This value should not be a decimal."))
    for key, bad, word in (
        ("min_value", value.__lt__, "greater"),
        ("max_value", value.__gt__, "less"),
    ):
        bound = definition.get(key)
        if bound in (None, ""):
            continue
        try:
            limit = Decimal(str(bound))
        except InvalidOperation:
            continue
        if bad(limit):
            errors.append(error(prop, f"This value should be {word} than or equal to {bound}."))
    return errors


def _file_rules(
    state: PimState, definition: dict[str, Any], prop: str, data: str
) -> list[dict[str, str]]:
    stored = state.media.get(data)
    if stored is None:
        return [error(prop, f'The file "{data}" was not found.')]
    errors: list[dict[str, str]] = []
    allowed = [str(ext).lower() for ext in definition.get("allowed_extensions") or []]
    extension = stored.filename.rsplit(".", 1)[-1].lower() if "." in stored.filename else ""
    if allowed and extension not in allowed:
        errors.append(
            error(
                prop,
                f'The file extension "{extension}" is not allowed. Allowed '
                f"extensions are: {', '.join(allowed)}.",
            )
        )
    limit = definition.get("max_file_size")
    if limit not in (None, "") and len(stored.content) > float(limit) * 1024 * 1024:
        errors.append(
            error(prop, f"The file exceeds the max file size set for the attribute ({limit} MB).")
        )
    return errors
