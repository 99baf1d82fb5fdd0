"""
The ``manual`` strategy: PAM data mapped onto families modelled beforehand; pure.

The families exist (made by hand or by ``damsync structure apply``) and are given as
:class:`~daemon.pim.structure_records.StructureFamily` records. Each role (``reference``,
``tags``, ...) goes to the attribute of its mapped code (CsvToAsset's ``--mapping``), or of the
default code. Like ``app:import`` (``pam-migration.md`` §5.3), a role whose attribute the family
does not have is not migrated, and said so once per family; unlike it, an attribute of the wrong
type or with the wrong locale/channel flags is a problem that stops the plan before anything is
written, naming the family, the role and what is expected. Option attributes get the codes they
lack created, as long as the attribute stays within 100 options; the codes past the limit, and
those that break the code rule, are left out of the values and reported per asset.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.engine.pam_strategy import (
    ROLES,
    FamilyPlan,
    OptionDecision,
    PamOptions,
    ReferenceType,
    Role,
)
from daemon.engine.pam_survey import OPTION_LIMIT, FamilySurvey
from daemon.pim.structure_records import StructureAttribute, StructureFamily, StructureOption

#: Role -> (value_per_locale, value_per_channel) of its media attribute.
MEDIA_FLAGS: dict[Role, tuple[bool, bool]] = {
    "reference": (False, False),
    "reference_localizable": (True, False),
    "variation_scopable": (False, True),
    "variation_localizable_scopable": (True, True),
}
#: Role -> attribute types it can go to (non-media roles: never localizable nor scopable).
TYPES: dict[Role, tuple[str, ...]] = {
    "description": ("text",),
    "categories": ("multiple_options", "text"),
    "tags": ("multiple_options", "text"),
    "end_of_use": ("text", "date"),
}


def _problem(family: str, role: Role, attribute: StructureAttribute) -> str | None:
    """What is wrong with ``attribute`` for ``role``, or None."""
    flags = (attribute.value_per_locale, attribute.value_per_channel)
    if role in MEDIA_FLAGS:
        want = MEDIA_FLAGS[role]
        if attribute.type != "media_file" or flags != want:
            return (
                f"family {family}: {role} goes to attribute {attribute.code}, which must be a "
                f"media_file with value_per_locale={str(want[0]).lower()} and "
                f"value_per_channel={str(want[1]).lower()}; it is a {attribute.type} with "
                f"{str(flags[0]).lower()}/{str(flags[1]).lower()}"
            )
        return None
    if attribute.type not in TYPES[role] or flags != (False, False):
        return (
            f"family {family}: {role} goes to attribute {attribute.code}, which must be "
            f"{' or '.join(TYPES[role])}, neither localizable nor scopable; it is a "
            f"{attribute.type} with value_per_locale={str(flags[0]).lower()}, "
            f"value_per_channel={str(flags[1]).lower()}"
        )
    return None


def _options(
    role: Role,
    survey: FamilySurvey,
    attribute: StructureAttribute,
    labels: Mapping[str, Mapping[str, str]],
) -> tuple[OptionDecision, StructureAttribute]:
    tally = survey.tags if role == "tags" else survey.categories
    if attribute.type == "text":
        return OptionDecision(
            role, attribute.code, "text", reason=f"{role}: text attribute {attribute.code}"
        ), attribute
    existing = tuple(option.code for option in attribute.options or ())
    room = max(OPTION_LIMIT - len(existing), 0)
    new = [code for code in tally.codes if code not in existing]
    created, overflow = new[:room], new[room:]
    reason = (
        f"{role}: options of {attribute.code}: {len(existing)} existing, {len(created)} to create"
    )
    if overflow or tally.overflow:
        reason += f"; codes past {OPTION_LIMIT} options are left out of the values"
    if tally.refused:
        reason += (
            f"; codes that break ^[a-zA-Z0-9_]+$ are left out (e.g. {', '.join(tally.examples)})"
        )
    options = (
        *(attribute.options or ()),
        *(StructureOption(code, dict(labels.get(code, {}))) for code in created),
    )
    decision = OptionDecision(
        role,
        attribute.code,
        "multiple_options",
        tuple(created),
        frozenset((*existing, *created)),
        reason,
    )
    extended = StructureAttribute(
        code=attribute.code,
        type=attribute.type,
        value_per_locale=attribute.value_per_locale,
        value_per_channel=attribute.value_per_channel,
        labels=attribute.labels,
        properties=attribute.properties,
        options=options,
    )
    return decision, extended


def existing_family(
    survey: FamilySurvey,
    family: StructureFamily,
    options: PamOptions,
    category_labels: Mapping[str, Mapping[str, str]],
) -> tuple[FamilyPlan, list[str]]:
    """
    The plan of one modelled family, and the problems that forbid it.

    Returns:
        The plan, and one line per problem (empty when the family fits).
    """
    by_code = {attribute.code: attribute for attribute in family.attributes}
    roles: dict[Role, str] = {}
    problems: list[str] = []
    lines: list[str] = []
    decisions: list[OptionDecision] = []
    changed: list[StructureAttribute] = []
    text_limits: dict[str, int] = {}
    date_roles: set[Role] = set()
    for role in ROLES:
        code = options.code(role, family.code)
        attribute = by_code.get(code)
        if attribute is None:
            lines.append(f"{role}: family {family.code} has no attribute {code}: not migrated")
            if role in ("tags", "categories"):
                decisions.append(OptionDecision(role, None, "none", reason=f"{role}: not migrated"))
            continue
        problem = _problem(family.code, role, attribute)
        if problem:
            problems.append(problem)
            continue
        roles[role] = code
        if role in ("tags", "categories"):
            decision, extended = _options(role, survey, attribute, category_labels)
            decisions.append(decision)
            if decision.options:
                changed.append(extended)
        limit = attribute.properties.get("max_characters")
        if attribute.type == "text" and isinstance(limit, int | str) and str(limit).isdigit():
            text_limits[code] = int(limit)
        if attribute.type == "date":
            date_roles.add(role)
    has_plain = "reference" in roles
    has_local = "reference_localizable" in roles
    ref_type: ReferenceType = (
        "both" if has_plain and has_local else ("localizable" if has_local else "non-localizable")
    )
    structure = StructureFamily(code=family.code, attributes=tuple(changed))
    plan = FamilyPlan(
        code=family.code,
        created=False,
        reference_type=ref_type,
        structure=structure,
        roles=roles,
        decisions=tuple(decisions),
        text_limits=text_limits,
        date_roles=frozenset(date_roles),
        assets=survey.assets,
        lines=tuple(lines),
    )
    return plan, problems


__all__ = ["existing_family"]
