"""
The checks of a structure file that span keys, as the reference says the PIM makes them.

Pydantic (:mod:`daemon.settings.structure_file`) checks each key's shape; here are the rules
across keys (``akeneo-api.md`` §2 and §3): the properties each attribute type takes, the
required ones, reserved codes, the limits (100 families, 100 attributes, 100 options, 2 product
link rules, 10 transformations), the main media, the naming convention's source and groups,
link selections, and each transformation with its operations. One line per problem, each
naming its path in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from daemon.settings.structure_file import (
        AttributeEntry,
        FamilyEntry,
        Operation,
        StructureFile,
        Transformation,
    )

#: Limits of the reference (§2 "Limits", "product_link_rules", "transformations").
MAX_FAMILIES = 100
MAX_ATTRIBUTES = 100
MAX_OPTIONS = 100
MAX_LINK_RULES = 2
MAX_TRANSFORMATIONS = 10
RESERVED_CODES = ("code", "label", "image")
#: The type-specific properties each attribute type takes (§3 "Type-specific properties").
TYPE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "text": (
        "max_characters",
        "is_textarea",
        "is_rich_text_editor",
        "validation_rule",
        "validation_regexp",
    ),
    "number": ("decimals_allowed", "min_value", "max_value"),
    "media_file": ("media_type", "allowed_extensions", "max_file_size"),
    "media_link": ("media_type", "prefix", "suffix"),
    "single_option": ("options",),
    "multiple_options": ("options",),
    "boolean": (),
    "date": (),
    "record": ("reference_entity",),
}
SPECIFIC = frozenset(p for props in TYPE_PROPERTIES.values() for p in props)
#: Product link selection fields that take no ``locale`` / ``channel`` (§2).
PLAIN_FIELDS = ("family", "categories", "enabled")
AFFIX = re.compile(r"^[A-Za-z0-9_.\- ]*$")
GROUP = re.compile(r"\(\?(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')")
GROUP_TYPES = ("text", "single_option", "number")


class _Coded(Protocol):
    """A family, an attribute or an option of the file: what names it among its siblings."""

    @property
    def code(self) -> str: ...


_Entry = TypeVar("_Entry", bound=_Coded)


def structure_problems(model: StructureFile) -> Iterator[str]:
    """The rules spanning keys, one line each."""
    if len(model.families) > MAX_FAMILIES:
        yield f"families: at most {MAX_FAMILIES} asset families per PIM"
    yield from _entries_problems(model.families, "families", "family", _family_problems)


def _entries_problems(
    entries: Sequence[_Entry],
    where: str,
    kind: str,
    check: Callable[[_Entry, str], Iterator[str]] | None = None,
) -> Iterator[str]:
    """Each code declared twice, and each entry's own problems (``check`` with its path)."""
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        path = f"{where}[{index}]"
        if entry.code in seen:
            yield f"{path}.code: {kind} {entry.code!r} is declared twice"
        seen.add(entry.code)
        if check is not None:
            yield from check(entry, path)


def _family_problems(family: FamilyEntry, where: str) -> Iterator[str]:
    attributes = {a.code: a for a in family.attributes}
    if len(family.attributes) > MAX_ATTRIBUTES:
        yield f"{where}.attributes: at most {MAX_ATTRIBUTES} attributes per family"
    yield from _entries_problems(
        family.attributes, f"{where}.attributes", "attribute", _attribute_problems
    )
    main = family.attribute_as_main_media
    if main is not None and getattr(attributes.get(main), "type", None) not in (
        "media_file",
        "media_link",
    ):
        yield (
            f"{where}.attribute_as_main_media: {main!r} must be a media_file or media_link "
            "attribute declared in this family"
        )
    if family.naming_convention is not None:
        yield from _naming_problems(family, attributes, f"{where}.naming_convention")
    rules = family.product_link_rules or []
    if len(rules) > MAX_LINK_RULES:
        yield f"{where}.product_link_rules: at most {MAX_LINK_RULES} rules, {len(rules)} given"
    for r, rule in enumerate(rules):
        for s, selection in enumerate(rule.product_selections):
            if selection.field in PLAIN_FIELDS and (selection.locale or selection.channel):
                yield (
                    f"{where}.product_link_rules[{r}].product_selections[{s}]: no locale or "
                    f"channel on the {selection.field!r} field"
                )
    transformations = family.transformations or []
    if len(transformations) > MAX_TRANSFORMATIONS:
        yield (
            f"{where}.transformations: at most {MAX_TRANSFORMATIONS} transformations, "
            f"{len(transformations)} given"
        )
    targets = {t.target.attribute for t in transformations}
    seen_targets: set[str] = set()
    for t, item in enumerate(transformations):
        path = f"{where}.transformations[{t}]"
        yield from _transformation_problems(item, attributes, targets, path)
        if item.target.attribute in seen_targets:
            yield f"{path}.target: {item.target.attribute!r} is already another one's target"
        seen_targets.add(item.target.attribute)


