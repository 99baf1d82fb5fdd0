"""
The declarative mapping rules of one source (``[sources.mapping]``), as pydantic models.

Syntax is checked here (paths, templates, regexes, one source per value); whether the rules fit
the PIM's live family structure is checked by :func:`daemon.mapping.validate.validate_rules`.
Every key is documented in ``docs/mapping.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from daemon.core.config_model import Model
from daemon.core.errors import ConfigError
from daemon.mapping.paths import parse_path, parse_template
from daemon.mapping.product_link_rules import ProductLinkRule

Scalar = str | bool | int | float
ConstantValue = Scalar | list[Scalar]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def _check_path(value: str | None) -> str | None:
    if value is not None:
        parse_path(value)
    return value


class FieldCondition(Model):
    """One metadata test: ``field`` plus exactly one of ``equals``/``in``/``regex``/``exists``."""

    field: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    regex: str | None = None
    exists: bool | None = None

    check_field = field_validator("field")(_check_path)
    check_regex = field_validator("regex")(_check_regex)

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        given = [self.equals, self.in_, self.regex, self.exists]
        if sum(v is not None for v in given) != 1:
            raise ValueError("set exactly one of equals, in, regex, exists")
        return self


class Match(Model):
    """Conditions an asset must all meet for its family rule to apply; empty matches all."""

    type: StrList = []
    mime_type: StrList = []
    path: StrList = []
    tags_any: StrList = []
    tags_all: StrList = []
    fields: list[FieldCondition] = []


class JoinStep(Model):
    """Join a list into text with ``join`` as separator."""

    join: str


class SplitStep(Model):
    """Split text into a list on ``split`` (parts are stripped, empty parts dropped)."""

    split: str = Field(min_length=1)


class DefaultStep(Model):
    """Use ``default`` when the value is missing or empty."""

    default: ConstantValue


class ExtractStep(Model):
    """Keep the first group (or the whole match) of the regex ``extract``; no match is missing."""

    extract: str

    check_extract = field_validator("extract")(_check_regex)


TransformStep = (
    Literal["lower", "upper", "strip", "first"] | JoinStep | SplitStep | DefaultStep | ExtractStep
)

_SOURCES = ("path", "value", "template", "binary", "file")


class FileKeys(Model):
    """The keys of a DAM file object (``file`` sources): where its URL, name, size... are."""

    url: str = "url"
    filename: str = "filename"
    mime_type: str = "mime_type"
    size: str = "size"
    checksum: str = "checksum"


class ValueSource(Model):
    """Where one attribute value comes from, and how it is shaped before conversion."""

    path: str | None = None
    value: ConstantValue | None = None
    template: str | None = None
    binary: bool = False
    file: str | None = None
    file_keys: FileKeys = FileKeys()
    transform: list[TransformStep] = []
    locale: str | None = None
    locales: dict[str, str] = {}
    options: dict[str, str] = {}
    option_labels: str | None = None
    decimal_separator: Literal[".", ","] = "."
    required: bool = False

    check_path = field_validator("path", "file", "option_labels")(_check_path)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            parse_template(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `title = "metadata.title"` is short for `title = { path = "metadata.title" }`.
        return {"path": data} if isinstance(data, str) else data

    def sources(self) -> list[str]:
        """
        Name the sources that are set.

        Returns:
            Some of ``path``, ``value``, ``template``, ``binary``, ``file``.
        """
        given = (self.path, self.value, self.template, self.binary or None, self.file)
        return [name for name, v in zip(_SOURCES, given, strict=True) if v is not None]

    @model_validator(mode="after")
    def _one_source(self) -> ValueSource:
        if type(self) is ValueSource and len(self.sources()) != 1:
            raise ValueError("set exactly one of path, value, template, binary = true, file")
        return self


class AttributeRule(ValueSource):
    """
    A value source for one PIM attribute, with its channel: fixed, ``*`` or per channel.

    ``clear_missing`` overrides the family rule's: ``false`` never erases a value of this
    attribute that damsync wrote and the DAM no longer gives (fill-only).
    """

    channel: str | None = None
    channels: dict[str, ValueSource] = {}
    clear_missing: bool | None = None

    @model_validator(mode="after")
    def _one_source_or_channels(self) -> AttributeRule:
        own = self.sources()
        if self.channels:
            if own or self.channel is not None:
                raise ValueError("with channels, set the sources inside each channel only")
        elif len(own) != 1:
            raise ValueError(
                "set exactly one of path, value, template, binary = true, file, channels"
            )
        return self


class FamilyRule(Model):
    """
    Assets meeting ``match`` go to ``family``, with code ``code`` and these attributes.

    ``clear_missing`` (default true): a value damsync wrote that the DAM no longer gives is
    erased in the PIM; ``false`` keeps it (each attribute rule may say otherwise).
    """

    family: str
    match: Match = Match()
    code: str = "{id}"
    attributes: dict[str, AttributeRule] = {}
    clear_missing: bool = True
    product_links: list[ProductLinkRule] = []

    @field_validator("code")
    @classmethod
    def _code_template(cls, value: str) -> str:
        parse_template(value)
        return value


class SourceMapping(Model):
    """How one source's assets become PIM assets: family rules tried in order."""

    families: list[FamilyRule] = Field(min_length=1)
    unmatched: Literal["skip", "fail"] = "skip"
    create_missing_options: bool = False
    type_field: str = "metadata.type"
    path_field: str = "metadata.folder"
    tags_field: str = "metadata.tags"

    check_fields = field_validator("type_field", "path_field", "tags_field")(_check_path)


def load_mapping(data: Mapping[str, Any], *, prefix: str = "mapping") -> SourceMapping:
    """
    Validate a ``[sources.mapping]`` table.

    Args:
        data: The parsed TOML table.
        prefix: The config path of the table, used in error messages.

    Returns:
        The rules.

    Raises:
        ConfigError: every problem, each line naming its config path.
    """
    try:
        return SourceMapping.model_validate(data)
    except ValidationError as exc:
        lines = [f"{config_path(prefix, *e['loc'])}: {e['msg']}" for e in exc.errors()]
        error = ConfigError("\n".join(lines))
        error.key = config_path(prefix, *exc.errors()[0]["loc"]) if exc.errors() else prefix
        raise error from None


def config_path(prefix: str, *parts: str | int) -> str:
    """
    Spell a config path the way users read it: ``sources[0].mapping.families[1].code``.

    Args:
        prefix: Where the mapping table sits.
        parts: Keys (``str``) and list indexes (``int``).

    Returns:
        The dotted path with indexes in brackets.
    """
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


__all__ = [
    "AttributeRule",
    "DefaultStep",
    "ExtractStep",
    "FamilyRule",
    "FieldCondition",
    "FileKeys",
    "JoinStep",
    "Match",
    "SourceMapping",
    "SplitStep",
    "TransformStep",
    "ValueSource",
    "config_path",
    "load_mapping",
]
