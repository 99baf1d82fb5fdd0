"""
Reading one REST DAM item into a :class:`~daemon.core.records.DamAsset`, or into a precise error.

Pure: no I/O. Every refusal is a :class:`~daemon.core.errors.SourceAssetError` naming the asset id
(when readable), our field name and the dotted path in the DAM's record.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from daemon.core.errors import SourceAssetError
from daemon.core.records import BinaryRef, DamAsset
from daemon.settings.dam_sources import FieldPaths
from daemon.sources.fields import MISSING, parse_datetime, reader


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value
    if isinstance(value, list):
        value = value[0] if value else None
        return None if value is None else str(value)
    return str(value)


def _url_path(url: str | None) -> str | None:
    """The path of ``url`` to guess a type from; ``None`` when it cannot be split."""
    if not url:
        return None
    try:
        return urlsplit(url).path
    except ValueError:  # "http://[::1": the download reports it, naming the asset
        return None


class _Readers:
    """The paths of one :class:`FieldPaths`, each compiled once into a reader."""

    __slots__ = (
        "binary_url",
        "checksum",
        "deleted",
        "filename",
        "id",
        "metadata",
        "mime_type",
        "paths",
        "size",
        "updated_at",
    )

    def __init__(self, paths: FieldPaths) -> None:
        self.paths = paths  # kept: its id() is the cache key
        self.id = reader(paths.id)
        self.updated_at = reader(paths.updated_at)
        self.deleted = reader(paths.deleted.path if paths.deleted is not None else None)
        self.metadata = reader(paths.metadata)
        self.binary_url = reader(paths.binary_url)
        self.filename = reader(paths.filename)
        self.mime_type = reader(paths.mime_type)
        self.size = reader(paths.size)
        self.checksum = reader(paths.checksum)


_READERS: dict[int, _Readers] = {}
_READERS_LIMIT = 64


def _readers(paths: FieldPaths) -> _Readers:
    """The readers of ``paths``, compiled on first use (a source reads with the same paths)."""
    found = _READERS.get(id(paths))
    if found is not None and found.paths is paths:
        return found
    if len(_READERS) >= _READERS_LIMIT:
        _READERS.clear()
    found = _READERS[id(paths)] = _Readers(paths)
    return found


def _optional(value: Any) -> Any:
    return None if value is MISSING else value


def _error(
    asset_id: str | None, source: str, field: str, path: str, reason: str
) -> SourceAssetError:
    return SourceAssetError(asset_id=asset_id, field=field, path=path, reason=reason, source=source)


def parse_item(raw: Any, paths: FieldPaths, *, source: str, download: bool) -> DamAsset:
    """
    Turn one raw item into an asset.

    Args:
        raw: The parsed JSON item.
        paths: Where each field is.
        source: Source name, for errors.
        download: A per-asset download endpoint resolves the binary, so no URL is needed.

    Returns:
        The asset.

    Raises:
        SourceAssetError: the first unusable field.
    """
    # Exact types first (parsed JSON): the ABC checks cost more than the rest of a field.
    if type(raw) is not dict and not isinstance(raw, Mapping):
        reason = f"item is not a JSON object but {type(raw).__name__}"
        raise _error(None, source, "id", paths.id, reason)
    read = _readers(paths)
    raw_id = read.id(raw)
    if raw_id is MISSING:
        raise _error(None, source, "id", paths.id, "missing")
    kind = type(raw_id)
    if kind is str:
        usable = raw_id != ""
    else:
        usable = kind is not bool and isinstance(raw_id, str | int) and str(raw_id) != ""
    if not usable:
        raise _error(None, source, "id", paths.id, f"not a usable id: {raw_id!r}")
    asset_id = raw_id if kind is str else str(raw_id)
    raw_when = read.updated_at(raw)
    if raw_when is MISSING:
        raise _error(asset_id, source, "updated_at", paths.updated_at, "missing")
    try:
        updated_at = parse_datetime(raw_when, paths.updated_at_format)
    except ValueError as exc:
        reason = f"unparseable date: {exc}"
        raise _error(asset_id, source, "updated_at", paths.updated_at, reason) from None
    deleted = False
    if paths.deleted is not None:
        flag = _optional(read.deleted(raw))
        if paths.deleted.equals is not None:
            deleted = flag == paths.deleted.equals
        else:
            deleted = flag is not None and flag in paths.deleted.truthy
    metadata = read.metadata(raw)
    if metadata is MISSING:
        raise _error(asset_id, source, "metadata", paths.metadata, "missing")
    if type(metadata) is not dict and not isinstance(metadata, Mapping):
        reason = f"not a JSON object: {type(metadata).__name__}"
        raise _error(asset_id, source, "metadata", paths.metadata, reason)
    binary = None if deleted else _binary(raw, read, asset_id, source, download=download)
    return DamAsset(
        id=asset_id, updated_at=updated_at, deleted=deleted, metadata=metadata, binary=binary
    )


def _binary(
    raw: Any, read: _Readers, asset_id: str, source: str, *, download: bool
) -> BinaryRef | None:
    paths = read.paths
    url: str | None = None
    if paths.binary_url is not None:
        value = _optional(read.binary_url(raw))
        if value is None and not download:
            raise _error(
                asset_id, source, "binary_url", paths.binary_url, "missing on a live asset"
            )
        if value is not None and not (isinstance(value, str) and value.strip()):
            reason = f"not a URL: {value!r}"
            raise _error(asset_id, source, "binary_url", paths.binary_url, reason)
        url = value
    elif not download:
        return None
    filename = _text(_optional(read.filename(raw)))
    mime = _text(_optional(read.mime_type(raw)))
    if mime is None:
        for name in (filename, _url_path(url)):
            if name and (guess := mimetypes.guess_type(name)[0]):
                mime = guess
                break
    size_raw = _optional(read.size(raw))
    size: int | None = None
    if type(size_raw) is int:
        size = size_raw  # the usual byte count: an int (a bool is no int here: type is exact)
    elif size_raw is not None:
        if isinstance(size_raw, bool) or not isinstance(size_raw, int | str):
            reason = f"not a byte count: {size_raw!r}"
            raise _error(asset_id, source, "size", str(paths.size), reason)
        try:
            size = int(size_raw)
        except ValueError:
            reason = f"not a byte count: {size_raw!r}"
            raise _error(asset_id, source, "size", str(paths.size), reason) from None
    if size is not None and size < 0:
        raise _error(asset_id, source, "size", str(paths.size), f"negative size {size}")
    checksum = _text(_optional(read.checksum(raw)))
    return BinaryRef(url=url, filename=filename, mime_type=mime, size=size, checksum=checksum)


__all__ = ["parse_item"]
