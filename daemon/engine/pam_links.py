"""
Product links kept across instances: the legacy products' PAM collections into the target.

After the assets are written (:mod:`daemon.engine.pam_write`), :class:`PamLinker`

1. binds each collection attribute of the source to the family the plan decided
   (``--collection-map``, or the only family), and checks the target's product attribute of the
   same code (:mod:`daemon.engine.pam_link_attributes`): a missing one is created as a
   ``pim_catalog_asset_collection`` with ``reference_data_name`` = that family (``pam-migration.md``
   §7); a different one is one report line, left as it is, and its values are not written;
2. streams the legacy products, then the product models (:class:`ProductSource`: the legacy API
   or product / product-model CSVs) by chunks of 100 of one kind: reads the chunk's products
   (models, by code) from the target (one the target does not have is one report line: a bulk
   PATCH would create it); drops from each collection the asset
   codes the target family does not hold, one line each, with the migration's reason when it
   left the asset out (a code skipped once but written from another row is kept); sends one
   NDJSON bulk PATCH with only the changed collection values (at most 100 lines, so at most
   ``ceil(products / 100)`` PATCHes);
3. verifies: reads the chunk's products back and checks that every collection value resolves to
   an existing asset of its family, and reads back as written; each failure is a report line.

Asset codes are kept verbatim by the migration (§7): ``renamed`` maps nothing unless a caller
gives it codes. Memory holds one chunk, plus the codes the migration skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from daemon.engine.pam_link_attributes import AttributePim, bind_attributes
from daemon.engine.pam_link_records import LinkCounts, collect_skipped
from daemon.engine.pam_migrate import PamPlan
from daemon.engine.pam_report import ReportLine
from daemon.pam.pam_products import LinkKind, ProductLinks, ProductRead, ProductRowError
from daemon.pam.pam_records import CODE_RULE
from daemon.pim.models import LineResult, Product, RemoteAsset
from daemon.pim.structure_records import JsonValue

#: Products per read and per bulk PATCH (akeneo-api §6).
CHUNK = 100
#: An Asset Manager code is 1-255 characters of ``^[a-zA-Z0-9_]+$`` (``pam-migration.md`` §7).
CODE_LENGTH = 255
#: The key of each kind in a bulk PATCH line (akeneo-api §6).
KEYS: Mapping[LinkKind, str] = {"product": "identifier", "product_model": "code"}
NAMES: Mapping[LinkKind, str] = {"product": "product", "product_model": "product model"}


class LinkPim(AttributePim, Protocol):
    """What the link pass needs of the target PIM (:class:`~daemon.pim.PimClient` has it)."""

    def iter_products_by_key(
        self,
        keys: Iterable[str],
        *,
        kind: LinkKind = "product",
        attributes: Sequence[str] | None = None,
    ) -> AsyncIterator[Product]: ...

    async def upsert_products(
        self, products: Iterable[Mapping[str, object]]
    ) -> list[LineResult]: ...

    async def upsert_product_models(
        self, models: Iterable[Mapping[str, object]]
    ) -> list[LineResult]: ...

    def iter_assets(
        self, family: str, *, codes: Iterable[str] | None = None
    ) -> AsyncIterator[RemoteAsset]: ...


class ProductSource(Protocol):
    """The legacy products: :class:`~daemon.pam.pam_products.ApiProducts` or ``CsvProducts``."""

    async def collection_attributes(self) -> list[str]: ...

    def labels(self, attribute: str) -> Mapping[str, str]: ...

    def products(self, attributes: Collection[str]) -> AsyncIterator[ProductRead]: ...


def _no_labels(attribute: str) -> Mapping[str, str]:
    return {}


def _values(product: Product | None, attribute: str) -> list[str]:
    if product is None:
        return []
    codes: list[str] = []
    for value in product.values.get(attribute, ()):
        if isinstance(value.data, list):
            codes.extend(str(c) for c in value.data)
    return codes


class PamLinker:
    """
    Writes and verifies the products' collections (see the module docstring).

    Args:
        pim: The target.
        sink: Hears every report line.
        skipped: Asset code -> why the migration left it out.
        renamed: Legacy asset code -> target code (empty: codes are kept).
    """

    def __init__(
        self,
        pim: LinkPim,
        sink: Callable[[ReportLine], None],
        skipped: Mapping[str, str],
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        self.pim = pim
        self.sink = sink
        self.skipped = skipped
        self.renamed = dict(renamed or {})
        self.counts = LinkCounts()
        self.families: dict[str, str] = {}

    def _note(
        self,
        reason: str,
        *,
        code: str | None = None,
        family: str | None = None,
        field: str = "",
        where: str = "",
    ) -> None:
        self.sink(ReportLine("note", code, family, field, reason, where))

    async def run(self, plan: PamPlan, source: ProductSource) -> LinkCounts:
        """Bind, check or create the attributes, then write and verify every collection."""
        attributes = await source.collection_attributes()
        self.families = await self.bind(plan, attributes, source.labels)
        if not self.families:
            return self.counts
        chunk: dict[str, ProductLinks] = {}
        kind: LinkKind = "product"
        async for read in source.products(sorted(self.families)):
            if isinstance(read, ProductRowError):
                if read.row:
                    self.counts.rows_skipped += 1
                    self._note(f"product row left out: {read.reason}", where=read.where)
                else:
                    self._note(read.reason, where=read.where)
                continue
            if read.kind != kind:
                if chunk:
                    await self._chunk(chunk, kind)
                chunk, kind = {}, read.kind
            name = NAMES[kind]
            for attribute, why in read.problems:
                self._note(f"{name} {read.identifier}: {why}", field=attribute, where=read.where)
            if read.identifier in chunk:
                self._note(
                    f"{name} {read.identifier} is listed twice: the last one is used",
                    where=read.where,
                )
            chunk[read.identifier] = read
            if len(chunk) >= CHUNK:
                await self._chunk(chunk, kind)
                chunk = {}
        if chunk:
            await self._chunk(chunk, kind)
        return self.counts

    async def bind(
        self,
        plan: PamPlan,
        attributes: Sequence[str],
        labels: Callable[[str], Mapping[str, str]] | None = None,
    ) -> dict[str, str]:
        """Collection attribute -> family, for the attributes the target has or now has."""
        bindings = await bind_attributes(plan, attributes, self.pim, labels or _no_labels)
        bound: dict[str, str] = {}
        for binding in bindings:
            if binding.action == "created":
                self.counts.attributes_created += 1
            if binding.action == "unbound":
                self._note(
                    f"collection attribute {binding.attribute} is {binding.reason}",
                    field=binding.attribute,
                )
            elif binding.action == "created" or not binding.usable:
                # One line for an attribute created, and for one the target has but unusable.
                self._note(
                    f"product attribute {binding.attribute}: {binding.reason}",
                    family=binding.family,
                    field=binding.attribute,
                )
            if binding.usable and binding.family is not None:
                bound[binding.attribute] = binding.family
            else:
                self.counts.attributes_refused += 1
        self.counts.attributes = len(bound)
        return bound

    async def _existing(self, codes_by_family: Mapping[str, set[str]]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for family, codes in codes_by_family.items():
            found[family] = set()
            # A code that breaks the rule cannot be an asset: never sent in a search.
            valid = sorted(c for c in codes if len(c) <= CODE_LENGTH and CODE_RULE.match(c))
            if valid:
                async for asset in self.pim.iter_assets(family, codes=valid):
                    found[family].add(asset.code)
        return found

    def _wanted(self, chunk: Mapping[str, ProductLinks]) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {family: set() for family in self.families.values()}
        for read in chunk.values():
            for attribute, codes in read.collections.items():
                family = self.families.get(attribute)
                if family is not None:
                    wanted[family].update(self.renamed.get(c, c) for c in codes)
        return wanted

    async def _chunk(self, chunk: Mapping[str, ProductLinks], kind: LinkKind) -> None:
        attributes = sorted(self.families)
        if kind == "product":
            self.counts.products += len(chunk)
        else:
            self.counts.models += len(chunk)
        current = {
            p.key: p
            async for p in self.pim.iter_products_by_key(chunk, kind=kind, attributes=attributes)
        }
        existing = await self._existing(self._wanted(chunk))
        lines: list[dict[str, object]] = []
        written: dict[str, dict[str, list[str]]] = {}
        for identifier, read in chunk.items():
            if identifier not in current:
                self.counts.unknown += 1
                self._note(
                    f"{NAMES[kind]} {identifier} is not in the target PIM: its collections are "
                    "not written",
                    where=read.where,
                )
                continue
            values: dict[str, JsonValue] = {}
            for attribute, codes in read.collections.items():
                family = self.families.get(attribute)
                if family is None:
                    continue
                kept = self._kept(read, attribute, family, codes, existing[family])
                written.setdefault(identifier, {})[attribute] = kept
                if kept != _values(current[identifier], attribute):
                    values[attribute] = [{"locale": None, "scope": None, "data": list(kept)}]
            if values:
                lines.append({KEYS[kind]: identifier, "values": values})
            else:
                self.counts.unchanged += 1
        if lines:
            self.counts.patches += 1
            if kind == "product":
                results = await self.pim.upsert_products(lines)
            else:
                results = await self.pim.upsert_product_models(lines)
            self._results(chunk, lines, results, written, kind)
        await self.verify(written, chunk, kind)

    def _kept(
        self, read: ProductLinks, attribute: str, family: str, codes: Sequence[str], have: set[str]
    ) -> list[str]:
        kept: list[str] = []
        for legacy in codes:
            code = self.renamed.get(legacy, legacy)
            if code in have:
                kept.append(code)
                continue
            if legacy in self.skipped:
                why = f"was not migrated ({self.skipped[legacy]})"
            else:
                why = f"is not in family {family} of the target"
            self.counts.codes_left_out += 1
            self._note(
                f"{NAMES[read.kind]} {read.identifier}: asset {legacy} {why}: left out of "
                f"{attribute}",
                code=legacy,
                family=family,
                field=attribute,
                where=read.where,
            )
        return list(dict.fromkeys(kept))

    def _results(
        self,
        chunk: Mapping[str, ProductLinks],
        lines: list[dict[str, object]],
        results: list[LineResult],
        written: dict[str, dict[str, list[str]]],
        kind: LinkKind,
    ) -> None:
        for line, result in zip(lines, results, strict=True):
            identifier = str(line[KEYS[kind]])
            if result.ok:
                self.counts.written += 1
                continue
            self.counts.refused += 1
            written.pop(identifier, None)
            detail = "; ".join(f"{e.property}: {e.message}" for e in result.errors)
            self._note(
                f"{NAMES[kind]} {identifier}: collections refused by the PIM "
                f"({result.status_code}): "
                f"{result.message} {detail}".strip(),
                where=chunk[identifier].where,
            )

    async def verify(
        self,
        written: Mapping[str, Mapping[str, list[str]]],
        chunk: Mapping[str, ProductLinks],
        kind: LinkKind = "product",
    ) -> None:
        """Read the products back: each value as written, each code an asset of its family."""
        if not written:
            return
        attributes = sorted(self.families)
        back = {
            p.key: p
            async for p in self.pim.iter_products_by_key(written, kind=kind, attributes=attributes)
        }
        held: dict[str, set[str]] = {family: set() for family in self.families.values()}
        for identifier, by_attribute in written.items():
            for attribute in by_attribute:
                held[self.families[attribute]].update(_values(back.get(identifier), attribute))
        existing = await self._existing(held)
        for identifier, by_attribute in written.items():
            where = chunk[identifier].where
            for attribute, expected in by_attribute.items():
                family = self.families[attribute]
                codes = _values(back.get(identifier), attribute)
                self.counts.verified_values += 1
                if codes != expected:
                    self.counts.verify_failures += 1
                    self._note(
                        f"verify: {NAMES[kind]} {identifier} reads back {attribute} = {codes}, "
                        f"written {expected}",
                        family=family,
                        field=attribute,
                        where=where,
                    )
                for code in codes:
                    if code not in existing[family]:
                        self.counts.verify_failures += 1
                        self._note(
                            f"verify: {NAMES[kind]} {identifier}: asset {code} of {attribute} "
                            f"is not in family {family}",
                            code=code,
                            family=family,
                            field=attribute,
                            where=where,
                        )


__all__ = [
    "CHUNK",
    "LinkCounts",
    "LinkPim",
    "PamLinker",
    "ProductSource",
    "collect_skipped",
]
