"""
DAM files named in metadata (``file`` sources): several binaries per asset.

A ``file`` source points at one file, or at files keyed by locale (a localized manual, one
rendition per market). A file is a URL, or an object holding its URL and, when the DAM gives
them, its name, MIME type, size and checksum; ``file_keys`` says under which keys. Each file
becomes a :class:`~daemon.core.records.BinaryRef` marked ``derived`` (the source opens it at
its own URL, not as the asset's binary), that the engine downloads and uploads as it does the
asset's own binary: once per distinct binary (by checksum), whatever the number of
values it fills. Per channel, a rule's ``channels`` gives each channel its own ``file`` path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from daemon.core.records import BinaryRef
from daemon.mapping.convert import show
from daemon.mapping.paths import ValueProblem
from daemon.mapping.rules import FileKeys

FileReader = Callable[[Any], BinaryRef]

#: URL schemes the sources download from; a relative URL is joined to the DAM's base URL.
_SCHEMES = frozenset({"", "http", "https"})


def is_file(raw: Any, keys: FileKeys) -> bool:
    """
    Tell a file from an object keyed by locale.

    Args:
        raw: A value read at a ``file`` path.
        keys: The rule's ``file_keys``.

    Returns:
        ``True`` for a URL string or an object holding the URL key.
    """
    return isinstance(raw, str) or (isinstance(raw, Mapping) and keys.url in raw)


def _filename(url: str) -> str | None:
    path = urlsplit(url).path
    name = unquote(path.rsplit("/", 1)[-1]) if path else ""
    return name or None


def _size(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueProblem(f"the file's {key!r} is not a byte count: {show(value)}")


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueProblem(f"the file's {key!r} is not text: {show(value)}")
    return value.strip() or None


def file_reader(keys: FileKeys) -> FileReader:
    """
    Build the reader of one rule's files.

    Args:
        keys: Where a file object holds its URL, name, MIME type, size and checksum.

    Returns:
        A function turning one file (URL or object) into a binary reference; it raises
        :class:`~daemon.mapping.paths.ValueProblem` naming what is wrong.
    """

    def read(raw: Any) -> BinaryRef:
        if isinstance(raw, str):
            url: Any = raw
            fields: Mapping[str, Any] = {}
        elif isinstance(raw, Mapping):
            url, fields = raw.get(keys.url), raw
        else:
            raise ValueProblem(
                f"expected a file (a URL, or an object with the key {keys.url!r}), got {show(raw)}"
            )
        if not isinstance(url, str) or not url.strip():
            raise ValueProblem(f"the file has no URL (key {keys.url!r})")
        url = url.strip()
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:
            raise ValueProblem(f"the file URL {show(url)} cannot be read") from None
        if scheme not in _SCHEMES:
            raise ValueProblem(f"the file URL scheme {scheme!r} is not http or https")
        return BinaryRef(
            url=url,
            filename=_text(fields, keys.filename) or _filename(url),
            mime_type=_text(fields, keys.mime_type),
            size=_size(fields.get(keys.size), keys.size),
            checksum=_text(fields, keys.checksum),
            derived=True,
        )

    return read


__all__ = ["FileReader", "file_reader", "is_file"]
