"""
``damsync validate-config``: everything a first pass would trip on, found before it runs.

It parses the configuration, reaches the state store (schema at head), the PIM and every DAM,
checks every mapping rule against the live family structure, and maps a sample of real DAM
assets (the first page of each source), reporting the per-field failures the first pass would
have. For a family the PIM links by rules (a naming convention, product link rules), the sample
is also run through them (:mod:`daemon.engine.link_readiness`): a code or filename the
convention's pattern refuses is an error when the PIM would then refuse the asset
(``abort_asset_creation_on_error``), else a warning; an asset no link rule would find a product
for is a warning. With several PIMs (``[pims.<name>]``), each is reached and each source is
checked against the structure of the PIM it writes to. The mapping warnings
(:func:`daemon.mapping.mapping_warnings`: a value a transformation overwrites, an empty main
media) are printed too. It exits 0 only when there is no problem; warnings (TLS verification
off, rules mode, mapping warnings) never fail it.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from daemon.cli.common import config_option, load
from daemon.cli.output import one_line, operator_store
from daemon.core.errors import SyncError
from daemon.core.records import Window

if TYPE_CHECKING:
    import httpx

    from daemon.core.records import AssetFamily, Channel
    from daemon.engine.naming_checks import SampledAsset
    from daemon.pim import PimClient
    from daemon.pim.models import AssetFamilyInfo
    from daemon.service.wiring import Runner
    from daemon.settings import Settings

#: Assets of each source mapped as a sample (at most the source's first page).
SAMPLE = 100


def _pim_key(settings: Settings, name: str) -> str:
    """Where a PIM is configured: ``pim`` for ``[pim]``, ``pims.<name>`` for the others."""
    from daemon.settings.connections import DEFAULT_PIM

    return "pim" if name == DEFAULT_PIM and settings.default_pim is not None else f"pims.{name}"


def _warnings(settings: Settings) -> list[str]:
    found = []
    for name, pim in settings.pim_connections().items():
        if not pim.http.verify_tls:
            key = _pim_key(settings, name)
            found.append(f"{key}.http.verify_tls = false: the PIM's certificate is not checked")
    for index, entry in enumerate(settings.sources):
        if not entry.http.verify_tls:
            found.append(
                f"sources[{index}].http.verify_tls = false ({entry.name}): "
                "the DAM's certificate is not checked"
            )
    return found


@dataclass(slots=True)
class Report:
    """What ``validate-config`` found: problems fail it, warnings are only printed."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


async def _sample(runner: Runner, index: int) -> tuple[list[str], list[SampledAsset]]:
    """
    Map the first page of the source's changes: one line per distinct field failure, and the
    assets mapped (as damsync would create them, for the rules-mode check).
    """
    from daemon.engine.naming_checks import SampledAsset
    from daemon.mapping import MappedAsset, MappingFailed

    window = Window(since=datetime(1970, 1, 1, tzinfo=UTC), until=datetime.now(UTC))
    mapper = await runner.processor.mappers.get()
    seen = 0
    reasons: Counter[str] = Counter()
    mapped: list[SampledAsset] = []
    async for page in runner.source.changes(window):
        for asset in page.assets[:SAMPLE]:
            seen += 1
            outcome = mapper.map_asset(asset)
            if isinstance(outcome, MappingFailed):
                for error in outcome.errors:
                    reasons[f"field {error.field!r}: {error.reason}"] += 1
            elif isinstance(outcome, MappedAsset):
                pim = outcome.asset
                mapped.append(SampledAsset(outcome.asset_id, pim.code, pim.values, pim.family))
        for unreadable in page.errors:
            reasons[f"unreadable record: {unreadable}"] += 1
        break  # the first page is the sample: a check, not a pass
    prefix = f"sources[{index}] ({runner.name}): sample of {seen} asset(s)"
    return [f"{prefix}: {count} × {reason}" for reason, count in reasons.most_common(20)], mapped


async def _family_infos(
    pim: PimClient, codes: Sequence[str]
) -> dict[str, AssetFamilyInfo | SyncError]:
    """Each family as the PIM gives it (its rules, transformations), or why it cannot be read."""
    infos: dict[str, AssetFamilyInfo | SyncError] = {}
    for code in codes:
        try:
            infos[code] = await pim.get_asset_family(code)
        except SyncError as exc:
            infos[code] = exc
    return infos


async def _rules_mode(
    pim: PimClient,
    families: Mapping[str, AssetFamily],
    infos: Mapping[str, AssetFamilyInfo | SyncError],
    sampled: Sequence[SampledAsset],
    where: str,
    report: Report,
) -> None:
    """Run each family's naming convention and product link rules on the sampled assets."""
    from daemon.engine.link_readiness import RulesMode, check_family

    for code, family in families.items():
        try:
            info = infos[code] if code in infos else await pim.get_asset_family(code)
            if isinstance(info, SyncError):  # the read _family_infos tried failed
                raise info
            mode = RulesMode.of(info.naming_convention, info.product_link_rules)
            if not mode.active:
                continue
            findings = await check_family(
                pim, family, mode, [a for a in sampled if a.family == code]
            )
        except SyncError as exc:
            report.problems.append(f"{where}: rules of family {code!r}: {one_line(exc)}")
            continue
        for finding in findings:
            line = f"{where}: {finding.message}"
            (report.problems if finding.severity == "error" else report.warnings).append(line)


