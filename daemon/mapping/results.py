"""
The records mapping hands to the sync engine, and the canonical content hash.

:class:`MappedAsset`, :class:`Unmatched` and :class:`MappingFailed` form the tagged union
:data:`MappingResult` (each has a ``kind``); :class:`MediaRequest` and :class:`MissingOption`
are the work the engine does before writing a mapped asset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, ClassVar, Literal

import orjson

from daemon.core.errors import MappingError
from daemon.core.records import BinaryRef, PimAsset


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """A binary the engine must upload, then put in ``attribute``/``locale``/``channel``."""

    attribute: str
    locale: str | None
    channel: str | None
    binary: BinaryRef


@dataclass(frozen=True, slots=True)
class MissingOption:
    """
    An option code the engine should create in the PIM before writing the asset.

    ``label`` is the DAM value it came from; ``labels`` the ``(locale, label)`` pairs to send
    (every active locale the DAM gives, else ``label`` in one locale). Empty: ``label`` in
    ``en_US``, as before labels had locales.
    """

    family: str
    attribute: str
    code: str
    label: str
    labels: tuple[tuple[str, str], ...] = ()


#: One value of a PIM asset: ``(attribute, locale, channel)``.
ValueKey = tuple[str, str | None, str | None]


@dataclass(frozen=True, slots=True)
class ManagedScope:
    """
    The values a family rule manages, found once per rule from the PIM structure.

    Args:
        erasable: Every (attribute, locale, channel) the PIM accepts for an attribute the rule
            maps with ``clear_missing`` on: damsync erases such a value it wrote once the DAM
            no longer gives it.
        kept: The same for attributes with ``clear_missing = false``: never erased.
    """

    erasable: frozenset[ValueKey] = frozenset()
    kept: frozenset[ValueKey] = frozenset()


_NO_SCOPE = ManagedScope()


@dataclass(frozen=True, slots=True, init=False)
class MappedAsset:
    """
    A mapped asset.

    Args:
        asset_id: The DAM id.
        asset: The PIM asset; ``media_file`` values hold their :class:`MediaRequest` as data
            until :func:`fill_media` puts the media file codes in.
        media: The binaries to upload.
        missing_options: Options to create first (only with ``create_missing_options``).
        content_hash: SHA-256 of the canonical family, code, values and media binaries.
        scope: The values its family rule manages (shared by every asset of the rule).
    """

    kind: ClassVar[Literal["mapped"]] = "mapped"
    asset_id: str
    asset: PimAsset
    media: tuple[MediaRequest, ...]
    missing_options: tuple[MissingOption, ...]
    content_hash: str
    scope: ManagedScope = ManagedScope()

    def __init__(
        self,
        asset_id: str,
        asset: PimAsset,
        media: tuple[MediaRequest, ...],
        missing_options: tuple[MissingOption, ...],
        content_hash: str,
        scope: ManagedScope = _NO_SCOPE,
    ) -> None:
        # The generated frozen __init__, through the slots' own setters: one per mapped asset.
        _MA_ID(self, asset_id)
        _MA_ASSET(self, asset)
        _MA_MEDIA(self, media)
        _MA_MISSING(self, missing_options)
        _MA_HASH(self, content_hash)
        _MA_SCOPE(self, scope)


_MA_ID, _MA_ASSET, _MA_MEDIA, _MA_MISSING, _MA_HASH, _MA_SCOPE = (
    MappedAsset.__dict__[name].__set__
    for name in ("asset_id", "asset", "media", "missing_options", "content_hash", "scope")
)


@dataclass(frozen=True, slots=True)
class Unmatched:
    """No family rule applies and the source says ``unmatched = "skip"``: skipped on purpose."""

    kind: ClassVar[Literal["unmatched"]] = "unmatched"
    asset_id: str
    reason: str = "no family rule matched"


@dataclass(frozen=True, slots=True)
class MappingFailed:
    """The asset cannot be mapped; ``errors`` holds every problem found, not only the first."""

    kind: ClassVar[Literal["failed"]] = "failed"
    asset_id: str
    family: str | None
    errors: tuple[MappingError, ...]


@dataclass(frozen=True, slots=True)
class AssetKey:
    """
    Where an asset lives in the PIM: its family and code, and the rule that placed it there.

    ``rule`` is the index of the family rule in the source's mapping: the key found when an
    asset is routed travels with it, so mapping never matches the rules a second time.
    """

    family: str
    code: str
    rule: int = field(default=-1, compare=False)


MappingResult = MappedAsset | Unmatched | MappingFailed
# Built once: constructing an encoder per call costs as much as a small encode.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _encoder() -> Callable[[Any], str]:
    """
    The canonical encoder, without what costs and never changes the text here.

    ``_CANONICAL.encode`` builds a C encoder and a circular-reference guard on every call;
    mapped data is parsed JSON and never circular, so the C encoder is built once, without the
    guard, from the same settings (the same text). Without the C accelerator, the plain encoder.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C accelerator
        return _CANONICAL.encode
    c = _CANONICAL
    fast = make(
        None,  # no circular-reference markers
        c.default,
        json.encoder.encode_basestring,  # what ensure_ascii=False uses
        c.indent,
        c.key_separator,
        c.item_separator,
        c.sort_keys,
        c.skipkeys,
        c.allow_nan,
    )
    return lambda value: "".join(fast(value, 0))


