"""
**What ``damsync structure apply`` would change**: the desired families against the live ones,
as ordered PATCH steps; pure.

The order is the reference's setup order (§2 "Typical setup order"), per family: the family
(code and labels), its attributes, their options, then the family again for
``attribute_as_main_media``, ``naming_convention``, ``product_link_rules`` and
``transformations``, which name attributes and so come after them.

Only what the file sets is compared (``None`` is "left alone"); labels are merged by the PIM, so
only the locales the file names are compared and sent. Nothing is ever deleted: an attribute or
an option the PIM has and the file does not is reported as kept. What the API cannot change
(an attribute's ``type``, ``value_per_locale``, ``value_per_channel``: §3 "Common properties")
is a :class:`ForbiddenChange` carrying the manual step, never a step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from daemon.pim.structure_records import (
    JsonValue,
    StructureAttribute,
    StructureFamily,
    StructureOption,
)

StepKind = Literal["family", "attribute", "option", "family_links"]
IMMUTABLE = ("type", "value_per_locale", "value_per_channel")
#: Family keys set after the attributes, because they name attributes.
LINK_KEYS = (
    "attribute_as_main_media",
    "naming_convention",
    "product_link_rules",
    "transformations",
)
#: Properties compared as numbers: the PIM may answer ``"50"`` for ``50`` (§3).
NUMERIC = frozenset({"max_characters", "min_value", "max_value", "max_file_size"})
#: What the PIM holds when a property was never sent (§3 defaults).
DEFAULTS: dict[str, JsonValue] = {
    "is_required_for_completeness": False,
    "is_read_only": False,
    "is_textarea": False,
    "is_rich_text_editor": False,
    "decimals_allowed": False,
    "validation_rule": "none",
    "allowed_extensions": [],
}
#: Sent along with a changed property, because the PIM checks them together (§3 ``text``).
COMPANIONS = {
    "is_textarea": ("is_rich_text_editor",),
    "validation_rule": ("validation_regexp",),
    "min_value": ("max_value",),
    "max_value": ("min_value",),
}


@dataclass(frozen=True, slots=True)
class StructureStep:
    """
    One PATCH of the plan.

    Args:
        kind: ``family`` (code, labels), ``attribute``, ``option`` or ``family_links`` (main
            media, naming convention, link rules, transformations).
        action: ``create`` (the PIM has none) or ``update``.
        family: The family code.
        attribute: The attribute code (attribute and option steps).
        option: The option code (option steps).
        body: What is sent (the client adds ``code``).
        changes: What changes, for people (``labels.fr_FR``, ``max_characters``).
    """

    kind: StepKind
    action: Literal["create", "update"]
    family: str
    body: Mapping[str, JsonValue]
    attribute: str | None = None
    option: str | None = None
    changes: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """``family F``, ``attribute F.A`` or ``option F.A.O``."""
        if self.kind == "attribute":
            return f"attribute {self.family}.{self.attribute}"
        if self.kind == "option":
            return f"option {self.family}.{self.attribute}.{self.option}"
        return f"family {self.family}"


@dataclass(frozen=True, slots=True)
class ForbiddenChange:
    """A change the API refuses, with what a person must do instead."""

    family: str
    attribute: str
    key: str
    live: JsonValue
    desired: JsonValue

    @property
    def message(self) -> str:
        return (
            f"attribute {self.family}.{self.attribute}: {self.key} cannot change from "
            f"{_shown(self.live)} to {_shown(self.desired)} through the API"
        )

    @property
    def manual_step(self) -> str:
        return (
            f"in the PIM, delete attribute {self.attribute!r} of family {self.family!r} (every "
            f"asset loses its {self.attribute} values), then run `damsync structure apply` to "
            "create it as the file says; or give the new attribute another code in the file"
        )


@dataclass(frozen=True, slots=True)
class Kept:
    """An attribute or option the PIM has and the file does not: never deleted."""

    family: str
    attribute: str
    option: str | None = None

    @property
    def target(self) -> str:
        if self.option is None:
            return f"attribute {self.family}.{self.attribute}"
        return f"option {self.family}.{self.attribute}.{self.option}"


@dataclass(frozen=True, slots=True)
class StructurePlan:
    """The ordered steps, the forbidden changes and what is kept though not in the file."""

    steps: tuple[StructureStep, ...] = ()
    forbidden: tuple[ForbiddenChange, ...] = ()
    kept: tuple[Kept, ...] = ()

    @property
    def exit_code(self) -> int:
        """For CI: 1 a forbidden change, 2 changes pending, 0 nothing to do."""
        if self.forbidden:
            return 1
        return 2 if self.steps else 0


def _shown(value: JsonValue) -> str:
    return json.dumps(value)


def _number(value: JsonValue) -> Decimal | JsonValue:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        return Decimal(str(value)).normalize()
    except InvalidOperation:
        return value


def _strip_nulls(value: JsonValue) -> JsonValue:
    """``{"locale": null}`` and ``{}`` say the same (TOML cannot write ``null``)."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def same_property(key: str, desired: JsonValue, live: JsonValue) -> bool:
    """Whether a desired property already holds in the PIM."""
    default = DEFAULTS.get(key)
    desired = default if desired is None else desired
    live = default if live is None else live
    if key in NUMERIC:
        return _number(desired) == _number(live)
    if key == "allowed_extensions" and isinstance(desired, list) and isinstance(live, list):
        return sorted(map(str, desired)) == sorted(map(str, live))
    return desired == live


