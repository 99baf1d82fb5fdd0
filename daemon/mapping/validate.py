"""
Check a source's mapping rules against the live PIM structure, for ``damsync validate-config``.

Syntax errors are already refused when the rules load (:func:`~daemon.mapping.rules.load_mapping`);
this finds what only the PIM can tell: unknown families, attributes, locales and channels, a source
of the wrong kind for the attribute type, option policy and media attributes without the binary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


__all__ = ["ConfigProblem", "validate_rules"]
