"""
A family's whole structure as the PIM holds it, for structure as code (``damsync structure``):
every property of every attribute and option, read raw into the records of
:mod:`daemon.pim.structure_records`.

:class:`StructureMethods` is a mixin of :class:`~daemon.pim.client.PimClient`: the raw reads.
The writes are the client's ``upsert_asset_family``, ``upsert_asset_attribute`` and
``upsert_attribute_option`` (PATCH upserts; the API has no DELETE for any of them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.core.errors import PimNotFound
from daemon.pim import urls
from daemon.pim.parse import Reader
from daemon.pim.reads import get_list, get_one, pages
from daemon.pim.structure_records import (
    JsonValue,
    StructureAttribute,
    StructureFamily,
    StructureOption,
)
from daemon.upstream.session import Upstream

#: Attribute types whose options are read through the options endpoints.
OPTION_TYPES = frozenset({"single_option", "multiple_options"})

#: The attribute keys that are not "properties": identity, labels, immutable ones, links.
_NOT_PROPERTIES = frozenset(
    {"code", "labels", "type", "value_per_locale", "value_per_channel", "_links"}
)


def _raw(_reader: Reader, item: dict[str, Any]) -> dict[str, Any]:
    return item


def _labels(raw: Any) -> dict[str, str]:
    # PHP encodes an empty map as [] now and then.
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v is not None}


def _objects(raw: Any) -> tuple[Mapping[str, JsonValue], ...]:
    return tuple(x for x in raw if isinstance(x, dict)) if isinstance(raw, list) else ()


def structure_attribute(
    raw: Mapping[str, Any], options: tuple[StructureOption, ...] | None
) -> StructureAttribute:
    """
    An attribute document (as the PIM returns it) as a record.

    Returns:
        The attribute, every property the PIM sent kept in ``properties``.
    """
    return StructureAttribute(
        code=str(raw["code"]),
        type=str(raw["type"]),
        value_per_locale=raw.get("value_per_locale") is True,
        value_per_channel=raw.get("value_per_channel") is True,
        labels=_labels(raw.get("labels")),
        properties={k: v for k, v in raw.items() if k not in _NOT_PROPERTIES},
        options=options,
    )


class StructureMethods:
    """The raw structure reads of :class:`~daemon.pim.client.PimClient`."""

    def _open(self) -> Upstream:
        raise NotImplementedError

    async def structure_family_codes(self) -> list[str]:
        """Every asset family code, in the PIM's order."""
        codes: list[str] = []
        async for page in pages(
            self._open(),
            endpoint=urls.ASSET_FAMILIES,
            url=urls.ASSET_FAMILIES,
            params=None,
            item=lambda r, item: r.code(item, "asset family"),
        ):
            codes.extend(page)
        return codes

    async def read_structure_family(self, code: str) -> StructureFamily | None:
        """
        A family with every attribute and every option, as the PIM holds them.

        Returns:
            The family, or ``None`` when the PIM has no family ``code``.
        """
        upstream = self._open()
        url = urls.path(urls.ASSET_FAMILY, family=code)
        try:
            family = await get_one(upstream, endpoint=urls.ASSET_FAMILY, url=url, item=_raw)
        except PimNotFound:
            return None
        url = urls.path(urls.ASSET_ATTRIBUTES, family=code)
        raws = await get_list(upstream, endpoint=urls.ASSET_ATTRIBUTES, url=url, item=_raw)
        attributes = []
        for raw in raws:
            attr_code = raw.get("code")
            if not isinstance(attr_code, str) or not isinstance(raw.get("type"), str):
                continue  # parse.asset_attribute refuses these for the sync; nothing to manage
            options = None
            if raw["type"] in OPTION_TYPES:
                url = urls.path(urls.ASSET_OPTIONS, family=code, attribute=attr_code)
                found = await get_list(upstream, endpoint=urls.ASSET_OPTIONS, url=url, item=_raw)
                options = tuple(
                    StructureOption(code=str(o["code"]), labels=_labels(o.get("labels")))
                    for o in found
                    if isinstance(o.get("code"), str)
                )
            attributes.append(structure_attribute(raw, options))
        nc = family.get("naming_convention")
        main = family.get("attribute_as_main_media")
        return StructureFamily(
            code=code,
            labels=_labels(family.get("labels")),
            attribute_as_main_media=main if isinstance(main, str) and main else None,
            naming_convention=nc if isinstance(nc, dict) else {},
            product_link_rules=_objects(family.get("product_link_rules")),
            transformations=_objects(family.get("transformations")),
            attributes=tuple(attributes),
        )


__all__ = ["OPTION_TYPES", "StructureMethods", "structure_attribute"]
