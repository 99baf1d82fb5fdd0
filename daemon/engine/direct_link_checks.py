"""
``validate-config`` for direct product links: each rule's product attribute, on the live PIM.

For every ``sources[i].mapping.families[j].product_links[k]`` the product attribute is read once
(per PIM client) and checked as the link writer checks it before writing
(:func:`daemon.engine.product_links.attribute_problem`): it exists, is an asset collection of the
rule's family (``reference_data_name``), and its localizable/scopable flags match the rule's
``locale``/``scope``. One line per problem, named by the rule's place in the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from daemon.core.errors import PimNotFound, SyncError
from daemon.engine.product_links import attribute_problem
from daemon.mapping.rules import FamilyRule
from daemon.pim.models import ProductAttribute


class ProductAttributeReader(Protocol):
    """What the check needs of the PIM client."""

    async def get_product_attribute(self, code: str) -> ProductAttribute: ...


async def direct_link_problems(
    pim: ProductAttributeReader, families: Sequence[FamilyRule], prefix: str
) -> list[str]:
    """
    The problems of the direct product link rules of ``families`` (a source's mapping).

    Args:
        pim: The source's PIM client.
        families: ``mapping.families``, in their configured order.
        prefix: Where that list is configured, e.g. ``sources[0].mapping``.

    Returns:
        One line per rule that cannot write its attribute (empty: all can).
    """
    read: dict[str, ProductAttribute | str] = {}
    lines: list[str] = []
    for j, family in enumerate(families):
        for k, rule in enumerate(family.product_links):
            found = read.get(rule.attribute)
            if found is None:
                found = read[rule.attribute] = await _read(pim, rule.attribute)
            problem = (
                found
                if isinstance(found, str)
                else attribute_problem(found, family.family, rule.locale, rule.scope)
            )
            if problem:
                lines.append(f"{prefix}.families[{j}].product_links[{k}]: {problem}")
    return lines


async def _read(pim: ProductAttributeReader, code: str) -> ProductAttribute | str:
    """The attribute, or why it cannot be used (one line)."""
    try:
        return await pim.get_product_attribute(code)
    except PimNotFound:
        return f"product attribute {code!r} does not exist in the PIM"
    except SyncError as exc:
        first = str(exc).strip().splitlines()
        return f"product attribute {code!r} cannot be read: {first[0] if first else exc!r}"


__all__ = ["ProductAttributeReader", "direct_link_problems"]
