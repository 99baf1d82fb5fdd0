"""
Files per locale and per channel in the DAM simulator's metadata (``localized_files``).

With the option on, a live PDF's metadata holds ``manuals`` (one file per locale) and a live
image's holds ``renditions`` (one file per channel: ``web`` and ``print``), in the generic
file shape (``url``, ``filename``, ``mime_type``, ``size``, ``sha256``). Each file is one of the
asset's own binary versions, served by ``GET /generic/files/{id}/{version}`` (a relative URL:
the source joins it to its base URL): the current version for ``en_US`` and ``web``, the first
upload for the others. So an asset whose file never changed gives one binary in every value
(uploaded once), and a re-uploaded one gives two. Derived from the record alone, like the rest
of the metadata: the same record always gives the same files.
"""

from __future__ import annotations

from typing import Any

from daemon.sim.dam.binaries import EXTENSIONS, FileKind, render_binary
from daemon.sim.dam.stamps import asset_id

#: Where each locale's manual comes from: the current version (0) or the first upload (1).
MANUAL_VERSIONS = {"en_US": 0, "fr_FR": 1, "de_DE": 1}
#: Where each channel's rendition comes from, likewise.
RENDITION_VERSIONS = {"web": 0, "print": 1}


def _file(seed: int, num: int, kind: FileKind, version: int, name: str) -> dict[str, Any]:
    ident = asset_id(num)
    binary = render_binary(seed, ident, version, kind)
    return {
        "url": f"/generic/files/{ident}/{version}",
        "filename": f"{ident}_{name}_v{version}.{EXTENSIONS[kind]}",
        "mime_type": binary.mime_type,
        "size": binary.size,
        "sha256": binary.sha256,
    }


def localized_files(seed: int, num: int, kind: FileKind, file_version: int) -> dict[str, Any]:
    """
    The per-locale or per-channel files of one live asset version.

    Args:
        seed: The simulator's generation seed.
        num: The asset number.
        kind: Its file format.
        file_version: Its current binary version.

    Returns:
        ``{"manuals": {locale: file}}`` for a PDF, ``{"renditions": {channel: file}}`` else.
    """
    if kind == "pdf":
        key, versions = "manuals", MANUAL_VERSIONS
    else:
        key, versions = "renditions", RENDITION_VERSIONS
    return {
        key: {
            name: _file(seed, num, kind, file_version if first == 0 else 1, name)
            for name, first in versions.items()
        }
    }


__all__ = ["MANUAL_VERSIONS", "RENDITION_VERSIONS", "localized_files"]
