"""
Structure as code against a live PIM: read what it holds, plan, apply the steps in order, export.

The PIM is reached through :class:`StructurePim` (``daemon.pim.PimClient`` implements it); the
plan itself is :func:`daemon.engine.structure_plan.plan_structure`, pure. ``apply`` sends each
step once, in the plan's order, and stops at the first refusal: the steps before it are done and
a new ``apply`` plans from there, so applying twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from daemon.core.errors import PimError
from daemon.engine.structure_plan import StructurePlan, StructureStep, plan_structure
from daemon.pim.structure_records import JsonValue, StructureFamily


class StructurePim(Protocol):
    """The reads and PATCH upserts of families, attributes and options."""

    async def structure_family_codes(self) -> list[str]: ...

    async def read_structure_family(self, code: str) -> StructureFamily | None: ...

    async def upsert_asset_family(self, code: str, body: Mapping[str, JsonValue]) -> object: ...

    async def upsert_asset_attribute(
        self, family: str, code: str, body: Mapping[str, JsonValue]
    ) -> object: ...

    async def upsert_attribute_option(
        self, family: str, attribute: str, code: str, labels: Mapping[str, str] | None = None
    ) -> object: ...


class StructureStepError(Exception):
    """A step the PIM refused; the steps before it were applied."""

    def __init__(self, step: StructureStep, done: int, cause: PimError) -> None:
        super().__init__(f"{step.target}: {cause}")
        self.step = step
        self.done = done
        self.cause = cause


async def read_live(pim: StructurePim, codes: Sequence[str]) -> dict[str, StructureFamily | None]:
    """Each family as the PIM holds it (``None`` when it has none)."""
    return {code: await pim.read_structure_family(code) for code in codes}


async def plan_against(pim: StructurePim, desired: Sequence[StructureFamily]) -> StructurePlan:
    """
    The plan that makes the PIM hold ``desired``.

    Returns:
        The plan (see :func:`~daemon.engine.structure_plan.plan_structure`).
    """
    live = await read_live(pim, [family.code for family in desired])
    return plan_structure(desired, live)


async def apply_steps(
    pim: StructurePim,
    steps: Sequence[StructureStep],
    on_step: Callable[[StructureStep], None] | None = None,
) -> int:
    """
    Send the steps in order; ``on_step`` hears each one once the PIM accepted it.

    Returns:
        The number of steps applied (all of them).

    Raises:
        StructureStepError: the PIM refused a step; the ones before it stay applied.
    """
    for done, step in enumerate(steps):
        try:
            await _send(pim, step)
        except PimError as exc:
            raise StructureStepError(step, done, exc) from exc
        if on_step is not None:
            on_step(step)
    return len(steps)


async def _send(pim: StructurePim, step: StructureStep) -> None:
    if step.kind in ("family", "family_links"):
        await pim.upsert_asset_family(step.family, step.body)
    elif step.kind == "attribute":
        assert step.attribute is not None
        await pim.upsert_asset_attribute(step.family, step.attribute, step.body)
    else:
        assert step.attribute is not None and step.option is not None
        labels = step.body.get("labels")
        await pim.upsert_attribute_option(
            step.family,
            step.attribute,
            step.option,
            {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else None,
        )


async def export_live(
    pim: StructurePim, codes: Sequence[str] | None = None
) -> list[StructureFamily]:
    """
    The live families (``codes``, or every one), for ``structure export``.

    Raises:
        LookupError: a family of ``codes`` the PIM does not have.
    """
    wanted = list(codes) if codes else await pim.structure_family_codes()
    families = []
    for code in wanted:
        family = await pim.read_structure_family(code)
        if family is None:
            raise LookupError(f"the PIM has no asset family {code!r}")
        families.append(family)
    return families


__all__ = [
    "StructurePim",
    "StructureStepError",
    "apply_steps",
    "export_live",
    "plan_against",
    "read_live",
]
