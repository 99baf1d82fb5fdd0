"""
Checks of an asset family's rules: naming convention, product link rules and transformations.

Written from the reference (akeneo-api.md, "Asset family JSON", "Product link rules",
"Transformation operations"): at most 2 link rules and 10 transformations, named groups bound
to non-localizable, non-scopable text/single_option/number attributes, selection fields with or
without ``locale``/``channel``, operation parameters, unique targets. Each function returns
``errors[]`` items; :func:`families.check_family_rules` turns them into the business-rules 422.
"""

from __future__ import annotations

import re
from typing import Any

from daemon.sim.pim.state import Family
from daemon.sim.pim.validation import error

MAX_LINK_RULES = 2
MAX_TRANSFORMATIONS = 10
GROUP_TYPES = frozenset({"text", "single_option", "number"})
NO_SCOPE_FIELDS = frozenset({"family", "categories", "enabled"})
SELECTION_OPERATORS = frozenset({"=", "EQUALS", "IN", "NOT IN"})
ASSIGN_MODES = frozenset({"add", "replace"})
AFFIX_RE = re.compile(r"^[A-Za-z0-9_.\- ]*$")
PCRE_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
PCRE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}

Errors = list[dict[str, str]]


def compile_pcre(pattern: str) -> re.Pattern[str]:
    """
    Compile a PCRE pattern with delimiters (``/(?P<ref>.*)-.*/``) for Python's ``re``.

    ``(?<name>...)`` and ``(?'name'...)`` groups are rewritten as ``(?P<name>...)`` and
    PCRE's end-of-subject ``\\z`` as Python's ``\\Z``; flags after the closing delimiter
    (``i``, ``m``, ``s``, ``x``, ``u``) are honoured.

    Args:
        pattern: the stored pattern.

    Returns:
        The compiled pattern (``re.error``/``ValueError`` when it is not valid).
    """
    if len(pattern) < 2 or pattern[0].isalnum() or pattern[0] in "\\ ":
        raise ValueError("the pattern needs delimiters, e.g. /(?P<ref>.*)-.*/")
    end = pattern.rfind(pattern[0])
    if end == 0:
        raise ValueError("the pattern has no closing delimiter")
    flags = 0
    for letter in pattern[end + 1 :]:
        if letter not in PCRE_FLAGS:
            raise ValueError(f'unknown modifier "{letter}"')
        flags |= PCRE_FLAGS[letter]
    body = PCRE_NAMED_GROUP.sub("(?P<", pattern[1:end])
    body = re.sub(r"\(\?'([A-Za-z_][A-Za-z0-9_]*)'", r"(?P<\1>", body)
    body = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", body)
    return re.compile(body, flags)


def naming_convention_errors(family: Family, convention: Any) -> Errors:
    """
    Check a naming convention (``{}`` means none).

    Args:
        family: the family with its attributes (and main media after this PATCH).
        convention: the sent ``naming_convention``.

    Returns:
        ``errors[]`` items, empty when it is valid.
    """
    if convention == {}:
        return []
    where = "naming_convention"
    errors: Errors = []
    for key in convention:
        if key not in ("source", "pattern", "abort_asset_creation_on_error"):
            errors.append(error(f"{where}.{key}", f'The property "{key}" is not allowed.'))
    source = convention.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("property"), str):
        errors.append(error(f"{where}.source", "The source needs a property."))
    elif source["property"] != "code":
        prop = source["property"]
        definition = family.attributes.get(prop, {})
        if prop != family.attribute_as_main_media or definition.get("type") is None:
            errors.append(
                error(
                    f"{where}.source.property",
                    f'The source must be "code" or the main media attribute, "{prop}" given.',
                )
            )
        else:
            errors.extend(_scope_errors(definition, source, f"{where}.source"))
    if not isinstance(convention.get("abort_asset_creation_on_error"), bool):
        errors.append(
            error(f"{where}.abort_asset_creation_on_error", "This value should be a boolean.")
        )
    pattern = convention.get("pattern")
    if not isinstance(pattern, str):
        return [*errors, error(f"{where}.pattern", "The pattern must be a string.")]
    try:
        compiled = compile_pcre(pattern)
    except (re.error, ValueError) as exc:
        return [*errors, error(f"{where}.pattern", f"The pattern is not a valid regexp: {exc}")]
    for group in compiled.groupindex:
        definition = family.attributes.get(group, {})
        if (
            definition.get("type") not in GROUP_TYPES
            or definition.get("value_per_locale")
            or definition.get("value_per_channel")
        ):
            errors.append(
                error(
                    f"{where}.pattern",
                    f'The group "{group}" must name a text, single_option or number attribute '
                    "of the asset family that is neither localizable nor scopable.",
                )
            )
    return errors


