"""
**What a PAM migration creates**: the families, attributes and option decisions of the three
strategies of Akeneo's guides, decided from the survey; pure.

``automatic`` (one family) and ``family-by-family`` (one per ``family`` value) create each family
as CsvToAsset's ``app:create-family`` does (``pam-migration.md`` §6, ``akeneo-api.md`` §8.3):
``reference`` / ``variation_scopable`` (non-localizable assets), ``reference_localizable`` /
``variation_localizable_scopable`` (localizable ones), ``description``, ``categories``, ``tags``
and ``end_of_use``, each ``is_required_for_completeness: false``, under the default codes or
those of the attribute-code mapping. Its decisions are reproduced:

- the reference type from the data (``both`` when mixed), unless forced;
- tags and categories become ``multiple_options`` only with at most 100 distinct codes that all
  match ``^[a-zA-Z0-9_]+$`` (exactly 100 is still options), else ``text`` (comma-joined);
- ``auto`` for categories: imported when more than 1 distinct category is found; for
  ``end_of_use``: when any asset has one.

Where CsvToAsset is wrong, this is not: the references are never scopable (MET-66), the main
media of a localizable-only family is ``reference_localizable`` (it sets
``variation_localizable_scopable``, which does not exist without variations, §5.4 item 6), and
the media type follows the files (``pdf`` or ``other`` when the references are not all images).
``manual`` maps onto families that exist: :mod:`daemon.engine.pam_manual`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from daemon.engine.pam_survey import OPTION_LIMIT, CodeTally, FamilySurvey
from daemon.pim.structure_records import (
    JsonValue,
    StructureAttribute,
    StructureFamily,
    StructureOption,
)

Strategy = Literal["automatic", "family-by-family", "manual"]
Choice = Literal["yes", "no", "auto"]
ReferenceType = Literal["localizable", "non-localizable", "both"]
Role = Literal[
    "reference",
    "reference_localizable",
    "variation_scopable",
    "variation_localizable_scopable",
    "description",
    "categories",
    "tags",
    "end_of_use",
]
ROLES: tuple[Role, ...] = (
    "reference",
    "reference_localizable",
    "variation_scopable",
    "variation_localizable_scopable",
    "description",
    "categories",
    "tags",
    "end_of_use",
)
IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "gif", "tif", "tiff", "bmp", "webp", "psd", "eps", "svg"}
)


@dataclass(frozen=True, slots=True)
class PamOptions:
    """
    The choices of ``app:migrate``, plus ours.

    Args:
        strategy: ``automatic``, ``family-by-family`` or ``manual``.
        reference_type: ``auto`` (from the data) or forced.
        with_variations: Migrate the variation files.
        with_categories: ``auto``: when more than 1 distinct category is found.
        with_end_of_use: ``auto``: when any asset has one.
        tag_options: ``no`` keeps tags as text; ``yes``/``auto`` make options when they can.
        category_options: The same for categories.
        media_type: ``auto`` (from the reference files) or forced.
        attribute_codes: Role -> attribute code (CsvToAsset's ``--mapping`` keys).
        family_attribute_codes: Family -> role -> attribute code, before ``attribute_codes``.
        skip_without_media: Skip assets with no reference file instead of creating them empty.
    """

    strategy: Strategy = "automatic"
    reference_type: ReferenceType | Literal["auto"] = "auto"
    with_variations: bool = True
    with_categories: Choice = "auto"
    with_end_of_use: Choice = "auto"
    tag_options: Choice = "auto"
    category_options: Choice = "auto"
    media_type: Literal["auto", "image", "pdf", "other"] = "auto"
    attribute_codes: Mapping[str, str] = field(default_factory=dict)
    family_attribute_codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    skip_without_media: bool = False

    def code(self, role: Role, family: str) -> str:
        """The attribute code of a role in ``family`` (mapped, else the default)."""
        mapped = self.family_attribute_codes.get(family, {}).get(role)
        return mapped or self.attribute_codes.get(role, role)


@dataclass(frozen=True, slots=True)
class OptionDecision:
    """
    What tags or categories become in one family.

    Args:
        role: ``tags`` or ``categories``.
        attribute: The attribute code, or None when not migrated.
        kind: ``multiple_options``, ``text`` or ``none`` (not migrated).
        options: The option codes (those to create, for ``manual``: the new ones).
        accepted: Every code a value may carry (options: existing and new).
        reason: Why, in words, for the dry run and the report.
    """

    role: Role
    attribute: str | None
    kind: Literal["multiple_options", "text", "none"]
    options: tuple[str, ...] = ()
    accepted: frozenset[str] = frozenset()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FamilyPlan:
    """
    One target family: its structure, its decisions, the attribute of each role.

    Args:
        code: The family code.
        created: True when the migration creates it (automatic, family-by-family).
        reference_type: Which references it takes.
        structure: The family as ``structure apply`` takes it (attributes with options).
        roles: Role -> attribute code; a role absent is not migrated.
        decisions: The tags and categories decisions.
        text_limits: Attribute -> ``max_characters`` of existing text attributes (manual).
        date_roles: Roles whose target attribute has the ``date`` type (manual).
        assets: Assets the survey counted for it.
        lines: Family-level remarks (a role not migrated and why, the main media, ...).
    """

    code: str
    created: bool
    reference_type: ReferenceType
    structure: StructureFamily
    roles: Mapping[Role, str]
    decisions: tuple[OptionDecision, ...]
    text_limits: Mapping[str, int] = field(default_factory=dict)
    date_roles: frozenset[Role] = frozenset()
    assets: int = 0
    lines: tuple[str, ...] = ()

    def decision(self, role: Role) -> OptionDecision | None:
        return next((d for d in self.decisions if d.role == role), None)


def reference_type(survey: FamilySurvey, forced: ReferenceType | Literal["auto"]) -> ReferenceType:
    """The reference type: forced, else ``both`` when mixed, ``localizable`` when only those."""
    if forced != "auto":
        return forced
    if survey.localizable and survey.not_localizable:
        return "both"
    return "localizable" if survey.localizable else "non-localizable"


def media_type(survey: FamilySurvey, forced: str) -> str:
    """``image`` when every reference is an image (or none is known), ``pdf`` when all are PDFs."""
    if forced != "auto":
        return forced
    seen = set(survey.extensions)
    if not seen or seen <= IMAGE_EXTENSIONS:
        return "image"
    return "pdf" if seen == {"pdf"} else "other"


def option_decision(
    role: Role,
    tally: CodeTally,
    attribute: str,
    choice: Choice,
    labels: Mapping[str, Mapping[str, str]],
) -> tuple[OptionDecision, StructureAttribute]:
    """Options when at most 100 distinct codes all follow the rule (and not refused), else text."""
    if choice == "no":
        kind, reason = "text", f"{role}: text (options refused by the command line)"
    elif tally.refused:
        kind = "text"
        reason = (
            f"{role}: text: {len(tally.refused)}{'+' if len(tally.refused) > OPTION_LIMIT else ''} "
            f"code(s) break ^[a-zA-Z0-9_]+$ (e.g. {', '.join(tally.examples)})"
        )
    elif tally.distinct > OPTION_LIMIT:
        kind, reason = "text", f"{role}: text: more than {OPTION_LIMIT} distinct codes"
    else:
        kind, reason = (
            "multiple_options",
            f"{role}: options: {tally.distinct} distinct valid code(s)",
        )
    if kind == "text":
        return OptionDecision(role, attribute, "text", reason=reason), _attribute(attribute, "text")
    codes = tuple(tally.codes)
    options = tuple(StructureOption(code, dict(labels.get(code, {}))) for code in codes)
    structure = _attribute(attribute, "multiple_options", options=options)
    return OptionDecision(
        role, attribute, "multiple_options", codes, frozenset(codes), reason
    ), structure


def _attribute(
    code: str,
    kind: str,
    *,
    per_locale: bool = False,
    per_channel: bool = False,
    media: str | None = None,
    options: tuple[StructureOption, ...] | None = None,
) -> StructureAttribute:
    properties: dict[str, JsonValue] = {"is_required_for_completeness": False}
    if media is not None:
        properties["media_type"] = media
    return StructureAttribute(
        code=code,
        type=kind,
        value_per_locale=per_locale,
        value_per_channel=per_channel,
        properties=properties,
        options=options,
    )


def created_family(
    survey: FamilySurvey, options: PamOptions, category_labels: Mapping[str, Mapping[str, str]]
) -> FamilyPlan:
    """The family automatic and family-by-family create for ``survey``."""
    ref_type = reference_type(survey, options.reference_type)
    media = media_type(survey, options.media_type)
    roles: dict[Role, str] = {}
    attributes: list[StructureAttribute] = []
    lines: list[str] = []

    def media_role(role: Role, per_locale: bool, per_channel: bool) -> None:
        roles[role] = options.code(role, survey.code)
        attributes.append(
            _attribute(
                roles[role],
                "media_file",
                per_locale=per_locale,
                per_channel=per_channel,
                media=media,
            )
        )

    if ref_type in ("non-localizable", "both"):
        media_role("reference", False, False)
        if options.with_variations:
            media_role("variation_scopable", False, True)
    if ref_type in ("localizable", "both"):
        media_role("reference_localizable", True, False)
        if options.with_variations:
            media_role("variation_localizable_scopable", True, True)
    roles["description"] = options.code("description", survey.code)
    attributes.append(_attribute(roles["description"], "text"))
    decisions: list[OptionDecision] = []
    with_categories = options.with_categories == "yes" or (
        options.with_categories == "auto"
        and len(survey.categories.codes) + len(survey.categories.refused) > 1
    )
    if with_categories:
        decision, attribute = option_decision(
            "categories",
            survey.categories,
            options.code("categories", survey.code),
            options.category_options,
            category_labels,
        )
        roles["categories"] = options.code("categories", survey.code)
        decisions.append(decision)
        attributes.append(attribute)
    else:
        decisions.append(
            OptionDecision(
                "categories",
                None,
                "none",
                reason="categories: not migrated (auto: at most 1 distinct category)"
                if options.with_categories == "auto"
                else "categories: not migrated (--categories no)",
            )
        )
    decision, attribute = option_decision(
        "tags", survey.tags, options.code("tags", survey.code), options.tag_options, {}
    )
    roles["tags"] = options.code("tags", survey.code)
    decisions.append(decision)
    attributes.append(attribute)
    if options.with_end_of_use == "yes" or (
        options.with_end_of_use == "auto" and survey.with_end_of_use
    ):
        roles["end_of_use"] = options.code("end_of_use", survey.code)
        attributes.append(_attribute(roles["end_of_use"], "text"))
    else:
        lines.append(
            "end_of_use: not migrated ("
            + (
                "auto: no asset has one)"
                if options.with_end_of_use == "auto"
                else "--end-of-use no)"
            )
        )
    main = roles["reference"] if ref_type != "localizable" else roles["reference_localizable"]
    lines.append(f"reference type {ref_type}; main media {main} ({media})")
    if ref_type == "both":
        lines.append(f"localizable assets have no {main} value: grids show no thumbnail for them")
    structure = StructureFamily(
        code=survey.code, labels={}, attribute_as_main_media=main, attributes=tuple(attributes)
    )
    return FamilyPlan(
        code=survey.code,
        created=True,
        reference_type=ref_type,
        structure=structure,
        roles=roles,
        decisions=tuple(decisions),
        assets=survey.assets,
        lines=tuple(lines),
    )


__all__ = [
    "ROLES",
    "Choice",
    "FamilyPlan",
    "OptionDecision",
    "PamOptions",
    "ReferenceType",
    "Role",
    "Strategy",
    "created_family",
    "media_type",
    "option_decision",
    "reference_type",
]
