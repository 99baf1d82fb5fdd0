"""
Records of a family's whole structure, for structure as code (``damsync structure``).

:class:`StructureFamily`, :class:`StructureAttribute` and :class:`StructureOption` carry every
property the reference lists, untouched: the sync's :class:`~daemon.core.records.AssetAttribute`
keeps only what value conversion needs (it has no ``is_rich_text_editor`` nor ``is_read_only``),
while a plan must compare and an export must write them all. The same records describe the
desired structure (from the structure file, ``None`` for what the file leaves alone) and the
live one (read by :mod:`daemon.pim.structure_docs`, everything set).

Plain data, importing nothing of the project: the engine plans with them without pulling the
client (and through it the settings) in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: A JSON value as the API sends and takes it.
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class StructureOption:
    """One option of an option attribute, with its labels per locale."""

    code: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StructureAttribute:
    """
    One asset attribute.

    Args:
        code: The attribute code.
        type: ``text``, ``number``, ``media_file``... (immutable in the PIM).
        value_per_locale: Immutable once created.
        value_per_channel: Immutable once created.
        labels: Labels per locale.
        properties: Every other property (``is_required_for_completeness``, ``is_read_only``
            and the type-specific ones); a desired attribute holds only those its file sets.
        options: The options of an option attribute; ``None`` when not managed (desired) or
            when the type has none.
    """

    code: str
    type: str
    value_per_locale: bool = False
    value_per_channel: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, JsonValue] = field(default_factory=dict)
    options: tuple[StructureOption, ...] | None = None


@dataclass(frozen=True, slots=True)
class StructureFamily:
    """
    One asset family and its attributes.

    For a desired family, ``None`` means "the file leaves this alone"; a live family has every
    field set (``{}`` / ``()`` when the PIM holds none).
    """

    code: str
    labels: Mapping[str, str] = field(default_factory=dict)
    attribute_as_main_media: str | None = None
    naming_convention: Mapping[str, JsonValue] | None = None
    product_link_rules: tuple[Mapping[str, JsonValue], ...] | None = None
    transformations: tuple[Mapping[str, JsonValue], ...] | None = None
    attributes: tuple[StructureAttribute, ...] = ()


__all__ = ["JsonValue", "StructureAttribute", "StructureFamily", "StructureOption"]
