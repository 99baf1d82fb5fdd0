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
    """An option code the engine should create in the PIM before writing the asset."""

    family: str
    attribute: str
    code: str
    label: str


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


@dataclass(frozen=True, slots=True)
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
_ROW_KEY = itemgetter(0, 1, 2)
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


def hash_values(asset: PimAsset, media_id: Callable[[MediaRequest], Any]) -> str:
    """
    :func:`content_hash`, with what identifies each media placeholder given by a function.

    Args:
        asset: The asset.
        media_id: The identity of a placeholder's binary.

    Returns:
        64 hex digits.
    """
    rows = []
    for attr, vals in asset.values.items():
        for v in vals:
            data = v.data
            if type(data) is MediaRequest:
                data = media_id(data)
            rows.append((attr, v.locale or "", v.channel or "", data))
    rows.sort(key=_ROW_KEY)
    canonical = _encode([asset.family, asset.code, rows])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
