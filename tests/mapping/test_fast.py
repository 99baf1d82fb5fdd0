"""The fast steps and the fast hash give exactly what the reference mapping and encoding give."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.core.records import BinaryRef, DamAsset, PimAsset, PimValue
from daemon.mapping import Mapper, MappingFailed, MediaRequest, content_hash, load_mapping
from tests.mapping.factories import CHANNELS, FAMILIES, WHEN, attribute, family

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)

# Every shape of rule: plain, by locale (with and without renames), picked locale, "*",
# channels, transforms, options, numbers, booleans, dates, links, media, templates, required.
RULES: dict[str, Any] = {
    "create_missing_options": True,
    "families": [
        {
            "family": "packshots",
            "match": {"mime_type": ["image/*"]},
            "attributes": {
                "media": {"binary": True, "required": True},
                "title": {"path": "metadata.title", "transform": ["strip"], "required": True},
                "description": {"path": "metadata.text", "locales": {"en": "en_US"}},
                "tags": {"path": "metadata.tags", "transform": ["lower"]},
                "colour": {"path": "metadata.colour", "options": {"grey": "grey"}},
                "product_ref": {"template": "{metadata.sku}-{id}"},
                "width": {"path": "metadata.width"},
                "dam_url": {"path": "metadata.url"},
                "published": {"path": "metadata.flag", "transform": [{"default": False}]},
            },
        },
        {
            "family": "extra",
            "match": {"mime_type": ["application/*"]},
            "code": "x_{metadata.sku}",
            "attributes": {
                "media": {"binary": True, "locale": "*"},
                "title": {"path": "metadata.title", "locale": "fr_FR"},
                "notes": {"path": "metadata.text", "locale": "*", "transform": ["first"]},
                "day": {"path": "metadata.day"},
                "size": {
                    "channels": {
                        "ecommerce": {"path": "metadata.width"},
                        "print": {"path": "metadata.width"},
                    }
                },
                "short": {"path": "metadata.sku", "required": True, "channel": "*"},
            },
        },
    ],
}
EXTRA = family(
    "extra",
    attribute("media", "media_file", value_per_locale=True, max_file_size="0.001"),
    attribute("title", "text", value_per_locale=True),
    attribute("notes", "text", value_per_locale=True, max_characters=8),
    attribute("day", "date"),
    attribute("size", "number", value_per_channel=True, max_value="100"),
    attribute(
        "short",
        "text",
        value_per_channel=True,
        validation_rule="regexp",
        validation_regexp="/^[a-z]+$/i",
    ),
)

texts = st.one_of(
    st.sampled_from(["", " x ", "Red", "grey", "a\tb", "Zoë", "12", "yes"]), st.text(max_size=12)
)
scalars = st.one_of(
    st.none(),
    texts,
    st.booleans(),
    st.integers(-5, 300),
    st.floats(allow_nan=True),
    st.sampled_from(["2026-01-02", "1,5"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["en_US", "fr_FR", "de_DE", "en", "xx"]), scalars, max_size=4),
)


def _mostly(good: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
    """Draw from ``good`` nine times in ten, else from ``other``."""
    return st.sampled_from([good] * 9 + [other]).flatmap(lambda strategy: strategy)


# Mostly good values (so that most assets map), with any value now and then.
GOOD: dict[str, Any] = {
    "title": st.dictionaries(st.sampled_from(["en_US", "fr_FR", "de_DE", "en"]), texts, min_size=1),
    "text": st.dictionaries(st.sampled_from(["en_US", "fr_FR", "en", "xx"]), texts),
    "tags": st.lists(st.sampled_from(["summer", "Sale", "new", "Dark Red"]), max_size=3),
    "colour": st.sampled_from(["red", "Blue", "grey", "green"]),
    "sku": st.sampled_from(["abc", "SKU"]),
    "width": st.one_of(st.integers(0, 150), st.sampled_from(["12.5", "7"])),
    "url": st.sampled_from(["https://dam.example/a.png", "files/b.png"]),
    "flag": st.one_of(st.booleans(), st.sampled_from(["yes", "off"])),
    "day": st.sampled_from(["2026-01-02", "2026-01-02T10:00:00+02:00"]),
}
# A missing key reads as None, which `values` gives.
metadata = st.fixed_dictionaries({k: _mostly(good, values) for k, good in GOOD.items()})
binaries = _mostly(
    st.builds(
        BinaryRef,
        url=st.sampled_from(["https://dam.example/f/1.png", "https://cdn.other/2.png?sig=s"]),
        filename=st.sampled_from(["a.png", "b.JPG", "c.gif", "noext", None]),
        mime_type=st.sampled_from(["image/png", "application/pdf"]),
        size=st.one_of(st.none(), st.integers(0, 1200)),
        checksum=st.one_of(st.none(), st.just("c" * 64)),
    ),
    st.none(),
)
assets = st.builds(
    DamAsset,
    id=st.sampled_from(["a1", "b/2", "Café"]),
    updated_at=st.just(WHEN),
    metadata=metadata,
    binary=binaries,
)


def _mappers() -> tuple[Mapper, Mapper]:
    """The same rules compiled for the fast steps and for the reference."""
    families = {**FAMILIES, "extra": EXTRA}
    rules = load_mapping(RULES)
    return Mapper(rules, families, CHANNELS), Mapper(rules, families, CHANNELS, fast=False)


FAST, REFERENCE = _mappers()


@settings(max_examples=250, deadline=None)
@given(assets)
def test_fast_steps_equal_the_reference(asset):
    """On any asset, the fast steps give exactly the reference's result, errors included."""
    assert _comparable(REFERENCE.map_asset(asset)) == _comparable(FAST.map_asset(asset))


