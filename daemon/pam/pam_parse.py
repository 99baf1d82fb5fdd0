"""
The legacy API's JSON turned into records, at the adapter: raw dicts stop here.

Tolerant where the reference says the server varies (§3.2): ``localizable`` or ``localized``,
a variation's channel under ``scope`` or ``channel``, ``end_of_use`` as ``+02:00`` or ``+0200``
(only the date matters), ``_link`` or ``_links`` on file entries. File entries the server left
out (no file) are simply absent. What cannot be read becomes a note on the asset, or a
:class:`PamSkip` when not even the code can be.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from daemon.pam.pam_records import (
    PamAsset,
    PamCategory,
    PamFile,
    PamNote,
    PamRead,
    PamSkip,
    unique_codes,
)


def _href(entry: Mapping[str, Any]) -> str | None:
    links = entry.get("_link") or entry.get("_links")
    if isinstance(links, dict):
        download = links.get("download")
        if isinstance(download, dict) and isinstance(download.get("href"), str):
            return str(download["href"])
    return None


def _locale(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and raw else None


def _end_of_use(raw: Any, notes: list[PamNote]) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            pass
    notes.append(
        PamNote(
            "bad_value", "end_of_use", f"end_of_use: {str(raw)[:40]!r} is not a date; left empty"
        )
    )
    return None


def _codes(raw: Any, what: str, notes: list[PamNote]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(code, str) for code in raw):
        notes.append(PamNote("bad_value", what, f"{what}: not a list of codes; left empty"))
        return ()
    codes, found = unique_codes(raw, what)
    notes.extend(found)
    return codes


def _entries(raw: Any, what: str, notes: list[PamNote]) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        notes.append(PamNote("bad_value", what, f"{what}: not a list; no file read"))
        return []
    good: list[Mapping[str, Any]] = [
        entry
        for entry in raw
        if isinstance(entry, dict) and isinstance(entry.get("code"), str) and entry["code"]
    ]
    if len(good) != len(raw):
        notes.append(
            PamNote(
                "bad_value",
                what,
                f"{what}: {len(raw) - len(good)} entry(ies) without a file code ignored",
            )
        )
    return good


def parse_asset(item: Any, where: str) -> PamRead:
    """
    One item of ``GET /api/rest/v1/assets`` as a record.

    Args:
        item: The decoded JSON item.
        where: Where it came from, for a skip line.

    Returns:
        The asset, or a :class:`PamSkip` when it has no readable code.
    """
    if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"]:
        return PamSkip(where, None, "an item without a code")
    code: str = item["code"]
    notes: list[PamNote] = []
    flag = item.get("localizable", item.get("localized"))
    localizable = flag if isinstance(flag, bool) else None
    references: dict[str | None, PamFile] = {}
    for entry in _entries(item.get("reference_files"), "reference_files", notes):
        locale = _locale(entry.get("locale"))
        references.setdefault(locale, PamFile(key=entry["code"], url=_href(entry)))
    variations: dict[tuple[str, str | None], PamFile] = {}
    for entry in _entries(item.get("variation_files"), "variation_files", notes):
        channel = entry.get("scope", entry.get("channel"))
        if not isinstance(channel, str) or not channel:
            notes.append(
                PamNote(
                    "bad_value",
                    "variation_files",
                    f"variation {entry['code']}: no channel; ignored",
                )
            )
            continue
        variations.setdefault(
            (channel, _locale(entry.get("locale"))), PamFile(key=entry["code"], url=_href(entry))
        )
    if localizable is None and references:
        localizable = any(locale is not None for locale in references)
    if localizable is not None:
        wrong = [locale for locale in references if (locale is None) == localizable]
        for locale in wrong:
            notes.append(
                PamNote(
                    "conflict",
                    f"reference[{locale or '-'}]",
                    f"reference[{locale or '-'}]: does not match "
                    f"localizable={localizable}; ignored",
                )
            )
            del references[locale]
    if not references:
        notes.append(
            PamNote(
                "no_reference",
                "reference",
                "no reference file: no reference row, or its file is missing "
                "(the API leaves it out)",
            )
        )
    description = item.get("description")
    return PamAsset(
        code=code,
        localizable=localizable,
        description=description if isinstance(description, str) and description else None,
        end_of_use=_end_of_use(item.get("end_of_use"), notes),
        tags=_codes(item.get("tags"), "tags", notes),
        categories=_codes(item.get("categories"), "categories", notes),
        references=references,
        variations=variations,
        notes=tuple(notes),
    )


def parse_category(item: Any) -> PamCategory | None:
    """One asset category, or None when it has no code."""
    if not isinstance(item, dict) or not isinstance(item.get("code"), str):
        return None
    labels = item.get("labels")
    parent = item.get("parent")
    return PamCategory(
        code=item["code"],
        parent=parent if isinstance(parent, str) else None,
        labels={str(k): str(v) for k, v in labels.items() if isinstance(v, str)}
        if isinstance(labels, dict)
        else {},
    )


__all__ = ["parse_asset", "parse_category"]