def _scope_errors(definition: dict[str, Any], where: dict[str, Any], path: str) -> Errors:
    errors: Errors = []
    for key, flag in (("locale", "value_per_locale"), ("channel", "value_per_channel")):
        given = where.get(key)
        if bool(definition.get(flag)) != (given is not None):
            wanted = "is required" if definition.get(flag) else "must be null"
            errors.append(error(f"{path}.{key}", f'The {key} {wanted} for "{definition["code"]}".'))
    return errors


def link_rule_errors(rules: list[Any]) -> Errors:
    """
    Check product link rules: at most 2, each with selections and assignments.

    Args:
        rules: the sent ``product_link_rules``.

    Returns:
        ``errors[]`` items.
    """
    if len(rules) > MAX_LINK_RULES:
        return [error("product_link_rules", "You can define at most 2 product link rules.")]
    errors: Errors = []
    for index, rule in enumerate(rules):
        path = f"product_link_rules[{index}]"
        if not isinstance(rule, dict):
            errors.append(error(path, "A product link rule must be an object."))
            continue
        selections, assignments = rule.get("product_selections"), rule.get("assign_assets_to")
        if not isinstance(selections, list) or not selections:
            errors.append(error(f"{path}.product_selections", "At least one selection is needed."))
        else:
            for number, item in enumerate(selections):
                errors.extend(_selection_errors(item, f"{path}.product_selections[{number}]"))
        if not isinstance(assignments, list) or not assignments:
            errors.append(error(f"{path}.assign_assets_to", "At least one assignment is needed."))
        else:
            for number, item in enumerate(assignments):
                errors.extend(_assignment_errors(item, f"{path}.assign_assets_to[{number}]"))
    return errors


def _selection_errors(item: Any, path: str) -> Errors:
    if not isinstance(item, dict) or not isinstance(item.get("field"), str):
        return [error(path, "A selection needs a field, an operator and a value.")]
    errors: Errors = []
    if item.get("operator") not in SELECTION_OPERATORS:
        errors.append(
            error(
                f"{path}.operator",
                f'The operator "{item.get("operator")}" is not supported; use one of '
                f"{', '.join(sorted(SELECTION_OPERATORS))}.",
            )
        )
    value = item.get("value")
    if not (isinstance(value, str | bool) or _strings(value)):
        errors.append(error(f"{path}.value", "The value must be a string, a boolean or strings."))
    if item["field"] in NO_SCOPE_FIELDS:
        errors.extend(
            error(f"{path}.{key}", f'The {key} must be omitted for the "{item["field"]}" field.')
            for key in ("locale", "channel")
            if key in item
        )
    return errors


def _assignment_errors(item: Any, path: str) -> Errors:
    if not isinstance(item, dict) or not isinstance(item.get("attribute"), str):
        return [error(path, "An assignment needs an attribute and a mode.")]
    if item.get("mode") not in ASSIGN_MODES:
        return [error(f"{path}.mode", 'The mode must be "add" or "replace".')]
    return []


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


