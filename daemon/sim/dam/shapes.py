"""
Renderers of the DAM simulator: one asset record as a generic item, a Bynder medium or a
Cloudinary resource, with each API's own field names and date formats.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from typing import Any

from daemon.sim.dam.binaries import EXTENSIONS, render_binary
from daemon.sim.dam.dataset import AssetRecord, DamStore, format_micro, from_us

BYNDER_BRAND_ID = "2D389252-91A2-4EFF-967F62ED8F25382C"
CLOUDINARY_FOLDER = "damsync"


def filename(record: AssetRecord) -> str:
    """
    Args:
        record: an asset.

    Returns:
        Its original file name, e.g. ``a-000123.png``.
    """
    return f"{record.id}.{EXTENSIONS[record.kind]}"


def generic_file_url(base_url: str, record: AssetRecord) -> str:
    """
    Args:
        base_url: the simulator's public base URL.
        record: an asset.

    Returns:
        The absolute URL of the asset's current binary version.
    """
    return f"{base_url}/generic/files/{record.id}/{record.file_version}"


def generic_item(store: DamStore, record: AssetRecord, base_url: str) -> dict[str, Any]:
    """
    Args:
        store: the DAM's state (for metadata and the seed).
        record: the asset.
        base_url: the simulator's public base URL.

    Returns:
        The item of ``GET /generic/assets`` (tombstones keep metadata, ``file`` is null).
    """
    file: dict[str, Any] | None = None
    if not record.deleted:
        binary = render_binary(store.seed, record.id, record.file_version, record.kind)
        file = {
            "url": generic_file_url(base_url, record),
            "filename": filename(record),
            "mime_type": binary.mime_type,
            "size": binary.size,
            "sha256": binary.sha256,
        }
    return {
        "id": record.id,
        "updated_at": format_micro(from_us(record.updated_us)),
        "deleted": record.deleted,
        "type": "pdf" if record.kind == "pdf" else "image",
        "version": record.version,
        "file": file,
        "metadata": store.metadata(record),
    }


def oracle_item(store: DamStore, record: AssetRecord, base_url: str) -> dict[str, Any]:
    """
    Args:
        store: the DAM's state.
        record: the asset.
        base_url: the simulator's public base URL.

    Returns:
        The generic item plus the internal counters tests use as an oracle.
    """
    item = generic_item(store, record, base_url)
    item["file_version"] = record.file_version
    item["created_at"] = format_micro(from_us(record.created_us))
    item["uploaded_at"] = format_micro(from_us(record.uploaded_us))
    return item


def seconds_z(stamp_us: int) -> str:
    """
    Args:
        stamp_us: microseconds since the epoch.

    Returns:
        Bynder's format, ``2017-05-31T13:10:21Z`` (seconds precision).
    """
    return from_us(stamp_us).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_offset(stamp_us: int) -> str:
    """
    Args:
        stamp_us: microseconds since the epoch.

    Returns:
        Cloudinary's format, ``2024-06-25T11:59:14+00:00`` (seconds precision).
    """
    return from_us(stamp_us).astimezone(UTC).replace(microsecond=0).isoformat()


def bynder_media(
    store: DamStore, record: AssetRecord, *, media_items: bool = False
) -> dict[str, Any]:
    """
    Args:
        store: the DAM's state.
        record: a live asset.
        media_items: add ``mediaItems`` (``includeMediaItems=true`` or ``versions=1``).

    Returns:
        The asset with Bynder's field names (dam-apis.md §1.2).
    """
    meta = store.metadata(record)
    binary = render_binary(store.seed, record.id, record.file_version, record.kind)
    item: dict[str, Any] = {
        "id": record.id,
        "idHash": hashlib.md5(
            f"{store.seed}:{record.id}".encode(), usedforsecurity=False
        ).hexdigest()[:16],
        "name": meta["title"]["en_US"],
        "type": "document" if record.kind == "pdf" else "image",
        "extension": [EXTENSIONS[record.kind]],
        "fileSize": binary.size,
        "width": meta["width"],
        "height": meta["height"],
        "dateCreated": seconds_z(record.created_us),
        "dateModified": seconds_z(record.updated_us),
        "datePublished": seconds_z(record.created_us),
        "archive": 0,
        "isPublic": 1 if meta["published"] else 0,
        "limited": 0,
        "watermarked": 0,
        "brandId": BYNDER_BRAND_ID,
        "tags": list(meta["tags"]),
        "propertyOptions": [],
        "description": meta["description"]["en_US"],
        "copyright": f"© {meta['photographer']}",
        "property_sku": [meta["sku"]],
        "property_product_skus": list(meta["product_skus"]),
        "property_colour": [meta["colour"]],
        "property_photographer": [meta["photographer"]],
        "property_folder": [meta["folder"]],
    }
    for field in ("title", "description"):
        for locale, text in meta[field].items():
            item[f"property_{field}_{locale}"] = [text]
    if media_items:
        item["mediaItems"] = [
            {
                "id": f"{record.id}-{record.file_version}",
                "version": record.file_version,
                "fileName": filename(record),
                "dateCreated": seconds_z(record.uploaded_us),
                "size": binary.size,
                "width": meta["width"],
                "height": meta["height"],
                "active": True,
                "type": "original",
            }
        ]
    return item


def cloudinary_asset_id(store: DamStore, record: AssetRecord) -> str:
    """
    Args:
        store: the DAM's state.
        record: an asset.

    Returns:
        Its stable 32-hex-digit ``asset_id``.
    """
    return hashlib.md5(f"{store.seed}:{record.id}".encode(), usedforsecurity=False).hexdigest()


def cloudinary_resource(
    store: DamStore, record: AssetRecord, base_url: str, cloud: str, with_fields: set[str]
) -> dict[str, Any]:
    """
    Args:
        store: the DAM's state.
        record: an asset.
        base_url: the simulator's public base URL (delivery URLs live under ``/res/``).
        cloud: the cloud name.
        with_fields: the request's ``with_field`` values (``tags``, ``context``, ``metadata``).

    Returns:
        The resource with Cloudinary's field names (dam-apis.md §2.2).
    """
    meta = store.metadata(record)
    binary = render_binary(store.seed, record.id, record.file_version, record.kind)
    fmt = EXTENSIONS[record.kind]
    version = record.uploaded_us // 1_000_000
    path = f"/res/{cloud}/image/upload/v{version}/{CLOUDINARY_FOLDER}/{record.id}.{fmt}"
    secure_url = base_url + path
    resource: dict[str, Any] = {
        "asset_id": cloudinary_asset_id(store, record),
        "public_id": f"{CLOUDINARY_FOLDER}/{record.id}",
        "asset_folder": CLOUDINARY_FOLDER,
        "filename": record.id,
        "display_name": meta["title"]["en_US"],
        "format": fmt,
        "version": version,
        "resource_type": "image",
        "type": "upload",
        "created_at": seconds_offset(record.created_us),
        "uploaded_at": seconds_offset(record.uploaded_us),
        "last_updated": {"updated_at": seconds_offset(record.updated_us)},
        "bytes": binary.size,
        "width": meta["width"],
        "height": meta["height"],
        "etag": binary.md5,
        "url": "http://" + secure_url.split("://", 1)[-1],
        "secure_url": secure_url,
        "status": "deleted" if record.deleted else "active",
        "access_mode": "public",
    }
    if "tags" in with_fields:
        resource["tags"] = list(meta["tags"])
    if "context" in with_fields:
        context = {"caption": meta["title"]["en_US"], "alt": meta["description"]["en_US"]}
        for field in ("title", "description"):
            for locale, text in meta[field].items():
                context[f"{field}_{locale}"] = text
        resource["context"] = context
    if "metadata" in with_fields:
        resource["metadata"] = {
            "sku": meta["sku"],
            "product_skus": list(meta["product_skus"]),
            "colour": meta["colour"],
            "photographer": meta["photographer"],
            "published": "true" if meta["published"] else "false",
            "folder": meta["folder"],
        }
    return resource


__all__ = [
    "BYNDER_BRAND_ID",
    "CLOUDINARY_FOLDER",
    "bynder_media",
    "cloudinary_asset_id",
    "cloudinary_resource",
    "filename",
    "generic_file_url",
    "generic_item",
    "oracle_item",
    "seconds_offset",
    "seconds_z",
]
