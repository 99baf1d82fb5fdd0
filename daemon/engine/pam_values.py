"""
**What each PAM asset becomes**: its target family's values, or the reason it is skipped; pure.

Values follow ``pam-migration.md`` §7 with the family's roles: a non-localizable reference goes
to ``reference`` (no locale, no channel), localizable ones to ``reference_localizable`` per
locale, variations to ``variation_scopable`` per channel or ``variation_localizable_scopable``
per (locale, channel); the description as text, tags and categories as options (only the codes
the decision accepts) or comma-joined text, ``end_of_use`` as ``YYYY-MM-DD`` (or a date). Media
values carry the :class:`~daemon.pam.pam_records.PamFile` until the write path uploads it.
Anything left out of an asset is a note on it, for the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from daemon.engine.pam_strategy import FamilyPlan, PamOptions, Role
from daemon.pam.pam_records import CODE_RULE, PamAsset, PamFile, PamNote

Data = str | tuple[str, ...] | PamFile


@dataclass(frozen=True, slots=True)
class TargetValue:
    """One value of the target asset: attribute, locale, channel and data."""

    attribute: str
    locale: str | None
    channel: str | None
    data: Data


@dataclass(frozen=True, slots=True)
class TargetAsset:
    """An asset as it will be written: family, code, values, and what was left out."""

    family: str
    code: str
    values: tuple[TargetValue, ...]
    notes: tuple[PamNote, ...] = ()

    def files(self) -> list[PamFile]:
        """The files its media values need uploaded."""
        return [value.data for value in self.values if isinstance(value.data, PamFile)]


@dataclass(frozen=True, slots=True)
class SkippedAsset:
    """An asset (or input row) that will not be written, and why."""

    code: str | None
    family: str | None
    where: str
    reason: str


def precheck(asset: PamAsset, family: str | None, options: PamOptions) -> str | None:
    """
    Why ``asset`` cannot be migrated into ``family`` whatever the plan, or None.

    Returns:
        The reason, in words, or None.
    """
    if not CODE_RULE.match(asset.code) or len(asset.code) > 255:
        return (
            "the code breaks ^[a-zA-Z0-9_]+$ (at most 255 characters): the Asset Manager refuses "
            "it and product links to it break; rename it in the PAM and its product values"
        )
    if family is None:
        return "no family for this asset: the family column is empty and the mapping has no line"
    if not CODE_RULE.match(family):
        return f"family code {family!r} breaks ^[a-zA-Z0-9_]+$"
    if options.reference_type == "non-localizable" and asset.localizable:
        return "a localizable asset, but --reference-type non-localizable"
    if options.reference_type == "localizable" and asset.localizable is False:
        return "a non-localizable asset, but --reference-type localizable"
    if options.skip_without_media and not asset.references:
        return "no reference file (--skip-without-media)"
    return None


def _codes(
    plan: FamilyPlan, role: Role, codes: tuple[str, ...], notes: list[PamNote]
) -> Data | None:
    decision = plan.decision(role)
    if decision is None or decision.attribute is None or not codes:
        return None
    if decision.kind == "text":
        return _text(plan, decision.attribute, role, ",".join(codes), notes)
    kept = tuple(code for code in codes if code in decision.accepted)
    if len(kept) != len(codes):
        left = [code for code in codes if code not in decision.accepted]
        notes.append(
            PamNote(
                "bad_value",
                role,
                f"{role}: {', '.join(left)} left out (the code rule, or past 100 options)",
            )
        )
    return kept or None


def _text(plan: FamilyPlan, attribute: str, role: str, text: str, notes: list[PamNote]) -> str:
    limit = plan.text_limits.get(attribute)
    if limit is not None and len(text) > limit:
        notes.append(
            PamNote("bad_value", role, f"{role}: cut to the {limit} characters of {attribute}")
        )
        return text[:limit]
    return text


def _media(
    plan: FamilyPlan, asset: PamAsset, options: PamOptions, notes: list[PamNote]
) -> list[TargetValue]:
    values: list[TargetValue] = []
    roles: Mapping[Role, str] = plan.roles
    for locale, file in asset.references.items():
        role: Role = "reference" if locale is None else "reference_localizable"
        if role in roles:
            values.append(TargetValue(roles[role], locale, None, file))
        else:
            notes.append(
                PamNote(
                    "conflict",
                    f"reference[{locale or '-'}]",
                    f"reference[{locale or '-'}]: not migrated: family {plan.code} has no "
                    f"attribute for {'localizable ' if locale else 'non-localizable '}references",
                )
            )
    if not options.with_variations:
        return values
    for (channel, locale), file in asset.variations.items():
        role = "variation_scopable" if locale is None else "variation_localizable_scopable"
        if role in roles:
            values.append(TargetValue(roles[role], locale, channel, file))
    return values


def target_asset(plan: FamilyPlan, asset: PamAsset, options: PamOptions) -> TargetAsset:
    """
    The values of ``asset`` in the family of ``plan`` (prechecked already).

    Returns:
        The target asset with the reader's notes and those of the mapping.
    """
    notes = list(asset.notes)
    values = _media(plan, asset, options, notes)
    roles = plan.roles
    if asset.description and "description" in roles:
        text = _text(plan, roles["description"], "description", asset.description, notes)
        values.append(TargetValue(roles["description"], None, None, text))
    lists: tuple[tuple[Role, tuple[str, ...]], ...] = (
        ("categories", asset.categories),
        ("tags", asset.tags),
    )
    for role, codes in lists:
        data = _codes(plan, role, codes, notes)
        if data is not None and role in roles:
            values.append(TargetValue(roles[role], None, None, data))
    if asset.end_of_use is not None and "end_of_use" in roles:
        day = asset.end_of_use.isoformat()
        data_day = f"{day}T00:00:00+00:00" if "end_of_use" in plan.date_roles else day
        values.append(TargetValue(roles["end_of_use"], None, None, data_day))
    return TargetAsset(plan.code, asset.code, tuple(values), tuple(notes))


__all__ = ["SkippedAsset", "TargetAsset", "TargetValue", "precheck", "target_asset"]
