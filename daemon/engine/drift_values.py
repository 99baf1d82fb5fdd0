"""
What a reconcile compares per asset: the values of the keys damsync maps, hashed canonically.

A key is ``(attribute, locale, channel)``. The DAM side gives the keys the mapping fills now
(plus the keys damsync wrote before and now erases, which must be empty) and the hash of the
values it expects there; the PIM side hashes its own values of exactly those keys. Values
on other keys (attributes damsync does not map, locales it does not fill) never count, so an
edit there is never drift. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from daemon.core.records import PimAsset, PimValue
from daemon.mapping import MappedAsset, MediaRequest
from daemon.mapping.results import hash_values

Key = tuple[str, str | None, str | None]

#: What a media value is expected to hold when damsync knows no media code for it: never a
#: real media file code, so the asset reads as stale and a re-send puts the right one in.
UNKNOWN_MEDIA = "<no media code known>"

#: The media file code damsync wrote for one media value of the mapping, ``None`` if unknown.
MediaCodeOf = Callable[[MediaRequest], str | None]


def canonical(data: object) -> object | None:
    """
    ``data`` as compared: empty (``None``, ``""``, ``[]``) is no value, lists are unordered.

    The PIM drops an erased value and may return option codes in another order than sent.
    """
    if data is None or data == "" or data == []:
        return None
    if isinstance(data, list):
        return sorted(data, key=str)
    return data


def _sort_key(key: Key) -> tuple[str, str, str]:
    return key[0], key[1] or "", key[2] or ""


def keys_text(keys: Iterable[Key]) -> str:
    """The keys as stored in the spill: a sorted JSON list of ``[attribute, locale, channel]``."""
    unique = sorted(set(keys), key=_sort_key)
    return json.dumps([list(k) for k in unique], separators=(",", ":"))


def keys_of(text: str) -> frozenset[Key]:
    """The keys back from :func:`keys_text`."""
    return frozenset((str(a), _opt(loc), _opt(ch)) for a, loc, ch in json.loads(text))


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def values_hash(
    family: str,
    code: str,
    values: Mapping[str, Sequence[PimValue]],
    keys: Collection[Key],
    *,
    media: str | MediaCodeOf = UNKNOWN_MEDIA,
) -> str:
    """
    The canonical hash of ``values`` restricted to ``keys``.

    Args:
        family: The asset family.
        code: The asset code.
        values: The values by attribute (the PIM's, or the mapping's).
        keys: The keys compared; values on any other key are left out.
        media: What a media placeholder of the mapping stands for: its media file code, one
            for all, or a function giving each placeholder its own (``None``: unknown).

    Returns:
        64 hex digits, equal on both sides when the PIM holds what the mapping gives.
    """

    def code_of(request: MediaRequest) -> str:
        found = media(request) if callable(media) else media
        return found or UNKNOWN_MEDIA

    kept: dict[str, list[PimValue]] = {}
    for attribute, items in values.items():
        for value in items:
            if (attribute, value.locale, value.channel) not in keys:
                continue
            data = value.data
            data = code_of(data) if isinstance(data, MediaRequest) else canonical(data)
            if data is not None:
                kept.setdefault(attribute, []).append(PimValue(data, value.locale, value.channel))
    # Every placeholder was replaced above: the hash never asks for a media identity.
    return hash_values(PimAsset(family, code, kept), code_of)


def expected_of(mapped: MappedAsset, media_code: str | MediaCodeOf | None) -> tuple[str, str]:
    """
    The keys and the expected hash of one mapped asset.

    Args:
        mapped: What the mapping gives now, with its erasures: a value with ``None`` data is a
            key damsync manages and must erase (:func:`daemon.engine.erasures.plan_erasures`),
            so it is compared and expected empty.
        media_code: The media file code damsync wrote for the asset's binary, if known; or,
            with several media values (a file per locale, a rendition per channel), a function
            giving each media request its own code (:func:`daemon.engine.drift.dam_row`).

    Returns:
        ``(keys as text, hash)``.
    """
    asset = mapped.asset
    keys = {(a, v.locale, v.channel) for a, items in asset.values.items() for v in items}
    digest = values_hash(
        asset.family, asset.code, asset.values, keys, media=media_code or UNKNOWN_MEDIA
    )
    return keys_text(keys), digest


__all__ = [
    "UNKNOWN_MEDIA",
    "Key",
    "MediaCodeOf",
    "canonical",
    "expected_of",
    "keys_of",
    "keys_text",
    "values_hash",
]