_encode = _encoder()


def content_hash(asset: PimAsset, media_ids: Mapping[MediaRequest, Any] | None = None) -> str:
    """
    Hash a PIM asset canonically: key order and value order within an attribute do not count.

    Args:
        asset: The asset, with :class:`MediaRequest` placeholders or media file codes as data.
        media_ids: What identifies each placeholder's binary (checksum, or url/size/time).

    Returns:
        64 hex digits.
    """
    return hash_values(asset, (media_ids or {}).get)


def _orjson_writes_alike(value: Any) -> bool:
    """
    Whether orjson writes ``value`` byte for byte as :data:`_CANONICAL` (checked by type).

    Strings, booleans, ``None`` and integers it writes alike (an integer past 64 bits and a
    lone surrogate it refuses, and the standard encoder takes them); a float it may write
    otherwise (``1e-05`` as ``0.00001``), so floats, subclasses and every other type go to the
    standard encoder. Keys of objects must be strings: both sort them by code point.
    """
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return True
    if kind is list or kind is tuple:
        for v in value:  # option codes: a list of strings, checked without a call each
            if type(v) is not str and not _orjson_writes_alike(v):
                return False
        return True
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or (type(v) is not str and not _orjson_writes_alike(v)):
                return False
        return True
    return False


#: A row's scope (locale or "", channel or ""): the order of the values of one attribute.
_SCOPE = itemgetter(1, 2)


def hash_values(asset: PimAsset, media_id: Callable[[MediaRequest], Any]) -> str:
    """
    :func:`content_hash`, with what identifies each media placeholder given by a function.

    The canonical text is ``[family, code, rows]``, rows ``[attribute, locale or "", channel
    or "", data]`` sorted by their first three (a stable sort: equal scopes keep their order),
    written by the standard encoder with sorted keys, no spaces and UTF-8 (pinned by
    ``tests/mapping/test_boundaries.py``). orjson writes the same bytes in a third of the
    time for the types it writes alike (:func:`_orjson_writes_alike`, checked per value);
    anything else is written by the standard encoder, so the hash never depends on which.

    Args:
        asset: The asset.
        media_id: The identity of a placeholder's binary.

    Returns:
        64 hex digits.
    """
    values = asset.values
    rows: list[tuple[str, str, str, Any]] = []
    append = rows.append
    alike = type(asset.family) is str and type(asset.code) is str
    # Attribute codes are distinct: sorting them, then each attribute's rows by scope
    # (stably), gives the rows in the order of one stable sort by (attribute, scope).
    for attr in sorted(values):
        start = len(rows)
        for v in values[attr]:
            data = v.data
            kind = type(data)
            if kind is not str and kind is not bool:
                if kind is MediaRequest:
                    data = media_id(data)
                if alike and not _orjson_writes_alike(data):
                    alike = False
            append((attr, v.locale or "", v.channel or "", data))
        if len(rows) - start > 1:
            rows[start:] = sorted(rows[start:], key=_SCOPE)
    document = [asset.family, asset.code, rows]
    if alike:
        try:
            return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
        except orjson.JSONEncodeError:
            pass  # an integer past 64 bits or a lone surrogate: the standard encoder decides
    return hashlib.sha256(_encode(document).encode("utf-8")).hexdigest()


__all__ = [
    "AssetKey",
    "ManagedScope",
    "MappedAsset",
    "MappingFailed",
    "MappingResult",
    "MediaRequest",
    "MissingOption",
    "Unmatched",
    "ValueKey",
    "content_hash",
    "hash_values",
]
