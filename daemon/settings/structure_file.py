"""
The structure file of ``damsync structure``: asset families, their attributes of every type,
options, main media, naming convention, product link rules and transformations, as code.

It is its own TOML file (not a section of ``damsync.toml``): reviewed and versioned with the
catalogue, planned and applied from CI. :func:`load_structure` checks it as the reference
(``akeneo-api.md`` §2 and §3) says the PIM will, before anything is sent: the shape through
pydantic, then the rules that span keys (a property the attribute's type does not take, the
main media, the naming convention's groups, at most 2 link rules, at most 10 transformations,
their operations: :mod:`daemon.settings.structure_checks`). Every problem is one line naming
its path (``families[0].attributes[2]``).

A key left out is left alone by ``apply``; TOML has no ``null``, so a JSON ``null`` is written
by leaving the key out. :func:`dump_structure` writes a file back (``structure export``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, ValidationError

from daemon.core.config_model import Model
from daemon.core.errors import ConfigError
from daemon.settings.structure_checks import TYPE_PROPERTIES, structure_problems

Code = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_]+$", max_length=255)]
AttributeType = Literal[
    "text",
    "number",
    "media_file",
    "media_link",
    "single_option",
    "multiple_options",
    "boolean",
    "date",
    "record",
]
MediaType = Literal["image", "pdf", "youtube", "vimeo", "other"]
OperationType = Literal["thumbnail", "scale", "colorspace", "resolution", "resize", "optimize_jpeg"]


def _number_text(value: Any) -> Any:
    """A number written as TOML int, float or string, kept as the string the API sends."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    return str(value)


NumberText = Annotated[str, BeforeValidator(_number_text)]


class OptionEntry(Model):
    code: Code
    labels: dict[str, str] = Field(default_factory=dict)


class AttributeEntry(Model):
    code: Code
    type: AttributeType
    labels: dict[str, str] = Field(default_factory=dict)
    value_per_locale: bool = False
    value_per_channel: bool = False
    is_required_for_completeness: bool | None = None
    is_read_only: bool | None = None
    max_characters: int | None = Field(None, ge=1)
    is_textarea: bool | None = None
    is_rich_text_editor: bool | None = None
    validation_rule: Literal["none", "email", "url", "regexp"] | None = None
    validation_regexp: str | None = None
    decimals_allowed: bool | None = None
    min_value: NumberText | None = None
    max_value: NumberText | None = None
    media_type: MediaType | None = None
    allowed_extensions: list[str] | None = None
    max_file_size: NumberText | None = None
    prefix: str | None = None
    suffix: str | None = None
    reference_entity: Code | None = None
    options: list[OptionEntry] | None = None


class ValueSource(Model):
    property: str = Field(min_length=1)
    locale: str | None = None
    channel: str | None = None


class NamingConvention(Model):
    """``{}`` (none) or a source, a pattern and whether a failed match aborts the creation."""

    source: ValueSource | None = None
    pattern: str | None = Field(None, min_length=1)
    abort_asset_creation_on_error: bool | None = None


class ProductSelection(Model):
    field: str = Field(min_length=1)
    operator: str = Field(min_length=1)
    value: str | bool | list[str]
    locale: str | None = None
    channel: str | None = None


class Assignment(Model):
    attribute: Code
    mode: Literal["add", "replace"]
    locale: str | None = None
    channel: str | None = None


class LinkRule(Model):
    product_selections: list[ProductSelection] = Field(min_length=1)
    assign_assets_to: list[Assignment] = Field(min_length=1)


class MediaRef(Model):
    attribute: Code
    channel: str | None = None
    locale: str | None = None


class Operation(Model):
    type: OperationType
    parameters: dict[str, int | float | str] = Field(default_factory=dict)


class Transformation(Model):
    label: str = Field(min_length=1)
    filename_prefix: str | None = None
    filename_suffix: str | None = None
    source: MediaRef
    target: MediaRef
    operations: list[Operation] = Field(min_length=1)


class FamilyEntry(Model):
    code: Code
    labels: dict[str, str] = Field(default_factory=dict)
    attribute_as_main_media: Code | None = None
    naming_convention: NamingConvention | None = None
    product_link_rules: list[LinkRule] | None = None
    transformations: list[Transformation] | None = None
    attributes: list[AttributeEntry] = Field(default_factory=list)


class StructureFile(Model):
    """The whole structure file: one ``[[families]]`` table per managed family."""

    families: list[FamilyEntry] = Field(min_length=1)


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def load_structure(path: Path | str) -> StructureFile:
    """
    Read and check a structure file.

    Raises:
        ConfigError: one line per problem, each naming its path in the file.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read structure file: {exc.strerror}", key=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", key=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", key=str(path)) from None
    return parse_structure(data)


def parse_structure(data: Any) -> StructureFile:
    """
    Check a structure already read (a TOML or JSON document).

    Raises:
        ConfigError: one line per problem, each naming its path in the file.
    """
    try:
        model = StructureFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    problems = list(structure_problems(model))
    if problems:
        raise ConfigError("\n".join(problems))
    return model


__all__ = [
    "TYPE_PROPERTIES",
    "AttributeEntry",
    "FamilyEntry",
    "LinkRule",
    "NamingConvention",
    "StructureFile",
    "Transformation",
    "load_structure",
    "parse_structure",
]