def _comparable(result: Any) -> Any:
    """The result with its errors (exceptions compare by identity) as plain tuples."""
    if isinstance(result, MappingFailed):
        errors = [(e.asset_id, e.field, e.reason, e.details) for e in result.errors]
        return (result.asset_id, result.family, errors)
    return result


def _reference_hash(asset: PimAsset, media_ids: dict[MediaRequest, Any]) -> str:
    """The canonical hash written the plain way: rows sorted, then one JSON encoding."""
    rows = []
    for attr, vals in asset.values.items():
        for v in vals:
            data = media_ids.get(v.data) if isinstance(v.data, MediaRequest) else v.data
            rows.append((attr, v.locale or "", v.channel or "", data))
    rows.sort(key=itemgetter(0, 1, 2))
    text = _ENCODER.encode([asset.family, asset.code, rows])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


data = st.one_of(
    st.text(),
    st.booleans(),
    st.integers(),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.one_of(st.text(), st.integers(), st.none())),
)
pim_values = st.builds(
    PimValue,
    data,
    st.one_of(st.none(), st.text(max_size=3)),
    st.one_of(st.none(), st.text(max_size=3)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=5),
    st.text(max_size=5),
    st.dictionaries(st.text(max_size=4), st.lists(pim_values, max_size=3), max_size=4),
)
def test_hash_equals_the_plain_encoding(family_code, code, values):
    """The hash equals the SHA-256 of the plain canonical JSON for any values."""
    asset = PimAsset(family_code, code, values)
    assert _reference_hash(asset, {}) == content_hash(asset)


def test_hash_of_media_placeholders_uses_their_identity():
    """A media placeholder hashes as the identity it is given, like the plain encoding."""
    request = MediaRequest("media", None, None, BinaryRef(url="u", checksum="c"))
    asset = PimAsset("f", "c", {"media": (PimValue(request),)})
    ids = {request: {"checksum": "c"}}
    assert _reference_hash(asset, ids) == content_hash(asset, ids)
    assert content_hash(asset, ids) != content_hash(replace(asset, code="d"), ids)


class _Text(str):
    """A str subclass: written as text by both encoders."""


nested = st.recursive(
    st.one_of(
        st.text(),
        st.booleans(),
        st.none(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([None, "", "x"]), nested)))
def test_hash_equals_the_plain_encoding_for_nested_data(rows):
    """Floats, integers past 64 bits, nested objects and lists hash as the plain encoding."""
    values: dict[str, list[PimValue]] = {}
    for attr, locale, data in rows:
        values.setdefault(attr, []).append(PimValue(data, locale))
    asset = PimAsset("f", "c", values)
    assert _reference_hash(asset, {}) == content_hash(asset)


@pytest.mark.parametrize(
    "data",
    [
        1e-05,  # orjson would write 0.00001
        1e16,
        -0.0,
        2**64,  # past what orjson writes
        -(2**63) - 1,
        2**63,
        {"b": 1, "a": [1, {"d": None, "c": True}], "\U0001f600": "x", "\uffff": "y", "é": "z"},
        {1: "x"},  # a key that is no string: the plain encoder writes it as "1"
        ['\x00\x1f\x7f\u2028\u2029"\\', "naïve"],
        _Text("text"),
        ("a", 1),
    ],
)
def test_hash_equals_the_plain_encoding_for_unusual_data(data):
    """What orjson writes otherwise, or not at all, is written by the standard encoder."""
    asset = PimAsset("f", "c", {"a": (PimValue(data),), "b": (PimValue("x", "en"),)})
    assert _reference_hash(asset, {}) == content_hash(asset)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("\ud800", UnicodeEncodeError),  # a lone surrogate cannot be UTF-8
        (float("nan"), ValueError),
        (datetime(2026, 1, 1, tzinfo=UTC), TypeError),
    ],
)
def test_hash_of_unwritable_data_fails_as_the_plain_encoding_does(data, error):
    """Data the canonical text cannot hold fails the same way as before, never hashed otherwise."""
    asset = PimAsset("f", "c", {"a": (PimValue(data),)})
    with pytest.raises(error):
        _reference_hash(asset, {})
    with pytest.raises(error):
        content_hash(asset)


def test_hash_sorts_values_within_an_attribute_by_scope_stably():
    """Rows sort by (attribute, locale, channel); equal scopes keep their order."""
    values = {
        "t": (PimValue("2", "fr", "p"), PimValue("1", "de"), PimValue("3", "fr", "p")),
        "a": (PimValue("z", None, "e"), PimValue("y", "", "")),
    }
    asset = PimAsset("f", "c", values)
    assert _reference_hash(asset, {}) == content_hash(asset)
