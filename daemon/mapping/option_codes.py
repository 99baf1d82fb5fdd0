"""
Option codes of DAM labels, remembered across assets: the option converter's hot path.

:func:`remembered` wraps the converter's own label -> code function (which reports problems
and missing options) with a bounded memo; :func:`codes_of` reads the codes of a list of labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daemon.mapping.paths import text_of

#: (option code, label) of the options to create: ``daemon.mapping.convert.MissingSink``.
Sink = list[tuple[str, str]]
_MEMO_LIMIT = 4096

OptionCode = Callable[[Any, Sink, list[str]], str | None]


def remembered(one: OptionCode, known_codes: frozenset[str], create: bool) -> OptionCode:
    """
    Remember the labels that resolve to an option: labels repeat across assets.

    A label giving a known option is kept with its code; with ``create``, a label giving a
    missing option is kept with its code and its label, and reported as ``one`` reports it
    (once per value). A label giving a problem always runs ``one``. At most ``_MEMO_LIMIT``.
    """
    resolved: dict[str, tuple[str, str | None]] = {}

    def code_of(raw: Any, missing: Sink, problems: list[str]) -> str | None:
        if type(raw) is not str:
            return one(raw, missing, problems)
        hit = resolved.get(raw)
        if hit is None:
            size = len(missing)
            code = one(raw, missing, problems)
            if code is None or len(resolved) >= _MEMO_LIMIT:
                return code
            if code in known_codes:
                resolved[raw] = (code, None)
            elif create:
                # `one` reported it now, or found it reported already: the same label either way.
                given = missing[size][1] if len(missing) > size else text_of(raw).strip()
                resolved[raw] = (code, given)
            return code
        found, label = hit
        if label is not None and all(found != seen for seen, _ in missing):
            missing.append((found, label))
        return found

    return code_of


def codes_of(items: Any, code_of: OptionCode, missing: Sink, problems: list[str]) -> list[str]:
    """The option codes of the items, in order and each once; blank labels name no option."""
    codes: list[str] = []
    for raw in items:
        if raw is None or (type(raw) is str and not raw.strip()):
            continue
        code = code_of(raw, missing, problems)
        if code is not None and code not in codes:
            codes.append(code)
    return codes


__all__ = ["OptionCode", "Sink", "codes_of", "remembered"]
