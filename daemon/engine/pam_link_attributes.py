"""
The target's product asset-collection attributes for the product links of a PAM migration.

Each collection attribute of the legacy PIM is bound to the family the plan decided
(``--collection-map``, or the only family), then the target's product attribute of the same code
is checked (``pam-migration.md`` §7: a ``pim_catalog_asset_collection`` with
``reference_data_name`` = that family, neither localizable nor scopable, same code):

- missing: created (``PATCH /attributes/{code}``, akeneo-api.md §6) with that type and family,
  not localizable, not scopable, in the group :data:`GROUP` (Akeneo's default group, which every
  PIM has; the reference names no other), with the legacy attribute's labels when known;
- present and as wanted: used as it is;
- present and different (another type, another family, localizable or scopable): one report
  line, its values are not written. It is never changed: ``type``, ``localizable``,
  ``scopable`` and ``reference_data_name`` cannot change once created (§8.5), and another
  family would break the links other products already have.

:func:`bind_attributes` does it; with ``create=False`` (``--dry-run``) nothing is written and a
missing attribute is reported as one that would be created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.core.errors import PimNotFound, PimRejected
from daemon.engine.pam_migrate import PamPlan
from daemon.pim.models import ProductAttribute, UpsertStatus

COLLECTION = "pim_catalog_asset_collection"
#: The attribute group of a created collection attribute: Akeneo's default group.
GROUP = "other"

Action = Literal["exists", "create", "created", "differs", "unbound", "failed", "unchecked"]
#: The actions whose attribute takes the values.
USABLE: frozenset[Action] = frozenset({"exists", "create", "created", "unchecked"})


class AttributePim(Protocol):
    """What the binding needs of the target (:class:`~daemon.pim.PimClient` has it)."""

    async def get_product_attribute(self, code: str) -> ProductAttribute: ...

    async def upsert_product_attribute(
        self, code: str, body: Mapping[str, object]
    ) -> UpsertStatus: ...


@dataclass(frozen=True, slots=True)
class AttributeBinding:
    """
    One legacy collection attribute and what happens to it in the target.

    Args:
        attribute: The code (the same in both PIMs).
        family: The asset family its codes went to (``None``: bound to none).
        action: ``exists``, ``create`` (dry run), ``created``, ``differs``, ``unbound``,
            ``failed`` (the PIM refused the creation) or ``unchecked`` (dry run, no target).
        reason: Why its values are not written, or what was done.
    """

    attribute: str
    family: str | None
    action: Action
    reason: str = ""

    @property
    def usable(self) -> bool:
        return self.action in USABLE


def wanted_body(family: str, labels: Mapping[str, str]) -> dict[str, object]:
    """The product attribute a PAM collection becomes (``pam-migration.md`` §7)."""
    body: dict[str, object] = {
        "type": COLLECTION,
        "reference_data_name": family,
        "localizable": False,
        "scopable": False,
        "group": GROUP,
    }
    if labels:
        body["labels"] = dict(labels)
    return body


def difference(found: ProductAttribute, family: str) -> str:
    """Why ``found`` cannot take the collection of ``family`` ("" when it can)."""
    wanted = f"{COLLECTION} with reference_data_name {family}, neither localizable nor scopable"
    if not found.is_asset_collection:
        return f"the target has it as {found.type}, not {wanted}"
    if found.reference_data_name != family:
        return (
            f"the target links it to family {found.reference_data_name}, the migration put "
            f"its assets in {family}"
        )
    if found.localizable or found.scopable:
        return f"the target has it localizable or scopable, a PAM collection is {wanted}"
    return ""


def family_of(plan: PamPlan, attribute: str) -> str | None:
    """The family of a collection attribute: ``--collection-map``, else the only family."""
    mapped = {link.attribute: link.family for link in plan.links}
    if mapped:
        return mapped.get(attribute)
    return plan.families[0].code if len(plan.families) == 1 else None


async def bind_attributes(
    plan: PamPlan,
    attributes: Sequence[str],
    pim: AttributePim | None,
    labels: Callable[[str], Mapping[str, str]],
    *,
    create: bool = True,
) -> list[AttributeBinding]:
    """
    Bind, check and (unless ``create`` is false) create each collection attribute.

    Args:
        plan: The migration plan (families, ``--collection-map``).
        attributes: The legacy collection attribute codes.
        pim: The target; ``None``: not read (a dry run without ``--config``).
        labels: The legacy labels of an attribute (``{}`` when unknown).
        create: Create the missing ones (false: a dry run, nothing written).

    Returns:
        One binding per attribute, in order.
    """
    bindings: list[AttributeBinding] = []
    for attribute in attributes:
        family = family_of(plan, attribute)
        if family is None:
            why = "bound to no family (--collection-map): its product values are not migrated"
            bindings.append(AttributeBinding(attribute, None, "unbound", why))
        elif pim is None:
            bindings.append(AttributeBinding(attribute, family, "unchecked", "target not read"))
        else:
            bindings.append(await _one(pim, attribute, family, labels(attribute), create))
    return bindings


async def _one(
    pim: AttributePim, attribute: str, family: str, labels: Mapping[str, str], create: bool
) -> AttributeBinding:
    try:
        found = await pim.get_product_attribute(attribute)
    except PimNotFound:
        if not create:
            return AttributeBinding(
                attribute, family, "create", f"would be created as {COLLECTION} of {family}"
            )
        try:
            await pim.upsert_product_attribute(attribute, wanted_body(family, labels))
        except PimRejected as exc:
            return AttributeBinding(
                attribute, family, "failed", f"cannot be created: {exc}: its values are not written"
            )
        return AttributeBinding(
            attribute, family, "created", f"created as {COLLECTION} of {family} (group {GROUP})"
        )
    why = difference(found, family)
    if why:
        return AttributeBinding(
            attribute, family, "differs", f"{why}: it is left as it is, its values are not written"
        )
    return AttributeBinding(attribute, family, "exists")


__all__ = [
    "COLLECTION",
    "GROUP",
    "AttributeBinding",
    "AttributePim",
    "bind_attributes",
    "difference",
    "family_of",
    "wanted_body",
]
