"""Builders for mapping tests: the PIM simulator's demo families, channels and DAM assets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from daemon.core.records import AssetAttribute, AssetFamily, BinaryRef, Channel, DamAsset
from daemon.mapping import Mapper, load_mapping

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CHANNELS = (
    Channel("ecommerce", ("en_US", "fr_FR", "de_DE")),
    Channel("print", ("en_US", "de_DE")),
)


def attribute(code: str, type_: str, **props: Any) -> AssetAttribute:
    """Build an attribute with the given properties."""
    return AssetAttribute(code=code, type=type_, **props)


def family(code: str, *attrs: AssetAttribute, options: Any = None) -> AssetFamily:
    """Build a family from attributes."""
    return AssetFamily(code=code, attributes={a.code: a for a in attrs}, options=options or {})


PACKSHOTS = family(
    "packshots",
    attribute("media", "media_file", media_type="image", allowed_extensions=("png", "jpg")),
    attribute("title", "text", value_per_locale=True, max_characters=255),
    attribute("description", "text", value_per_locale=True, is_textarea=True),
    attribute("tags", "multiple_options"),
    attribute("colour", "single_option"),
    attribute("product_ref", "text"),
    attribute("width", "number"),
    attribute("dam_url", "media_link", media_type="image", prefix="https://dam.example/"),
    attribute("published", "boolean"),
    options={
        "tags": frozenset({"summer", "sale", "new"}),
        "colour": frozenset({"red", "blue", "grey"}),
    },
)
NOTICES = family(
    "notices",
    attribute("media", "media_file", media_type="pdf", allowed_extensions=("pdf",)),
    attribute("title", "text", value_per_locale=True),
    attribute("product_ref", "text"),
)
FAMILIES = {"packshots": PACKSHOTS, "notices": NOTICES}


def image(asset_id: str = "a1", **metadata: Any) -> DamAsset:
    """A DAM simulator image item with full demo metadata, overridable per key."""
    meta: dict[str, Any] = {
        "title": {"en_US": "Running shoe", "fr_FR": "Chaussure", "de_DE": "Laufschuh"},
        "description": {"en_US": "Red shoe", "fr_FR": "Chaussure rouge", "de_DE": "Roter Schuh"},
        "tags": ["summer", "sale"],
        "sku": "SKU-00012",
        "product_skus": ["SKU-00012", "SKU-00013"],
        "colour": "red",
        "photographer": "Zoë Müller",
        "width": 1200,
        "height": 800,
        "published": True,
        "folder": "/catalog/shoes",
    }
    meta.update(metadata)
    binary = BinaryRef(
        url=f"https://dam.example/files/{asset_id}.png",
        filename=f"{asset_id}.png",
        mime_type="image/png",
        size=2048,
        checksum="c" * 64,
    )
    return DamAsset(id=asset_id, updated_at=WHEN, metadata=meta, binary=binary)


def pdf(asset_id: str = "d1") -> DamAsset:
    """A DAM simulator PDF item."""
    binary = BinaryRef(
        url="https://dam.example/d1.pdf", filename="d1.pdf", mime_type="application/pdf"
    )
    meta = {"title": {"en_US": "Data sheet", "fr_FR": "Fiche"}, "sku": "SKU-1"}
    return DamAsset(id=asset_id, updated_at=WHEN, metadata=meta, binary=binary)


def mapper(attributes: dict[str, Any], **mapping: Any) -> Mapper:
    """A mapper with one catch-all packshots rule holding these attribute rules."""
    rules = load_mapping(
        {"families": [{"family": "packshots", "attributes": attributes}], **mapping}
    )
    return Mapper(rules, FAMILIES, CHANNELS)


def with_binary(asset: DamAsset, **changes: Any) -> DamAsset:
    """The asset with some fields of its binary changed."""
    assert asset.binary is not None
    return replace(asset, binary=replace(asset.binary, **changes))


def binary_of(asset: DamAsset) -> BinaryRef:
    """The asset's binary, which the factories always set."""
    assert asset.binary is not None
    return asset.binary
