"""
The naming convention of an asset family, run by the PIM simulator when an asset is created.

From the reference: the source is the asset ``code`` or the main media value (a media file's
original filename, a media link's data) for the convention's locale/channel; the ``pattern``
(PCRE with named groups) is matched against it, and each named group fills the non-localizable,
non-scopable attribute of the same code. It runs only at creation. When it fails (no source,
no match, an extracted value the attribute refuses), ``abort_asset_creation_on_error: true``
refuses the asset with 422 ``Error during naming convention execution: ...``; otherwise the
asset is created without the values that failed.

Simulator choices: values the PATCH body sends for an attribute win over extracted ones, and
empty groups extract nothing.
"""

from __future__ import annotations

import re

from daemon.sim.pim.family_structure_checks import compile_pcre
from daemon.sim.pim.http_errors import ApiError
from daemon.sim.pim.state import Family, PimState
from daemon.sim.pim.validation import Values, validate_asset

ERROR_PREFIX = "Error during naming convention execution: "


class NamingConventionError(Exception):
    """The convention could not run for one asset (the text says why)."""


def naming_convention_values(state: PimState, family: Family, code: str, patch: Values) -> Values:
    """
    Values the family's naming convention adds to an asset being created.

    Args:
        state: the PIM (uploaded files, locales).
        family: the asset's family.
        code: the new asset's code.
        patch: the validated values of the creating PATCH.

    Returns:
        Extra values to merge (attribute -> one value without locale/channel); empty when the
        family has no convention or when it failed without ``abort_asset_creation_on_error``.
    """
    convention = family.naming_convention
    if not convention or not convention.get("pattern"):
        return {}
    try:
        return _extract(state, family, code, patch)
    except NamingConventionError as exc:
        if convention.get("abort_asset_creation_on_error"):
            raise ApiError(422, f"{ERROR_PREFIX}{exc}") from exc
        return {}


def _extract(state: PimState, family: Family, code: str, patch: Values) -> Values:
    convention = family.naming_convention
    source = _source(state, family, code, patch)
    try:
        compiled = compile_pcre(str(convention["pattern"]))
    except (re.error, ValueError) as exc:
        raise NamingConventionError(f"the pattern is not valid: {exc}") from exc
    found = compiled.search(source)
    if found is None:
        raise NamingConventionError(
            f'the value "{source}" does not match the pattern "{convention["pattern"]}".'
        )
    extra: Values = {}
    for group, value in found.groupdict().items():
        if not value or group not in family.attributes:
            continue
        sent = patch.get(group, [])
        if any(v["locale"] is None and v["channel"] is None for v in sent):
            continue
        item = {"locale": None, "channel": None, "data": value}
        try:
            validate_asset(state, family, {"values": {group: [item]}})
        except ApiError as exc:
            details = "; ".join(e["message"] for e in exc.errors or []) or exc.message
            raise NamingConventionError(
                f'the value "{value}" extracted for "{group}" is not valid: {details}'
            ) from exc
        extra[group] = [item]
    return extra


def _source(state: PimState, family: Family, code: str, patch: Values) -> str:
    where = family.naming_convention.get("source") or {}
    prop = where.get("property")
    if prop == "code":
        return code
    definition = family.attributes.get(str(prop))
    value = next(
        (
            v["data"]
            for v in patch.get(str(prop), [])
            if v["locale"] == where.get("locale") and v["channel"] == where.get("channel")
        ),
        None,
    )
    if definition is None or value is None:
        raise NamingConventionError(f'the source "{prop}" has no value.')
    if definition["type"] == "media_file":
        stored = state.media.get(str(value))
        return stored.filename if stored is not None else str(value)
    return str(value)
