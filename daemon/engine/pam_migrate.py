"""
A PAM migration's passes: survey the source, plan the families, then map every asset.

The source is read twice, never held: the first pass (:func:`survey_source`) counts what each
family receives, :func:`build_plan` decides the structure from those counts (a strategy of
:mod:`daemon.engine.pam_strategy` or :mod:`daemon.engine.pam_manual`), and the second pass
(:func:`map_source`) hands each asset's :class:`TargetAsset` or :class:`SkippedAsset` to a sink:
the dry run counts and reports them; the write path batches them. Both sources (API, CSV) are
:class:`PamSource`; which family an asset goes to is a :class:`FamilyResolver`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from daemon.engine.pam_manual import existing_family
from daemon.engine.pam_report import PamReport
from daemon.engine.pam_strategy import FamilyPlan, PamOptions, created_family
from daemon.engine.pam_survey import PamSurvey
from daemon.engine.pam_values import SkippedAsset, TargetAsset, precheck, target_asset
from daemon.pam.pam_records import PamAsset, PamRead, PamSkip
from daemon.pim.structure_records import StructureFamily

#: ``asset_family_limit`` and ``asset_manager_asset_limit_per_asset_family`` (akeneo-api §2).
FAMILY_LIMIT = 100
ASSETS_PER_FAMILY = 1_000_000
RELINK = "bin/console pimee:assets:migrate:migrate-pam-attributes"


class PamSource(Protocol):
    """A legacy PAM read from the start, one record per asset (or unreadable row)."""

    def reads(self) -> AsyncIterator[PamRead]: ...


class FamilyResolver(Protocol):
    """The family an asset goes to, or None when there is none."""

    def __call__(self, asset: PamAsset, /) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CollectionLink:
    """A PAM product collection attribute and the family its codes resolve in."""

    attribute: str
    family: str


@dataclass(frozen=True, slots=True)
class PamPlan:
    """
    What the migration creates and where each collection attribute points.

    Args:
        options: The strategy's options.
        families: One plan per target family, by code.
        problems: Lines that forbid the migration (nothing is written while there are any).
        links: Collection attribute -> family.
        lines: Remarks for the operator (no collection map, ...).
    """

    options: PamOptions
    families: tuple[FamilyPlan, ...]
    problems: tuple[str, ...] = ()
    links: tuple[CollectionLink, ...] = ()
    lines: tuple[str, ...] = ()
    _by_code: Mapping[str, FamilyPlan] = field(default_factory=dict, repr=False)

    def family(self, code: str | None) -> FamilyPlan | None:
        return self._by_code.get(code or "")

    def relink_commands(self) -> list[str]:
        """The in-place relink commands, one per family, with the family argument (§5.4 item 4)."""
        per_family: dict[str, list[str]] = {}
        for link in self.links:
            per_family.setdefault(link.family, []).append(link.attribute)
        if not self.links and len(self.families) == 1:
            return [f"{RELINK} {self.families[0].code}"]
        return [
            f"{RELINK} {family} {' '.join(attrs)}" for family, attrs in sorted(per_family.items())
        ]


async def survey_source(
    source: PamSource, resolve: FamilyResolver, options: PamOptions
) -> PamSurvey:
    """The first pass: count what each family receives (skipped assets are not counted)."""
    survey = PamSurvey()
    async for read in source.reads():
        if isinstance(read, PamSkip):
            continue
        family = resolve(read)
        if precheck(read, family, options) is None:
            survey.add(family, read)
    return survey


def build_plan(
    survey: PamSurvey,
    options: PamOptions,
    *,
    existing: Sequence[StructureFamily] = (),
    category_labels: Mapping[str, Mapping[str, str]] | None = None,
    links: Sequence[CollectionLink] = (),
) -> PamPlan:
    """
    Decide the families from the survey.

    Args:
        survey: The first pass.
        options: Strategy and choices.
        existing: The modelled families (``manual``).
        category_labels: Category code -> labels, for the category options.
        links: The collection-attribute -> family map.

    Returns:
        The plan; ``problems`` lists what forbids it.
    """
    labels = category_labels or {}
    problems: list[str] = []
    lines: list[str] = []
    plans: list[FamilyPlan] = []
    modelled = {family.code: family for family in existing}
    for code in sorted(survey.families):
        family_survey = survey.families[code]
        if family_survey.assets > ASSETS_PER_FAMILY:
            problems.append(
                f"family {code}: {family_survey.assets} assets, over the "
                f"{ASSETS_PER_FAMILY} a family holds: split it (family-by-family)"
            )
        if options.strategy != "manual":
            plans.append(created_family(family_survey, options, labels))
        elif code in modelled:
            plan, found = existing_family(family_survey, modelled[code], options, labels)
            plans.append(plan)
            problems.extend(found)
        else:
            lines.append(
                f"family {code} is not modelled: its {family_survey.assets} asset(s) are skipped"
            )
    if options.strategy != "manual" and len(plans) > FAMILY_LIMIT:
        problems.append(f"{len(plans)} families, over the {FAMILY_LIMIT} the Asset Manager holds")
    by_code = {plan.code: plan for plan in plans}
    seen: dict[str, str] = {}
    for link in links:
        if link.family not in by_code:
            problems.append(
                f"collection attribute {link.attribute} -> family {link.family}: "
                "no asset goes to that family"
            )
        if seen.setdefault(link.attribute, link.family) != link.family:
            problems.append(f"collection attribute {link.attribute} is mapped to two families")
    if not links and len(plans) > 1:
        lines.append(
            "no collection-attribute map: each product collection attribute must be bound to one "
            "family (--collection-map)"
        )
    return PamPlan(
        options=options,
        families=tuple(plans),
        problems=tuple(problems),
        links=tuple(links),
        lines=tuple(lines),
        _by_code=by_code,
    )


def outcome(plan: PamPlan, read: PamRead, resolve: FamilyResolver) -> TargetAsset | SkippedAsset:
    """What one record becomes under ``plan``."""
    if isinstance(read, PamSkip):
        return SkippedAsset(read.code, None, read.where, read.reason)
    family = resolve(read)
    reason = precheck(read, family, plan.options)
    if reason is not None:
        return SkippedAsset(read.code, family, "", reason)
    family_plan = plan.family(family)
    if family_plan is None:
        return SkippedAsset(read.code, family, "", f"family {family} is not modelled")
    return target_asset(family_plan, read, plan.options)


async def map_source(
    source: PamSource,
    plan: PamPlan,
    resolve: FamilyResolver,
    sink: Callable[[TargetAsset | SkippedAsset], None],
) -> PamReport:
    """The second pass: every record's outcome to ``sink``, counted in the report."""
    report = PamReport()
    async for read in source.reads():
        item = outcome(plan, read, resolve)
        if isinstance(read, PamSkip):
            report.input_rows_skipped += 1
        report.add(item)
        sink(item)
    return report


__all__ = [
    "CollectionLink",
    "FamilyResolver",
    "PamPlan",
    "PamSource",
    "build_plan",
    "map_source",
    "outcome",
    "survey_source",
]