def changed_labels(desired: Mapping[str, str], live: Mapping[str, str]) -> dict[str, JsonValue]:
    """The labels to send: the locales the file names whose text differs ("" is no label)."""
    return {loc: text for loc, text in desired.items() if (text or None) != (live.get(loc) or None)}


def plan_structure(
    desired: Sequence[StructureFamily], live: Mapping[str, StructureFamily | None]
) -> StructurePlan:
    """
    The plan that makes the PIM hold ``desired``.

    Args:
        desired: The families of the structure file.
        live: The same families as the PIM holds them (``None``: not in the PIM).

    Returns:
        The plan; empty when the PIM already matches.
    """
    steps: list[StructureStep] = []
    forbidden: list[ForbiddenChange] = []
    kept: list[Kept] = []
    for family in desired:
        current = live.get(family.code)
        if current is None:
            body: dict[str, JsonValue] = {"labels": dict(family.labels)}
            steps.append(StructureStep("family", "create", family.code, body, changes=("new",)))
        elif labels := changed_labels(family.labels, current.labels):
            changes = tuple(f"labels.{loc}" for loc in labels)
            steps.append(
                StructureStep("family", "update", family.code, {"labels": labels}, changes=changes)
            )
        live_attributes = {a.code: a for a in current.attributes} if current else {}
        options: list[StructureStep] = []
        for attribute in family.attributes:
            found = live_attributes.get(attribute.code)
            blocked = [
                ForbiddenChange(family.code, attribute.code, key, getattr(found, key), value)
                for key in IMMUTABLE
                if found is not None and (value := getattr(attribute, key)) != getattr(found, key)
            ]
            if blocked:
                forbidden.extend(blocked)
                continue
            step = _attribute_step(family.code, attribute, found)
            if step is not None:
                steps.append(step)
            options.extend(_option_steps(family.code, attribute, found))
            if attribute.options is not None and found is not None:
                wanted = {o.code for o in attribute.options}
                kept.extend(
                    Kept(family.code, attribute.code, o.code)
                    for o in found.options or ()
                    if o.code not in wanted
                )
        steps.extend(options)
        declared = {a.code for a in family.attributes}
        kept.extend(Kept(family.code, code) for code in live_attributes if code not in declared)
        link = _links_step(family, current)
        if link is not None:
            steps.append(link)
    return StructurePlan(tuple(steps), tuple(forbidden), tuple(kept))


def _attribute_step(
    family: str, attribute: StructureAttribute, found: StructureAttribute | None
) -> StructureStep | None:
    if found is None:
        body: dict[str, JsonValue] = {
            "type": attribute.type,
            "labels": dict(attribute.labels),
            "value_per_locale": attribute.value_per_locale,
            "value_per_channel": attribute.value_per_channel,
            **attribute.properties,
        }
        return StructureStep(
            "attribute", "create", family, body, attribute.code, changes=(attribute.type,)
        )
    changed = [
        key
        for key, value in attribute.properties.items()
        if not same_property(key, value, found.properties.get(key))
    ]
    labels = changed_labels(attribute.labels, found.labels)
    if not changed and not labels:
        return None
    sent = dict.fromkeys(changed)
    for key in changed:
        sent.update(dict.fromkeys(k for k in COMPANIONS.get(key, ()) if k in attribute.properties))
    body = {"type": attribute.type, **{key: attribute.properties[key] for key in sent}}
    if labels:
        body["labels"] = labels
    changes = (*changed, *(f"labels.{loc}" for loc in labels))
    return StructureStep("attribute", "update", family, body, attribute.code, changes=changes)


def _option_steps(
    family: str, attribute: StructureAttribute, found: StructureAttribute | None
) -> list[StructureStep]:
    if attribute.options is None:
        return []
    current: dict[str, StructureOption] = (
        {o.code: o for o in (found.options or ())} if found else {}
    )
    steps = []
    for option in attribute.options:
        there = current.get(option.code)
        if there is None:
            body: dict[str, JsonValue] = {"labels": dict(option.labels)}
            steps.append(
                StructureStep(
                    "option", "create", family, body, attribute.code, option.code, ("new",)
                )
            )
        elif labels := changed_labels(option.labels, there.labels):
            changes = tuple(f"labels.{loc}" for loc in labels)
            steps.append(
                StructureStep(
                    "option",
                    "update",
                    family,
                    {"labels": labels},
                    attribute.code,
                    option.code,
                    changes,
                )
            )
    return steps


def _links_step(family: StructureFamily, current: StructureFamily | None) -> StructureStep | None:
    body: dict[str, JsonValue] = {}
    desired: dict[str, JsonValue] = {
        "attribute_as_main_media": family.attribute_as_main_media,
        "naming_convention": _json(family.naming_convention),
        "product_link_rules": _json(family.product_link_rules),
        "transformations": _json(family.transformations),
    }
    for key in LINK_KEYS:
        value = desired[key]
        if value is None:
            continue
        there = _json(getattr(current, key)) if current is not None else None
        if current is None or _strip_nulls(value) != _strip_nulls(there):
            body[key] = value
    if not body:
        return None
    return StructureStep(
        "family_links",
        "update",
        family.code,
        body,
        changes=tuple(body),
    )


def _json(value: object) -> JsonValue:
    """Records' tuples and mappings as the JSON lists and objects a body holds."""
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not JSON: {type(value).__name__}")


__all__ = [
    "IMMUTABLE",
    "ForbiddenChange",
    "Kept",
    "StructurePlan",
    "StructureStep",
    "changed_labels",
    "plan_structure",
    "same_property",
]
