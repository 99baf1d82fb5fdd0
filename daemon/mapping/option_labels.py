"""
The labels of an option damsync creates, in every active locale the DAM gives (``option_labels``).

The rule's ``option_labels`` path reads, per asset, either

- an object keyed by locale (``{"en_US": "Teal", "fr_FR": "Sarcelle"}``): the labels of the one
  option of a ``single_option`` value (it may be the value itself, read with ``locale`` to pick
  the label the code comes from), or
- an object keyed by DAM value, each an object keyed by locale
  (``{"Teal": {"en_US": "Teal", "fr_FR": "Sarcelle"}}``): labels per option, for
  ``multiple_options`` too.

Locale keys go through the rule's ``locales`` renames; locales the PIM has not active are left
out, as are empty labels. Without labels (no path, or nothing usable for this option) the option
gets the DAM label in one locale (:func:`fallback_locale`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

#: The locale of a label without a locale, when the PIM has it active.
DEFAULT_LABEL_LOCALE = "en_US"

Labels = tuple[tuple[str, str], ...]


def fallback_locale(active: Collection[str]) -> str:
    """
    The locale of an option label the DAM gives without a locale.

    Args:
        active: Every active locale of the PIM.

    Returns:
        ``en_US`` when active (or when no locale is known), else the first active locale.
    """
    if not active or DEFAULT_LABEL_LOCALE in active:
        return DEFAULT_LABEL_LOCALE
    return sorted(active)[0]


def _by_locale(
    raw: Mapping[Any, Any], renames: Mapping[str, str], active: Collection[str]
) -> Labels:
    out: dict[str, str] = {}
    for key, text in raw.items():
        locale = renames.get(str(key), str(key))
        if locale in active and isinstance(text, str) and text.strip():
            out.setdefault(locale, text.strip())
    return tuple(sorted(out.items()))


def localized_labels(
    raw: Any,
    dam_label: str,
    *,
    single: bool,
    renames: Mapping[str, str],
    active: Collection[str],
) -> Labels:
    """
    The labels of one option to create, from what the ``option_labels`` path gave.

    Args:
        raw: The value read at the path for this asset (any shape; unusable shapes give none).
        dam_label: The DAM value the option code came from.
        single: The attribute holds one option (``single_option``): a flat object keyed by
            locale is that option's labels.
        renames: DAM locale key -> PIM locale (the rule's ``locales``).
        active: The PIM's active locales.

    Returns:
        ``(locale, label)`` pairs sorted by locale; empty when the DAM gave none usable.
    """
    if not isinstance(raw, Mapping) or not raw:
        return ()
    if any(isinstance(v, Mapping) for v in raw.values()):  # keyed by DAM value
        entry = raw.get(dam_label)
        if entry is None:
            folded = dam_label.casefold()
            entry = next((v for k, v in raw.items() if str(k).casefold() == folded), None)
        return _by_locale(entry, renames, active) if isinstance(entry, Mapping) else ()
    if single:
        return _by_locale(raw, renames, active)
    return ()


__all__ = ["DEFAULT_LABEL_LOCALE", "Labels", "fallback_locale", "localized_labels"]
