"""
The records every PAM reader yields, whatever its input (``pam-migration.md`` §10.1).

:class:`PamAsset` is one legacy asset: its properties, its reference files per locale
(``None`` for a non-localizable asset) and its variation files per (channel, locale). A
:class:`PamFile` names the binary by its storage key and says where to get it: a download URL
(API mode) or a path under the binaries directory (file mode). What the reader noticed about an
asset (a duplicated tag, a file missing from the directory, a list the export cut) travels with
it as :class:`PamNote` lines; an input row that cannot become an asset at all is a
:class:`PamSkip`. Nothing is dropped without one of the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

#: Asset, tag, category and option codes (§1, §3.5).
CODE_RULE = re.compile(r"^[a-zA-Z0-9_]+$")
#: A storage key: four one-character folders, a 40-hex hash, ``_``, the sanitised name (§1).
FILE_KEY = re.compile(r"^(?:[0-9a-f]/){4}([0-9a-f]{40})_(.+)$")

NoteKind = Literal[
    "duplicate_codes",
    "truncated_list",
    "empty_codes",
    "no_reference",
    "missing_file",
    "unreachable_reference",
    "conflict",
    "bad_value",
]


@dataclass(frozen=True, slots=True)
class PamNote:
    """
    One thing a reader noticed about an asset, as one line for the report.

    Args:
        kind: What it is (a closed set, for counting).
        field: The field or file concerned (``tags``, ``reference[en_US]``, ...).
        message: The line shown to the operator, ready to act on.
    """

    kind: NoteKind
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class PamFile:
    """
    One binary of a reference or a variation.

    Args:
        key: The legacy storage key (``7/5/8/e/<sha1>_<name>.<ext>``), as the API and CSV give it.
        url: Where to download it (API mode), else None.
        path: Where it is on disk (file mode), else None.
        original_name: The name to upload it under (the download's ``Content-Disposition`` in
            API mode; derived from the key in file mode, §4.3).
        size: Bytes, when known before reading it.
        checksum: SHA-256 of the content, when known before reading it (file mode).
    """

    key: str
    url: str | None = None
    path: str | None = None
    original_name: str | None = None
    size: int | None = None
    checksum: str | None = None

    @property
    def extension(self) -> str:
        """The lower-case extension of the key (``jpg``), or ``""``."""
        name = self.original_name or self.key
        stem, dot, ext = name.rpartition(".")
        return ext.lower() if dot and stem and "/" not in ext else ""


@dataclass(frozen=True, slots=True)
class PamAsset:
    """
    One legacy PAM asset, the same from the API and from the CSV exports.

    Args:
        code: The asset code, verbatim (product links depend on it).
        localizable: True, False, or None when the source does not say (no reference row).
        description: The description, None when empty.
        end_of_use: The date part of ``end_of_use_at``.
        tags: Tag codes, de-duplicated, in source order.
        categories: Category codes, de-duplicated, in source order.
        references: locale (None: not localizable) -> file.
        variations: (channel, locale or None) -> file.
        family: The ``family`` column of a family-by-family export, if any.
        notes: What the reader noticed.
    """

    code: str
    localizable: bool | None = None
    description: str | None = None
    end_of_use: date | None = None
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    references: Mapping[str | None, PamFile] = field(default_factory=dict)
    variations: Mapping[tuple[str, str | None], PamFile] = field(default_factory=dict)
    family: str | None = None
    notes: tuple[PamNote, ...] = ()

    def files(self) -> list[PamFile]:
        """Every file of the asset, references first."""
        return [*self.references.values(), *self.variations.values()]


@dataclass(frozen=True, slots=True)
class PamSkip:
    """
    An input row that could not become an asset.

    Args:
        where: The input and row (``assets.csv line 12``) or the API item.
        code: The asset code when one could be read.
        reason: Why, in words.
    """

    where: str
    code: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class PamCategory:
    """An asset category (§3.5): the tree is flattened by the migration, labels are kept."""

    code: str
    parent: str | None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LocalFile:
    """
    A binary ready to upload: on disk, hashed, with the name to upload it under.

    Args:
        path: Where it is.
        checksum: SHA-256 of the content.
        original_name: The file name for the upload (its extension sets the preview).
        mime_type: The type, when the source said.
        temporary: True for a downloaded copy the caller deletes after the upload.
    """

    path: str
    checksum: str
    original_name: str | None = None
    mime_type: str | None = None
    temporary: bool = False


#: What a reader yields, one per legacy asset (or per unreadable row).
PamRead = PamAsset | PamSkip


def unique_codes(
    raw: str | list[str] | tuple[str, ...], what: str
) -> tuple[tuple[str, ...], list[PamNote]]:
    """
    Split and de-duplicate a code list; empty codes are dropped (§9 "Empty codes").

    Args:
        raw: A comma-joined string (CSV) or a list (API).
        what: ``tags`` or ``categories``, for the notes.

    Returns:
        The codes in first-seen order, and the notes (duplicates, empties).
    """
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    notes: list[PamNote] = []
    stripped = [item.strip() for item in items]
    codes = tuple(dict.fromkeys(code for code in stripped if code))
    kept = [code for code in stripped if code]
    if len(kept) != len(codes):
        dupes = sorted({code for code in kept if kept.count(code) > 1})
        notes.append(
            PamNote(
                "duplicate_codes",
                what,
                f"{what}: repeated codes kept once ({', '.join(dupes)}): the export's join "
                "repeats them",
            )
        )
    if isinstance(raw, str) and raw.strip() and len(kept) != len(stripped):
        notes.append(PamNote("empty_codes", what, f"{what}: empty codes dropped"))
    return codes, notes


def name_from_key(key: str) -> str:
    """
    The best guess at a file's original name from its storage key (§4.3).

    Returns:
        The part after the 40-hex hash and its ``_`` (sanitised, extension kept), or the
        key's basename when it does not have that shape.
    """
    match = FILE_KEY.match(key)
    if match:
        return match.group(2)
    return key.rsplit("/", 1)[-1]


__all__ = [
    "CODE_RULE",
    "FILE_KEY",
    "LocalFile",
    "PamAsset",
    "PamCategory",
    "PamFile",
    "PamNote",
    "PamRead",
    "PamSkip",
    "name_from_key",
    "unique_codes",
]
