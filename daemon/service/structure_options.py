"""
The structure file turned into the engine's records, and live records turned back into a file.

:func:`desired_families` is what ``structure plan`` and ``apply`` compare with the PIM: each key
the file sets, in the JSON the API takes (a TOML-absent ``locale`` / ``channel`` becomes the
``null`` the reference asks for where it asks for one). :func:`structure_file_of` and
:func:`toml_text` are ``structure export``: the PIM's families as a file that plans to no change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from daemon.pim.structure_records import (
    JsonValue,
    StructureAttribute,
    StructureFamily,
    StructureOption,
)
from daemon.settings.structure_file import (
    TYPE_PROPERTIES,
    AttributeEntry,
    FamilyEntry,
    LinkRule,
    NamingConvention,
    StructureFile,
    Transformation,
    parse_structure,
)

if TYPE_CHECKING:
    from daemon.pim import PimClient
    from daemon.settings.connections import PimSettings

#: Properties every attribute type takes beside the immutable ones.
COMMON_PROPERTIES = ("is_required_for_completeness", "is_read_only")
PLAIN_FIELDS = ("family", "categories", "enabled")
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: Arrays of tables written inline, one table a line (the others get ``[[...]]`` headers).
INLINE_ARRAYS = frozenset({"options", "product_selections", "assign_assets_to", "operations"})


def structure_client(settings: PimSettings) -> PimClient:
    """
    The PIM client of a ``structure`` command: one-shot retries (someone or a CI job waits).

    Returns:
        A new client; the caller closes it.
    """
    from daemon.pim import PimClient
    from daemon.upstream.policy import ONE_SHOT_RETRY

    return PimClient.from_settings(settings, retry_cap=ONE_SHOT_RETRY)


def desired_families(model: StructureFile) -> tuple[StructureFamily, ...]:
    """The families of a checked structure file, as the engine compares them."""
    return tuple(_family(entry) for entry in model.families)


def _family(entry: FamilyEntry) -> StructureFamily:
    rules = None
    if entry.product_link_rules is not None:
        rules = tuple(_rule(rule) for rule in entry.product_link_rules)
    transformations = None
    if entry.transformations is not None:
        transformations = tuple(_transformation(t) for t in entry.transformations)
    return StructureFamily(
        code=entry.code,
        labels=dict(entry.labels),
        attribute_as_main_media=entry.attribute_as_main_media,
        naming_convention=_naming(entry.naming_convention),
        product_link_rules=rules,
        transformations=transformations,
        attributes=tuple(_attribute(a) for a in entry.attributes),
    )


def _rule(rule: LinkRule) -> dict[str, JsonValue]:
    return {
        "product_selections": [
            _selection(s.model_dump(exclude_none=True)) for s in rule.product_selections
        ],
        "assign_assets_to": [a.model_dump(exclude_none=True) for a in rule.assign_assets_to],
    }


def _transformation(item: Transformation) -> dict[str, JsonValue]:
    # source and target always carry channel and locale, null when none (§2 example).
    body: dict[str, JsonValue] = item.model_dump(exclude_none=True, exclude={"source", "target"})
    body["source"] = item.source.model_dump()
    body["target"] = item.target.model_dump()
    return body


def _selection(raw: dict[str, JsonValue]) -> dict[str, JsonValue]:
    # Attribute fields carry locale and channel, null when not localizable / scopable (§2).
    if raw["field"] not in PLAIN_FIELDS:
        raw.setdefault("locale", None)
        raw.setdefault("channel", None)
    return raw


def _naming(nc: NamingConvention | None) -> dict[str, JsonValue] | None:
    if nc is None:
        return None
    if nc.source is None or nc.pattern is None:
        return {}
    return {
        "source": nc.source.model_dump(),
        "pattern": nc.pattern,
        "abort_asset_creation_on_error": bool(nc.abort_asset_creation_on_error),
    }


def _attribute(entry: AttributeEntry) -> StructureAttribute:
    keys = [*COMMON_PROPERTIES, *(k for k in TYPE_PROPERTIES[entry.type] if k != "options")]
    properties: dict[str, JsonValue] = {}
    for key in keys:
        value = getattr(entry, key)
        if value is not None:
            properties[key] = list(value) if isinstance(value, list) else value
    options = None
    if entry.options is not None:
        options = tuple(StructureOption(o.code, dict(o.labels)) for o in entry.options)
    return StructureAttribute(
        code=entry.code,
        type=entry.type,
        value_per_locale=entry.value_per_locale,
        value_per_channel=entry.value_per_channel,
        labels=dict(entry.labels),
        properties=properties,
        options=options,
    )


# -- export -----------------------------------------------------------------------------------


def _no_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_no_nulls(v) for v in value]
    return value


def structure_file_of(families: Sequence[StructureFamily]) -> tuple[StructureFile, list[str]]:
    """
    Live families as a structure file.

    Returns:
        The checked file, and one line per attribute left out (a type the API cannot create,
        such as ``auto_tagging``).

    Raises:
        ConfigError: the PIM holds something the file's rules refuse (one line each).
    """
    skipped: list[str] = []
    data: list[dict[str, Any]] = []
    for family in families:
        attributes = []
        for attribute in family.attributes:
            if attribute.type not in TYPE_PROPERTIES:
                skipped.append(
                    f"attribute {family.code}.{attribute.code}: type {attribute.type!r} cannot "
                    "be created through the API; left out"
                )
                continue
            attributes.append(_attribute_dict(attribute))
        entry: dict[str, Any] = {"code": family.code, "labels": dict(family.labels)}
        if family.attribute_as_main_media is not None:
            entry["attribute_as_main_media"] = family.attribute_as_main_media
        for key in ("naming_convention", "product_link_rules", "transformations"):
            value = getattr(family, key)
            if value is not None:
                entry[key] = _no_nulls(value)
        entry["attributes"] = attributes
        data.append(entry)
    return parse_structure({"families": data}), skipped


def _attribute_dict(attribute: StructureAttribute) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "code": attribute.code,
        "type": attribute.type,
        "labels": dict(attribute.labels),
        "value_per_locale": attribute.value_per_locale,
        "value_per_channel": attribute.value_per_channel,
    }
    for key in (*COMMON_PROPERTIES, *TYPE_PROPERTIES[attribute.type]):
        value = attribute.properties.get(key)
        if key == "max_characters" and isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # the reference's own example answers "50"
        if value is not None and key != "options":
            entry[key] = value
    if attribute.options is not None:
        entry["options"] = [{"code": o.code, "labels": dict(o.labels)} for o in attribute.options]
    return entry


def toml_text(model: StructureFile, *, header: str = "") -> str:
    """The structure file as TOML that :func:`~daemon.settings.structure_file.load_structure`
    reads back into the same model."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for family in model.model_dump(exclude_none=True)["families"]:
        _table(lines, "families", family)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], name: str, table: Mapping[str, Any]) -> None:
    lines.extend(["", f"[[{name}]]"])
    nested = []
    for key, value in table.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            if key in INLINE_ARRAYS:
                inner = ",\n".join(f"  {_inline(v)}" for v in value)
                lines.append(f"{_key(key)} = [\n{inner},\n]")
                continue
            nested.append((key, value))
            continue
        lines.append(f"{_key(key)} = {_inline(value)}")
    for key, items in nested:
        for item in items:
            _table(lines, f"{name}.{key}", item)


def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


__all__ = ["desired_families", "structure_client", "structure_file_of", "toml_text"]
