"""
Check a source's mapping rules against the live PIM structure, for ``damsync validate-config``.

Syntax errors are already refused when the rules load (:func:`~daemon.mapping.rules.load_mapping`);
:func:`validate_rules` finds what only the PIM can tell: unknown families, attributes, locales and
channels, a source of the wrong kind for the attribute type, option policy and media attributes
without a binary. :func:`mapping_warnings` finds rules that work but likely not as meant: a value
written to a transformation's target (the PIM overwrites it) and a family whose main media the
rule leaves empty. Warnings never fail the check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.core.records import AssetFamily, Channel
from daemon.mapping.plan import ConfigProblem, compile_mapping
from daemon.mapping.rules import SourceMapping


def validate_rules(
    rules: SourceMapping,
    families: Mapping[str, AssetFamily],
    channels: Sequence[Channel],
    *,
    prefix: str = "mapping",
) -> list[ConfigProblem]:
    """
    List every mismatch between the rules and the PIM structure.

    Args:
        rules: The source's mapping rules.
        families: The live family structure by code.
        channels: The PIM channels with their active locales.
        prefix: The config path of the rules (``sources[0].mapping``).

    Returns:
        The problems in rule order, each with its full config path; empty when all is well.
    """
    return [
        ConfigProblem(f"{prefix}.{problem.path}", problem.message)
        for compiled in compile_mapping(rules, families, channels)
        for _, problem in compiled.problems
    ]


def _targets(transformations: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """``(target attribute, label, source attribute)`` of each readable transformation."""
    out = []
    for item in transformations:
        target, source = item.get("target"), item.get("source")
        if isinstance(target, Mapping) and isinstance(target.get("attribute"), str):
            label = item.get("label")
            origin = source.get("attribute") if isinstance(source, Mapping) else None
            out.append(
                (
                    target["attribute"],
                    label if isinstance(label, str) else "",
                    origin if isinstance(origin, str) else "?",
                )
            )
    return out


def mapping_warnings(
    rules: SourceMapping,
    families: Mapping[str, AssetFamily],
    transformations: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    prefix: str = "mapping",
) -> list[ConfigProblem]:
    """
    List what the rules write (or leave empty) that the PIM will not keep or show as meant.

    - A rule writes an attribute that is the target of one of its family's transformations:
      the PIM computes that value from the transformation's source and overwrites it.
    - A rule leaves the family's ``attribute_as_main_media`` empty (it maps no value to it,
      and no transformation fills it from an attribute the rule maps), or the family has none:
      its assets have no main media, so no preview in the PIM.

    Args:
        rules: The source's mapping rules.
        families: The live family structure by code (unknown families are left out: they are
            :func:`validate_rules` problems).
        transformations: Each family's ``transformations`` as the PIM returns them (the family
            JSON's array; unreadable entries are skipped). Without it, only the main media is
            checked.
        prefix: The config path of the rules (``sources[0].mapping``).

    Returns:
        One warning per finding, in rule order, each naming the family, the attribute and why.
    """
    found: list[ConfigProblem] = []
    for index, rule in enumerate(rules.families):
        family = families.get(rule.family)
        if family is None:
            continue
        base = f"{prefix}.families[{index}]"
        mapped = set(rule.attributes)
        targets = _targets((transformations or {}).get(rule.family, ()))
        for target, label, source in targets:
            if target in mapped:
                found.append(
                    ConfigProblem(
                        f"{base}.attributes.{target}",
                        f"family {rule.family!r}: attribute {target!r} is the target of the "
                        f"transformation {label!r} (from {source!r}): the PIM overwrites what "
                        "damsync writes there; map the source attribute instead",
                    )
                )
        main = family.attribute_as_main_media
        if not main:
            found.append(
                ConfigProblem(
                    base,
                    f"family {rule.family!r} has no attribute_as_main_media: its assets show no "
                    "main media in the PIM; set it on the family",
                )
            )
        elif main not in mapped and not any(t == main and s in mapped for t, _, s in targets):
            found.append(
                ConfigProblem(
                    f"{base}.attributes",
                    f"family {rule.family!r}: the rule maps no value to attribute_as_main_media "
                    f"{main!r}: its assets have no main media (no preview in the PIM)",
                )
            )
    return found


__all__ = ["ConfigProblem", "mapping_warnings", "validate_rules"]
