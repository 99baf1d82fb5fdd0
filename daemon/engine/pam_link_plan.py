"""
The product links a ``--dry-run`` would write: nothing is written.

:func:`plan_links` binds the legacy collection attributes as the write would
(:func:`~daemon.engine.pam_link_attributes.bind_attributes` with ``create=False``: the target,
when one is configured, is only read), then streams the legacy products and product models
(one read at a time) and counts, per kind and attribute, how many would get a collection and
how many asset codes those hold. Which codes the target family lacks is only known once the
assets are written, so the real run reports those.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from daemon.engine.pam_link_attributes import AttributeBinding, AttributePim, bind_attributes
from daemon.engine.pam_links import ProductSource
from daemon.engine.pam_migrate import PamPlan
from daemon.pam.pam_products import LinkKind, ProductRowError


@dataclass(slots=True)
class LinkPlan:
    """
    What the link pass would do.

    Args:
        bindings: One per legacy collection attribute (created, checked, refused...).
        read: Products / product models read, per kind.
        filled: ``(kind, attribute)`` -> how many would get a non-empty collection.
        codes: ``(kind, attribute)`` -> the asset codes those collections hold.
        rows_skipped: Input rows that are not a product.
        notes: Listings that could not be read.
    """

    bindings: list[AttributeBinding] = field(default_factory=list)
    read: Counter[LinkKind] = field(default_factory=Counter)
    filled: Counter[tuple[LinkKind, str]] = field(default_factory=Counter)
    codes: Counter[tuple[LinkKind, str]] = field(default_factory=Counter)
    rows_skipped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def to_create(self) -> list[AttributeBinding]:
        return [b for b in self.bindings if b.action == "create"]


async def plan_links(plan: PamPlan, source: ProductSource, pim: AttributePim | None) -> LinkPlan:
    """
    The dry run of the link pass (see the module docstring).

    Args:
        plan: The migration plan.
        source: The legacy products.
        pim: The target, only read; ``None``: not configured (the attributes are unchecked).

    Returns:
        The bindings and the counts.
    """
    found = LinkPlan()
    attributes = await source.collection_attributes()
    found.bindings = await bind_attributes(plan, attributes, pim, source.labels, create=False)
    usable = {b.attribute for b in found.bindings if b.usable}
    if not usable:
        return found
    async for read in source.products(sorted(usable)):
        if isinstance(read, ProductRowError):
            if read.row:
                found.rows_skipped += 1
            else:
                found.notes.append(read.reason)
            continue
        found.read[read.kind] += 1
        for attribute, codes in read.collections.items():
            if codes and attribute in usable:
                found.filled[(read.kind, attribute)] += 1
                found.codes[(read.kind, attribute)] += len(codes)
    return found


__all__ = ["LinkPlan", "plan_links"]