OPERATION_CHECKS: dict[str, Any] = {
    "thumbnail": lambda p: _positive(p, "width") and _positive(p, "height"),
    "scale": lambda p: (
        any(_positive(p, k) for k in ("width", "height", "ratio"))
        and all(_positive(p, k) for k in p)
    ),
    "colorspace": lambda p: p.get("colorspace") in ("rgb", "grey"),
    "resolution": lambda p: (
        _positive(p, "resolution-x")
        and _positive(p, "resolution-y")
        and p.get("resolution-unit") in ("ppi", "ppc")
    ),
    "resize": lambda p: _positive(p, "width") and _positive(p, "height"),
    "optimize_jpeg": lambda p: isinstance(p.get("quality"), int) and 0 < p["quality"] < 100,
}


def _positive(parameters: dict[str, Any], key: str) -> bool:
    value = parameters.get(key)
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def transformation_errors(family: Family, transformations: list[Any]) -> Errors:
    """
    Check transformations: at most 10, media_file ends, unique targets, affixes, operations.

    Args:
        family: the family with its attributes.
        transformations: the sent ``transformations``.

    Returns:
        ``errors[]`` items.
    """
    if len(transformations) > MAX_TRANSFORMATIONS:
        return [error("transformations", "You can define at most 10 transformations.")]
    errors: Errors = []
    targets: set[str] = set()
    sources = {
        str((item.get("source") or {}).get("attribute"))
        for item in transformations
        if isinstance(item, dict) and isinstance(item.get("source") or {}, dict)
    }
    for index, item in enumerate(transformations):
        path = f"transformations[{index}]"
        if not isinstance(item, dict):
            errors.append(error(path, "A transformation must be an object."))
            continue
        ends = {side: item.get(side) or {} for side in ("source", "target")}
        for side, end in ends.items():
            attribute = end.get("attribute") if isinstance(end, dict) else None
            definition = family.attributes.get(str(attribute), {})
            if definition.get("type") != "media_file":
                errors.append(
                    error(
                        f"{path}.{side}",
                        f'The attribute "{attribute}" must be a '
                        "media_file attribute of the asset family.",
                    )
                )
            else:
                errors.extend(_scope_errors(definition, end, f"{path}.{side}"))
        target = str(ends["target"].get("attribute") if isinstance(ends["target"], dict) else "")
        if target in sources or target in targets:
            errors.append(
                error(
                    f"{path}.target",
                    "Transformation targets must be unique and differ from sources.",
                )
            )
        targets.add(target)
        prefix, suffix = item.get("filename_prefix"), item.get("filename_suffix")
        if not prefix and not suffix:
            errors.append(error(path, "A filename prefix or suffix is required."))
        for key, affix in (("filename_prefix", prefix), ("filename_suffix", suffix)):
            if affix is not None and not (isinstance(affix, str) and AFFIX_RE.match(affix)):
                errors.append(
                    error(f"{path}.{key}", "Only letters, digits, spaces and _ . - are allowed.")
                )
        errors.extend(_operation_errors(item.get("operations"), f"{path}.operations"))
    return errors


def _operation_errors(operations: Any, path: str) -> Errors:
    if not isinstance(operations, list) or not operations:
        return [error(path, "At least one operation is needed.")]
    errors: Errors = []
    seen: set[str] = set()
    for index, operation in enumerate(operations):
        kind = operation.get("type") if isinstance(operation, dict) else None
        check = OPERATION_CHECKS.get(str(kind))
        if check is None:
            errors.append(error(f"{path}[{index}].type", f'Unknown operation "{kind}".'))
            continue
        if kind in seen:
            errors.append(error(f"{path}[{index}].type", f'The operation "{kind}" appears twice.'))
        seen.add(str(kind))
        parameters = operation.get("parameters")
        if not isinstance(parameters, dict) or not check(parameters):
            errors.append(error(f"{path}[{index}].parameters", f'Invalid parameters for "{kind}".'))
    return errors
