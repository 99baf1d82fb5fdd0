"""
The records that cross component boundaries: frozen, slotted, no I/O.

- DAM side (made by ``sources/``, read by ``sync`` and ``mapping/``): :class:`DamAsset`,
  :class:`BinaryRef`, :class:`Cursor`, :class:`Window`, :class:`SourcePage`.
- PIM structure (made by ``pim/`` from the family endpoints, read by ``mapping/``):
  :class:`AssetAttribute`, :class:`AssetFamily`, :class:`Channel`.
- PIM writes (made by ``mapping/``, sent by ``pim/``): :class:`PimAsset`, :class:`PimValue`.

Datetimes are always timezone-aware UTC; constructors refuse naive ones so that a cursor can
never silently shift by the host's offset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from daemon.core.errors import SourceAssetError

#: The default of a mapping field: a fresh dict each time, as ``default_factory=dict`` gives.
_FRESH: Any = object()


def require_utc(value: datetime, what: str) -> datetime:
    """Return ``value`` in UTC; a naive datetime is a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


# --- DAM side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """
    The compound checkpoint ``(updated_at, id)``: both taken from source records, never a clock.

    Ordering is lexicographic, so ``Cursor(t, "b") > Cursor(t, "a")`` breaks timestamp ties.
    """

    updated_at: datetime
    id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "updated_at", require_utc(self.updated_at, "Cursor.updated_at"))


@dataclass(frozen=True, slots=True)
class Window:
    """
    A frozen half-open window ``[since, until)`` on the DAM's own clock.

    ``since`` is ``None`` for a first full read.
    """

    since: datetime | None
    until: datetime

    def __post_init__(self) -> None:
        if self.since is not None:
            object.__setattr__(self, "since", require_utc(self.since, "Window.since"))
        object.__setattr__(self, "until", require_utc(self.until, "Window.until"))
        if self.since is not None and self.since > self.until:
            raise ValueError(f"empty window: since {self.since} > until {self.until}")

    def contains(self, when: datetime) -> bool:
        return (self.since is None or when >= self.since) and when < self.until


@dataclass(frozen=True, slots=True, init=False)
class BinaryRef:
    """
    Where an asset's binary lives: a URL (REST DAMs) or a path (hot folders).

    ``derived`` marks a file named in the asset's metadata (a mapping's ``file`` source: a
    manual per locale, a rendition per channel), not the asset's own binary: the source opens
    it at its own URL or path, never through the asset's download endpoint or own file.
    """

    # Signed DAM URLs carry credentials in their query string: kept out of reprs.
    url: str | None = field(default=None, repr=False)
    path: str | None = None
    filename: str | None = None
    mime_type: str | None = None
    size: int | None = None
    checksum: str | None = None
    # How it is opened, not which file it is: left out of equality (one file, one transfer).
    derived: bool = field(default=False, compare=False)

    def __init__(
        self,
        url: str | None = None,
        path: str | None = None,
        filename: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
        checksum: str | None = None,
        derived: bool = False,
    ) -> None:
        # What the generated frozen __init__ does, through the slots' own setters (faster).
        _BIN_URL(self, url)
        _BIN_PATH(self, path)
        _BIN_FILENAME(self, filename)
        _BIN_MIME(self, mime_type)
        _BIN_SIZE(self, size)
        _BIN_CHECKSUM(self, checksum)
        _BIN_DERIVED(self, derived)


@dataclass(frozen=True, slots=True, init=False)
class DamAsset:
    """
    One asset as the DAM describes it.

    Args:
        id: The DAM's stable id.
        updated_at: Last modification on the DAM's clock, UTC.
        deleted: The DAM reports it deleted (tombstone, archive, trash).
        metadata: The DAM's metadata, as parsed JSON (nested mappings and lists).
        binary: The original binary, if any.
    """

    id: str
    updated_at: datetime
    deleted: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    binary: BinaryRef | None = None

    def __init__(
        self,
        id: str,
        updated_at: datetime,
        deleted: bool = False,
        metadata: Mapping[str, Any] = _FRESH,
        binary: BinaryRef | None = None,
    ) -> None:
        # The generated frozen __init__, through the slots' own setters: one per DAM item.
        _DAM_ID(self, id)
        if updated_at.tzinfo is not UTC:  # in UTC already (parsed dates are): as it is
            updated_at = require_utc(updated_at, "DamAsset.updated_at")
        _DAM_UPDATED_AT(self, updated_at)
        _DAM_DELETED(self, deleted)
        _DAM_METADATA(self, {} if metadata is _FRESH else metadata)
        _DAM_BINARY(self, binary)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.updated_at, self.id)


@dataclass(frozen=True, slots=True)
class SourcePage:
    """
    One page of changes: the good assets in ``(updated_at, id)`` order plus the bad records.

    A bad record never stops its page: it is reported in ``errors`` with the asset, field and
    path, and the engine records it as a failure.
    """

    assets: Sequence[DamAsset]
    errors: Sequence[SourceAssetError] = ()


# --- PIM structure --------------------------------------------------------------------------

AttributeType = Literal[
    "text",
    "media_link",
    "number",
    "media_file",
    "single_option",
    "multiple_options",
    "boolean",
    "date",
    "record",
    "auto_tagging",
]


@dataclass(frozen=True, slots=True)
class AssetAttribute:
    """An asset family attribute with the properties value conversion needs."""

    code: str
    type: str
    value_per_locale: bool = False
    value_per_channel: bool = False
    is_required_for_completeness: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    # text
    max_characters: int | None = None
    is_textarea: bool = False
    validation_rule: str | None = None
    validation_regexp: str | None = None
    # number
    decimals_allowed: bool = False
    min_value: str | None = None
    max_value: str | None = None
    # media
    media_type: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    allowed_extensions: tuple[str, ...] = ()
    max_file_size: str | None = None
    # record
    reference_entity: str | None = None


@dataclass(frozen=True, slots=True)
class AssetFamily:
    """An asset family with its attributes and the option codes of its option attributes."""

    code: str
    attributes: Mapping[str, AssetAttribute]
    options: Mapping[str, frozenset[str]] = field(default_factory=dict)
    attribute_as_main_media: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # The media value ``(attribute, locale, channel)`` whose original filename the family's
    # naming convention reads at asset creation; ``None``: it reads the code, or has none.
    naming_source: tuple[str, str | None, str | None] | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """A PIM channel and its active locales."""

    code: str
    locales: tuple[str, ...]


# --- PIM writes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class PimValue:
    """One asset value: all three keys are always sent, as the API requires."""

    data: Any
    locale: str | None = None
    channel: str | None = None

    def __init__(self, data: Any, locale: str | None = None, channel: str | None = None) -> None:
        # The generated frozen __init__, through the slots' own setters: about ten per asset.
        _PV_DATA(self, data)
        _PV_LOCALE(self, locale)
        _PV_CHANNEL(self, channel)

    def to_json(self) -> dict[str, Any]:
        return {"locale": self.locale, "channel": self.channel, "data": self.data}


@dataclass(frozen=True, slots=True, init=False)
class PimAsset:
    """An asset to upsert: its family, code and values by attribute code."""

    family: str
    code: str
    values: Mapping[str, Sequence[PimValue]] = field(default_factory=dict)

    def __init__(
        self, family: str, code: str, values: Mapping[str, Sequence[PimValue]] = _FRESH
    ) -> None:
        _PA_FAMILY(self, family)
        _PA_CODE(self, code)
        _PA_VALUES(self, {} if values is _FRESH else values)

    def to_json(self) -> dict[str, Any]:
        """The API's JSON object: fresh dicts and lists, the caller may change them."""
        # PimValue.to_json inlined, and no comprehension per attribute (a function call each
        # before Python 3.12): on the write path this runs for every value of every asset.
        values: dict[str, list[dict[str, Any]]] = {}
        for attr, vals in self.values.items():
            if len(vals) == 1:
                v = vals[0]
                values[attr] = [{"locale": v.locale, "channel": v.channel, "data": v.data}]
            else:
                values[attr] = [
                    {"locale": v.locale, "channel": v.channel, "data": v.data} for v in vals
                ]
        return {"code": self.code, "values": values}


def _setters(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    """The slot setters of a frozen class, for an ``__init__`` that does what the generated does."""
    return tuple(cls.__dict__[name].__set__ for name in names)


(_BIN_URL, _BIN_PATH, _BIN_FILENAME, _BIN_MIME, _BIN_SIZE, _BIN_CHECKSUM, _BIN_DERIVED) = _setters(
    BinaryRef, "url", "path", "filename", "mime_type", "size", "checksum", "derived"
)
_DAM_ID, _DAM_UPDATED_AT, _DAM_DELETED, _DAM_METADATA, _DAM_BINARY = _setters(
    DamAsset, "id", "updated_at", "deleted", "metadata", "binary"
)
_PV_DATA, _PV_LOCALE, _PV_CHANNEL = _setters(PimValue, "data", "locale", "channel")
_PA_FAMILY, _PA_CODE, _PA_VALUES = _setters(PimAsset, "family", "code", "values")


__all__ = [
    "AssetAttribute",
    "AssetFamily",
    "AttributeType",
    "BinaryRef",
    "Channel",
    "Cursor",
    "DamAsset",
    "PimAsset",
    "PimValue",
    "SourcePage",
    "Window",
    "require_utc",
]