def _attribute_problems(attribute: AttributeEntry, path: str) -> Iterator[str]:
    kind = attribute.type
    if attribute.code.lower() in RESERVED_CODES:
        yield f"{path}.code: {attribute.code!r} is reserved ({', '.join(RESERVED_CODES)})"
    takes = TYPE_PROPERTIES[kind]
    for key in sorted(SPECIFIC - set(takes)):
        if getattr(attribute, key) is not None:
            yield (
                f"{path}.{key}: not a property of a {kind} attribute "
                f"(it takes: {', '.join(takes) or 'none'})"
            )
    if kind in ("media_file", "media_link") and attribute.media_type is None:
        yield f"{path}.media_type: required for a {kind} attribute"
    if kind == "record" and attribute.reference_entity is None:
        yield f"{path}.reference_entity: required for a record attribute"
    if kind == "text":
        if attribute.is_textarea and attribute.is_rich_text_editor is None:
            yield f"{path}.is_rich_text_editor: required when is_textarea is true"
        if attribute.validation_rule == "regexp" and not attribute.validation_regexp:
            yield f"{path}.validation_regexp: required when validation_rule is 'regexp'"
    low, high = attribute.min_value, attribute.max_value
    if kind == "number" and low is not None and high is not None and Decimal(low) >= Decimal(high):
        yield f"{path}.min_value: must be lower than max_value ({low} >= {high})"
    options = attribute.options or []
    if len(options) > MAX_OPTIONS:
        yield f"{path}.options: at most {MAX_OPTIONS} options per attribute"
    yield from _entries_problems(options, f"{path}.options", "option")


def _naming_problems(
    family: FamilyEntry, attributes: dict[str, AttributeEntry], path: str
) -> Iterator[str]:
    nc = family.naming_convention
    assert nc is not None
    if nc.source is None and nc.pattern is None and nc.abort_asset_creation_on_error is None:
        return  # {}: no naming convention
    if nc.source is None or nc.pattern is None:
        yield f"{path}: a naming convention needs both source and pattern (or is empty: {{}})"
    if nc.source is not None and nc.source.property not in ("code", family.attribute_as_main_media):
        yield (
            f"{path}.source.property: {nc.source.property!r} must be 'code' or the family's "
            "attribute_as_main_media"
        )
    for match in GROUP.finditer(nc.pattern or ""):
        group = match.group(1) or match.group(2)
        found = attributes.get(group)
        if (
            found is None
            or found.type not in GROUP_TYPES
            or found.value_per_locale
            or found.value_per_channel
        ):
            yield (
                f"{path}.pattern: group {group!r} must name a text, single_option or number "
                "attribute of this family, neither per locale nor per channel"
            )


def _transformation_problems(
    item: Transformation, attributes: dict[str, AttributeEntry], targets: set[str], path: str
) -> Iterator[str]:
    if not item.filename_prefix and not item.filename_suffix:
        yield f"{path}: a filename_prefix or a filename_suffix is required"
    for key in ("filename_prefix", "filename_suffix"):
        value = getattr(item, key)
        if value and not AFFIX.match(value):
            yield f"{path}.{key}: only letters, digits, '_', '.', '-' and spaces"
    for side in ("source", "target"):
        code = getattr(item, side).attribute
        if getattr(attributes.get(code), "type", None) != "media_file":
            yield f"{path}.{side}: {code!r} must be a media_file attribute declared in this family"
    if item.source.attribute in targets:
        yield f"{path}.source: {item.source.attribute!r} is also a transformation's target"
    kinds: set[str] = set()
    for index, operation in enumerate(item.operations):
        where = f"{path}.operations[{index}]"
        if operation.type in kinds:
            yield f"{where}.type: {operation.type!r} appears twice in this transformation"
        kinds.add(operation.type)
        yield from (f"{where}.parameters: {p}" for p in operation_problems(operation))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def operation_problems(operation: Operation) -> Iterator[str]:
    """What is wrong with one operation's parameters (§2 "Transformation operations")."""
    params = operation.parameters
    required: dict[str, tuple[str, ...]] = {
        "thumbnail": ("width", "height"),
        "scale": (),
        "colorspace": ("colorspace",),
        "resolution": ("resolution-x", "resolution-y", "resolution-unit"),
        "resize": ("width", "height"),
        "optimize_jpeg": ("quality",),
    }
    allowed = set(required[operation.type])
    if operation.type == "scale":
        allowed = {"ratio", "width", "height"}
    takes = ", ".join(sorted(allowed))
    for key in sorted(set(params) - allowed):
        yield f"{key!r} is not a parameter of {operation.type} (it takes: {takes})"
    for key in required[operation.type]:
        if key not in params:
            yield f"{key!r} is required for {operation.type}"
    if operation.type == "scale" and not allowed & set(params):
        yield "scale needs width, height or ratio"
    for key in ("width", "height", "resolution-x", "resolution-y"):
        if key in params and not _positive_int(params[key]):
            yield f"{key!r} must be an integer > 0"
    if operation.type == "colorspace" and params.get("colorspace", "rgb") not in ("rgb", "grey"):
        yield "'colorspace' must be rgb or grey"
    unit = params.get("resolution-unit", "ppi")
    if operation.type == "resolution" and unit not in ("ppi", "ppc"):
        yield "'resolution-unit' must be ppi or ppc"
    quality = params.get("quality", 50)
    if isinstance(quality, bool) or not isinstance(quality, int | float) or not 0 < quality < 100:
        yield "'quality' must be a number between 0 and 100 (exclusive)"


__all__ = [
    "MAX_LINK_RULES",
    "MAX_TRANSFORMATIONS",
    "TYPE_PROPERTIES",
    "operation_problems",
    "structure_problems",
]
