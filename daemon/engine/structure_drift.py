"""
What the PIM's refusal of one asset means: our cached family structure is out of date (drift,
retried once the family is read again), or the PIM refuses the value itself (permanent).

Decided from the documented shape of the answer (akeneo-api.md §4.4, §4.5, §7) and our cached
copy of the family, never from the wording of a message:

- the bulk request answered 404: on that endpoint only the asset family itself can be missing;
- an ``errors[]`` entry names one of the values we sent (its ``attribute`` key, or a property
  path ``values.<attribute>[<index>].<leaf>``) of an attribute our copy has:

  - on the value's ``locale`` or ``channel``, the value being scoped as our copy says: the
    attribute's scope or the channels changed (drift, channels read again too);
  - on its data, for a type whose data the PIM checks only for its kind and, for options, their
    existence (options, boolean, date, media link), every option we sent being in our copy:
    an option was removed or the attribute's type changed (drift);
  - on the data of a text, number, media file or record: the PIM refuses the value itself (too
    long, out of range, file refused): a plain validation error;

- no ``errors[]`` and a message quoting (``"<code>"``) an attribute we sent and our copy has: the
  documented answer for an attribute not in the family, i.e. it was deleted (drift).

Anything else is a plain rejection. A copy read again after a drift suspicion and found unchanged
(:attr:`FamilyCopy.confirmed`) is not suspected again: the asset then fails for good.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from daemon.core.errors import (
    FieldError,
    PimNotFound,
    PimRejected,
    StructureDriftError,
    SyncError,
)
from daemon.core.records import AssetFamily, PimAsset, PimValue
from daemon.engine.seams import UpsertResult
from daemon.engine.structure_cache import FamilyCopy
from daemon.mapping.values import field_name

#: Types whose data the PIM checks only for its JSON kind and, for options, that they exist.
KIND_ONLY_TYPES = frozenset({"single_option", "multiple_options", "boolean", "date", "media_link"})
OPTION_TYPES = frozenset({"single_option", "multiple_options"})

# ``values.title[0].data`` (the JSON-schema paths of akeneo-api.md §7), ``values[title]``.
_VALUE_PATH = re.compile(
    r"^values(?:\.(?P<dotted>[A-Za-z0-9_]+)|\[(?P<bracketed>[A-Za-z0-9_]+)\])"
    r"(?:\[(?P<index>\d+)\])?(?:\.(?P<leaf>[A-Za-z_]+))?"
)
# Akeneo quotes the codes it names in a message: ``Attribute "foo" does not exist ...``.
_QUOTED_CODE = re.compile(r'"([A-Za-z0-9_]+)"')


@dataclass(frozen=True, slots=True)
class Verdict:
    """
    The fate of one refused asset.

    Args:
        error: What its failure row records: a :class:`StructureDriftError` (retried) or a
            permanent error.
        field: The value (``title[locale=en_US]``), ``family`` or property the answer names.
        drift: Our copy of the family is out of date: forget it.
        channels: The channels are in question too.
    """

    error: SyncError
    field: str
    drift: bool
    channels: bool = False


@dataclass(frozen=True, slots=True)
class _Named:
    """Values of ours that one ``errors[]`` entry names."""

    attribute: str
    values: tuple[PimValue, ...]
    leaf: str | None


def judge_rejection(
    dam_id: str, asset: PimAsset, result: UpsertResult, copy: FamilyCopy | None
) -> Verdict:
    """
    Tell drift from a plain rejection for one asset the PIM did not write.

    Args:
        dam_id: The DAM id (named in the failure line).
        asset: What we sent.
        result: The PIM's answer for it (not ``ok``; not an upstream-wide failure).
        copy: The cached copy the asset was mapped with (``None``: dropped meanwhile).

    Returns:
        The verdict; its error is one line naming the asset, the field and why.
    """
    who = f"asset {dam_id!r} ({asset.family}/{asset.code})"
    if isinstance(result.error, PimNotFound):
        reason = f"asset family {asset.family!r} is gone from the PIM"
        return _drift(who, asset, "family", reason, str(result.error), result, copy)
    if result.error is not None:
        return Verdict(result.error, "asset", drift=False)
    family = copy.family if copy is not None else None
    named = [n for e in result.errors if (n := _named(e, asset)) is not None]
    for item in named:
        why = _contradiction(item, family)
        if why is not None:
            channels = item.leaf in ("locale", "channel")
            pim = _pim_words(result)
            return _drift(who, asset, _field(item), why, pim, result, copy, channels)
    if not result.errors:
        for code in dict.fromkeys(_QUOTED_CODE.findall(result.message)):
            if code in asset.values and (family is None or code in family.attributes):
                reason = (
                    f"the PIM refused attribute {code!r}, which our copy of family "
                    f"{asset.family!r} has: it was deleted or recreated"
                )
                return _drift(who, asset, code, reason, _pim_words(result), result, copy)
    field = _field(named[0]) if named else _first_property(result.errors) or "asset"
    message = _one_line(result.message) or f"rejected (HTTP {result.status_code})"
    rejected = PimRejected(
        f"{who}, field {field!r}: {message}",
        errors=result.errors,
        status_code=result.status_code,
    )
    return Verdict(rejected, field, drift=False)


def _named(error: FieldError, asset: PimAsset) -> _Named | None:
    """The values of ours an ``errors[]`` entry names, or ``None`` when it names none."""
    if error.attribute is not None:
        attribute, index, leaf = error.attribute, None, None
    else:
        match = _VALUE_PATH.match(error.property)
        if match is None:
            return None
        attribute = match["dotted"] or match["bracketed"]
        index = int(match["index"]) if match["index"] is not None else None
        leaf = match["leaf"]
    sent = tuple(asset.values.get(attribute, ()))
    if not sent:
        return None  # not a value of ours (e.g. one the naming convention computed)
    if index is not None and index < len(sent):
        return _Named(attribute, (sent[index],), leaf)
    if error.attribute is not None:
        scoped = tuple(
            v
            for v in sent
            if (error.locale is None or v.locale == error.locale)
            and (error.channel is None or v.channel == error.channel)
        )
        return _Named(attribute, scoped or sent, leaf)
    return _Named(attribute, sent, leaf)


def _contradiction(item: _Named, family: AssetFamily | None) -> str | None:
    """Why the refusal of these values contradicts our copy, or ``None`` when it does not."""
    if family is None:
        # Another batch dropped the copy meanwhile, for drift: this refusal is likely the same.
        return f"the PIM refused attribute {item.attribute!r} while our copy was being renewed"
    attribute = family.attributes.get(item.attribute)
    if attribute is None:
        return None  # not in the copy the asset was mapped with: nothing to contradict
    if item.leaf in ("locale", "channel"):
        scoped = all(
            (v.locale is not None) == attribute.value_per_locale
            and (v.channel is not None) == attribute.value_per_channel
            for v in item.values
        )
        if not scoped:
            return None
        return (
            f"the PIM refused the {item.leaf} of a value scoped as our copy of attribute "
            f"{attribute.code!r} says: its scope or the channels changed"
        )
    if attribute.type not in KIND_ONLY_TYPES:
        return None
    if attribute.type in OPTION_TYPES:
        known = family.options.get(attribute.code, frozenset())
        sent = [c for v in item.values for c in _option_codes(v.data)]
        if not all(c in known for c in sent):
            return None
        shown = ", ".join(repr(c) for c in dict.fromkeys(sent))
        return (
            f"the PIM refused option {shown} of attribute {attribute.code!r}, which our copy "
            "has: the option was removed or the attribute's type changed"
        )
    return (
        f"the PIM refused a {attribute.type} value of attribute {attribute.code!r} that fits "
        "our copy: the attribute's type changed"
    )


def _option_codes(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list | tuple):
        return [str(c) for c in data]
    return []


def _drift(
    who: str,
    asset: PimAsset,
    field: str,
    reason: str,
    pim: str,
    result: UpsertResult,
    copy: FamilyCopy | None,
    channels: bool = False,
) -> Verdict:
    if copy is not None and copy.confirmed:
        # Read again after the last such refusal and unchanged: retrying would loop.
        message = (
            f"{who}, field {field!r}: refused although family {asset.family!r} was read again "
            f"after the same kind of refusal and has not changed, so this is no structure "
            f"change; PIM: {pim}"
        )
        rejected = PimRejected(_one_line(message), status_code=result.status_code)
        return Verdict(rejected, field, drift=False)
    message = f"{who}, field {field!r}: {reason}; the family is read again before the next try"
    drift = StructureDriftError(
        _one_line(f"{message}; PIM: {pim}"),
        field=field,
        errors=result.errors,
        status_code=result.status_code,
    )
    return Verdict(drift, field, drift=True, channels=channels)


def _pim_words(result: UpsertResult) -> str:
    """The PIM's own answer, in one line: its message, then each error's property and message."""
    detail = "; ".join(f"{e.property}: {e.message}" for e in result.errors)
    message = result.message or f"HTTP {result.status_code}"
    return f"{message} ({detail})" if detail else message


def _field(item: _Named) -> str:
    if len(item.values) == 1:
        return field_name(item.attribute, item.values[0].locale, item.values[0].channel)
    return item.attribute


def _first_property(errors: Sequence[FieldError]) -> str | None:
    return next((e.property for e in errors if e.property), None)


def _one_line(text: str) -> str:
    return " ".join(text.split())


__all__ = ["KIND_ONLY_TYPES", "Verdict", "judge_rejection"]