async def check_config(
    settings: Settings,
    *,
    pim_transport: httpx.AsyncBaseTransport | None = None,
    pim_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    source_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Report:
    """
    Everything ``validate-config`` checks once the configuration parsed and the store is at
    head: the PIM, each DAM, the mapping rules, the sample and the rules mode.

    Args:
        settings: The configuration.
        pim_transport: Injected PIM transport (tests: the simulator in-process).
        pim_transports: Injected PIM transports by PIM name (``default`` for ``[pim]``).
        source_transports: Injected DAM transports by source name.

    Returns:
        The problems and warnings, one line each.
    """
    # Imported here: `validate-config --help` starts without the engine (bench/startup.py).
    from prometheus_client import CollectorRegistry

    from daemon.engine.direct_link_checks import direct_link_problems
    from daemon.mapping import mapping_warnings, validate_rules
    from daemon.service.wiring import Services, SyncApp

    services = Services.create(settings, registry=CollectorRegistry())
    app = SyncApp.build(
        settings,
        services,
        one_shot=True,
        pim_transport=pim_transport,
        pim_transports=pim_transports,
        source_transports=source_transports,
    )
    report = Report()
    problems = report.problems
    try:
        channels_of: dict[str, list[Channel]] = {}
        for name, parts in app.pims.items():
            try:
                channels_of[name] = list(await parts.structure.channels())
            except SyncError as exc:
                problems.append(f"{_pim_key(settings, name)}: cannot read the PIM: {one_line(exc)}")
        for index, entry in enumerate(settings.sources):
            if entry.pim not in channels_of:
                continue  # its PIM cannot be read: that line says it, nothing more to check
            channels = channels_of[entry.pim]
            structure, pim = app.structure_of(entry.name), app.pim_of(entry.name)
            runner = next(r for r in app.runners if r.name == entry.name)
            reachable = True
            try:
                await runner.source.server_now()
            except SyncError as exc:
                reachable = False
                problems.append(
                    f"sources[{index}] ({entry.name}): cannot reach the DAM: {one_line(exc)}"
                )
            families = {}
            for rule in entry.mapping.families:
                try:
                    families[rule.family] = await structure.family(rule.family)
                except SyncError as exc:
                    problems.append(
                        f"sources[{index}].mapping: family {rule.family!r} cannot be read: "
                        f"{one_line(exc)}"
                    )
            rule_problems = validate_rules(
                entry.mapping, families, list(channels), prefix=f"sources[{index}].mapping"
            )
            problems.extend(f"{problem.path}: {problem.message}" for problem in rule_problems)
            problems.extend(_mark_problems(entry.sync.mark, families, index))
            if any(rule.product_links for rule in entry.mapping.families):
                where = f"sources[{index}].mapping"
                problems += await direct_link_problems(pim, entry.mapping.families, where)
            infos = await _family_infos(pim, list(families))
            transformations = {
                code: info.transformations
                for code, info in infos.items()
                if not isinstance(info, SyncError)
            }
            found = mapping_warnings(
                entry.mapping, families, transformations, prefix=f"sources[{index}].mapping"
            )
            report.warnings.extend(f"{w.path}: {w.message}" for w in found)
            if reachable and not rule_problems and len(families) == len(entry.mapping.families):
                try:
                    lines, sampled = await _sample(runner, index)
                except SyncError as exc:
                    problems.append(
                        f"sources[{index}] ({entry.name}): cannot list changes: {one_line(exc)}"
                    )
                    continue
                problems.extend(lines)
                where = f"sources[{index}] ({entry.name})"
                await _rules_mode(pim, families, infos, sampled, where, report)
    finally:
        await app.aclose()
        services.store.dispose()
    return report


def _mark_problems(
    mark: Mapping[str, object], families: Mapping[str, Any], index: int
) -> list[str]:
    """
    ``[sources.sync.mark]`` against each family the source writes: a withdrawn asset of any of
    them gets the mark, so every attribute must exist there, and an option must be one of its.
    """
    problems = []
    for attribute, value in mark.items():
        for code, family in families.items():
            found = family.attributes.get(attribute)
            where = f"sources[{index}].sync.mark.{attribute}"
            if found is None:
                problems.append(f"{where}: family {code!r} has no attribute {attribute!r}")
            elif found.type in ("media_file", "media_link", "multiple_options"):
                problems.append(f"{where}: a {found.type} attribute cannot hold a mark")
            elif found.type == "single_option" and str(value) not in family.options.get(
                attribute, frozenset()
            ):
                problems.append(f"{where}: {value!r} is not an option of {code}.{attribute}")
    return problems


@click.command("validate-config")
@config_option
def validate_config(config_path: str) -> None:
    """Parse the config, reach the store, the DAM and the PIM, check every mapping rule
    against the live family structure and map a sample of real assets; print every problem
    with its config path."""
    settings = load(config_path, configure_logs=False)
    for warning in _warnings(settings):
        click.echo(f"warning: {warning}", err=True)
    with operator_store(settings):
        pass  # reachable and at head, or one line and exit 1
    report = asyncio.run(check_config(settings))
    problems = report.problems
    for problem in problems:
        click.echo(problem)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    suffix = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    click.echo(f"configuration OK: {len(settings.sources)} source(s){suffix}")


__all__ = ["Report", "check_config", "validate_config"]
