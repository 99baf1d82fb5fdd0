"""
Rules mode, checked before it runs: does what damsync sends let the PIM link each asset?

For one asset family and a sample of assets mapped as damsync would create them, this runs
the family's naming convention (:mod:`daemon.engine.naming_checks`) and its product link rules
(:mod:`daemon.engine.link_rule_checks`) and reports, one finding per asset:

- an **error** when the convention fails and ``abort_asset_creation_on_error`` is true: the PIM
  would refuse the asset;
- a **warning** when it fails otherwise (the asset is created without the extracted values);
- a **warning** when none of the family's link rules would find a product or product model
  (with two rules, one finding nothing is normal: the asset is reported only when no rule
  links it anywhere).

``damsync validate-config`` calls :func:`check_family` per family rule of each source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from daemon.core.errors import PimNotFound, PimRejected
from daemon.core.records import AssetFamily
from daemon.engine.link_rule_checks import (
    ProductFields,
    ProductFinder,
    RuleCheck,
    RuleSkipped,
    assignment_targets,
    plan_queries,
    resolve_rule,
    run_checks,
    selection_fields,
)
from daemon.engine.naming_checks import (
    NamingConvention,
    PatternError,
    SampledAsset,
    compile_convention_pattern,
    describe,
    readable_values,
    run_convention,
)
from daemon.pim.models import ProductAttribute

Severity = Literal["error", "warning"]


class LinkCheckPim(ProductFinder, Protocol):
    """The PIM reads the rules-mode check makes (``daemon.pim.PimClient`` has them)."""

    async def get_product_attribute(self, code: str) -> ProductAttribute: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """
    One problem of the rules mode.

    Args:
        severity: ``error`` (the PIM would refuse the asset) or ``warning``.
        message: One line naming the asset (or the family), what was produced and why.
        asset_id: The DAM id, ``None`` for a finding about the whole family.
    """

    severity: Severity
    message: str
    asset_id: str | None = None


@dataclass(frozen=True, slots=True)
class RulesMode:
    """
    What a family does at asset creation.

    Args:
        convention: Its naming convention, ``None`` without one.
        rules: Its ``product_link_rules`` as the PIM returns them.
    """

    convention: NamingConvention | None
    rules: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(
        cls, naming_convention: Mapping[str, Any] | None, rules: Sequence[Mapping[str, Any]]
    ) -> RulesMode:
        return cls(NamingConvention.from_json(naming_convention), tuple(rules))

    @property
    def active(self) -> bool:
        return self.convention is not None or bool(self.rules)


async def product_attributes(
    pim: LinkCheckPim, codes: Iterable[str]
) -> dict[str, ProductAttribute]:
    """
    Read the product attributes the rules name (one request per distinct code).

    A code the PIM does not know is left out: the rule is then reported as unable to run.
    """
    found = {}
    for code in sorted(set(codes)):
        try:
            found[code] = await pim.get_product_attribute(code)
        except PimNotFound:
            continue
    return found


def target_problems(
    family: str, rules: Sequence[Mapping[str, Any]], attributes: Mapping[str, ProductAttribute]
) -> dict[int, str]:
    """
    Rules whose ``assign_assets_to`` names no asset collection of the family: the PIM skips
    such a rule (it links nothing). Rule index -> why.
    """
    problems = {}
    for index, rule in enumerate(rules):
        for target in assignment_targets(rule):
            found = attributes.get(target)
            if found is None or not found.is_asset_collection:
                problems[index] = f"it assigns to {target!r}, which is no asset collection"
            elif found.reference_data_name != family:
                problems[index] = (
                    f"it assigns to {target!r}, an asset collection of "
                    f"{found.reference_data_name!r}, not of {family!r}"
                )
    return problems


async def check_family(
    pim: LinkCheckPim,
    family: AssetFamily,
    mode: RulesMode,
    assets: Sequence[SampledAsset],
) -> list[Finding]:
    """
    Check the naming convention and the link rules of one family on sampled assets.

    Args:
        pim: The PIM (product searches, product attributes).
        family: The family's structure (attributes, options).
        mode: The family's convention and rules.
        assets: The sampled assets of this family, as damsync would create them.

    Returns:
        The findings, in asset order, family-wide ones first.

    Raises:
        PimError: the PIM could not be read (other than an unknown product attribute or a
            product search it refuses, which are findings).
    """
    findings: list[Finding] = []
    convention = mode.convention
    if convention is not None:
        try:
            compile_convention_pattern(convention.pattern)
        except PatternError as exc:
            findings.append(
                Finding(
                    "warning",
                    f"family {family.code!r}: the naming convention cannot be checked here "
                    f"({exc}); its link rules are not checked either",
                )
            )
            return findings
    consequence = (
        "the PIM would refuse the asset (abort_asset_creation_on_error is true)"
        if convention is not None and convention.abort
        else "the asset would be created without the values the convention extracts"
    )
    readable: dict[str, dict[str, Any]] = {}
    for asset in assets:
        extraction = None
        if convention is not None:
            extraction = run_convention(convention, family, asset)
            if extraction.problem is not None:
                findings.append(
                    Finding(
                        "error" if convention.abort else "warning",
                        f"asset {asset.asset_id!r} ({family.code}): {describe(extraction)}: "
                        f"{consequence}",
                        asset.asset_id,
                    )
                )
                if convention.abort:
                    continue  # refused: no rule will run for it
        readable[asset.asset_id] = readable_values(asset, extraction)
    if mode.rules:
        try:
            findings.extend(await _link_findings(pim, family, mode, assets, readable))
        except PimRejected as exc:
            # A search this PIM does not take (its version, its edition): the rules cannot be
            # checked here, which says nothing against the configuration.
            findings.append(
                Finding(
                    "warning",
                    f"family {family.code!r}: the product link rules cannot be checked: the PIM "
                    f"refused a product search ({exc})",
                )
            )
    return findings


async def _link_findings(
    pim: LinkCheckPim,
    family: AssetFamily,
    mode: RulesMode,
    assets: Sequence[SampledAsset],
    readable: Mapping[str, Mapping[str, Any]],
) -> list[Finding]:
    targets = {t for rule in mode.rules for t in assignment_targets(rule)}
    attributes = await product_attributes(pim, selection_fields(mode.rules) | targets)
    fields = ProductFields.of(
        [attributes[code] for code in selection_fields(mode.rules) if code in attributes]
    )
    broken = target_problems(family.code, mode.rules, attributes)
    findings = [
        Finding(
            "warning", f"family {family.code!r}: product link rule {index} links nothing: {why}"
        )
        for index, why in broken.items()
    ]
    per_asset: list[tuple[SampledAsset, list[RuleCheck]]] = []
    for asset in assets:
        if asset.asset_id not in readable:
            continue
        checks = []
        for index, rule in enumerate(mode.rules):
            check = RuleCheck(index)
            if index in broken:
                check.reason = "it links nothing (see above)"
                checks.append(check)
                continue
            try:
                check.selections = resolve_rule(rule, asset.code, readable[asset.asset_id])
                check.queries = plan_queries(check.selections, fields)
            except RuleSkipped as exc:
                check.reason = str(exc)
            checks.append(check)
        per_asset.append((asset, checks))
    await run_checks(
        pim, [c for _, checks in per_asset for c in checks], identifier=fields.identifier
    )
    for asset, checks in per_asset:
        if any(c.verdict == "found" for c in checks):
            continue
        findings.append(
            Finding(
                "warning",
                f"asset {asset.asset_id!r} (code {asset.code!r}, {family.code}): no product link "
                f"rule would find a product or product model: "
                + "; ".join(c.show() for c in checks),
                asset.asset_id,
            )
        )
    return findings


__all__ = [
    "Finding",
    "LinkCheckPim",
    "RulesMode",
    "Severity",
    "check_family",
    "product_attributes",
    "target_problems",
]
