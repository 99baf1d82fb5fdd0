"""
Writing asset codes into product asset collections: read, compute, confirm, PATCH.

The PIM replaces an asset collection's ``data`` array whole (merge-patch rule 2), so a link is a
read-modify-write of the product. For a set of collection changes:

1. The products are read (``identifier IN``, at most 100 per read, only the attributes touched).
   A product the PIM does not know fails the assets that wanted it (one line each).
2. Each collection's new content is computed (:mod:`.product_link_plan`).
3. Right before the PATCH the products to change are read again (the *confirm* read); any whose
   touched values differ from the first read was edited by someone else meanwhile: it is
   computed again from the new read and confirmed again (at most :data:`CONFIRM_ROUNDS`).
4. One NDJSON bulk PATCH line per changed product, carrying only the changed collection values
   (never the whole product), at most 100 lines per request. A collection that does not change
   is never written.

Each line's result is per product: a refused line fails the assets whose links changed there.

The remaining race, honestly: Akeneo has no conditional write (no ETag, no version check), so
an edit that lands between the confirm read and the PATCH (milliseconds) is overwritten for the
collections we write; the other values of the product are never touched. A product still
changing after the last confirm round is written from the newest read. A product deleted in
that same window would be created again by the PATCH (an upsert), holding only our collection;
one deleted before the confirm read is not written (its assets fail as unknown).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from daemon.core.errors import PimError
from daemon.engine.outcomes import UPSTREAM_WIDE
from daemon.engine.product_link_plan import CollectionPlan, plan_collection
from daemon.engine.product_link_targets import ProductLinkError, key_name
from daemon.pim.models import LineResult, Product, ProductAttribute, ProductKind
from daemon.store.product_link_store import LinkTarget, OwnedLink

#: Values per ``identifier IN`` read (Akeneo's page size).
MAX_IN = 100
#: Confirm reads of a product edited meanwhile before it is written from the newest read.
CONFIRM_ROUNDS = 3

ProductKey = tuple[str, str]


@runtime_checkable
class ProductPim(Protocol):
    """What the link writer needs of the PIM client."""

    def iter_products(
        self,
        search: Mapping[str, object],
        *,
        kind: Literal["product", "product_model"] = "product",
        attributes: Sequence[str] | None = None,
    ) -> AsyncIterator[Product]: ...

    async def get_product_attribute(self, code: str) -> ProductAttribute: ...

    async def upsert_products(
        self, products: Iterable[Mapping[str, object]]
    ) -> list[LineResult]: ...

    async def upsert_product_models(
        self, models: Iterable[Mapping[str, object]]
    ) -> list[LineResult]: ...


@dataclass(slots=True)
class Change:
    """What changes in one collection: rows to add, rows to take out, the placement."""

    adds: list[OwnedLink] = field(default_factory=list)
    removes: list[OwnedLink] = field(default_factory=list)
    placement: str | None = None


@dataclass(slots=True)
class EditOutcome:
    """
    What a set of changes did.

    Args:
        added: Rows to record.
        removed: Rows to forget.
        failed: Per DAM id, the first error of its links.
        patched: Product lines accepted.
        reads: Product list requests made (first and confirm reads).
    """

    added: list[OwnedLink] = field(default_factory=list)
    removed: list[OwnedLink] = field(default_factory=list)
    failed: dict[str, ProductLinkError] = field(default_factory=dict)
    patched: int = 0
    reads: int = 0

    def fail(self, dam_id: str, error: ProductLinkError) -> None:
        self.failed.setdefault(dam_id, error)


def _collection(product: Product | None, target: LinkTarget) -> list[str]:
    if product is None:
        return []
    for value in product.values.get(target.attribute, ()):
        if value.locale == target.locale and value.scope == target.scope:
            data = value.data
            return [str(c) for c in data] if isinstance(data, list) else []
    return []


def _touched(product: Product | None, targets: Iterable[LinkTarget]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(_collection(product, t)) for t in sorted(targets))


class CollectionWriter:
    """Applies collection changes of one source (see the module docstring)."""

    def __init__(self, pim: ProductPim, names: Mapping[tuple[str, int], int] | None = None) -> None:
        self.pim = pim
        #: ``(family, rule key) -> index``: how rules are named in messages.
        self.names: Mapping[tuple[str, int], int] = names or {}

    async def read(
        self, keys: Iterable[ProductKey], attributes: Sequence[str], outcome: EditOutcome
    ) -> dict[ProductKey, Product]:
        """The products among ``keys`` the PIM has, at most 100 per request."""
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, key in sorted(set(keys)):
            by_kind[kind].append(key)
        found: dict[ProductKey, Product] = {}
        for kind, wanted in by_kind.items():
            product_kind: ProductKind = "product_model" if kind == "product_model" else "product"
            for start in range(0, len(wanted), MAX_IN):
                chunk = wanted[start : start + MAX_IN]
                search = {"identifier": [{"operator": "IN", "value": chunk}]}
                outcome.reads += 1
                asked, seen = set(chunk), 0
                items = self.pim.iter_products(search, kind=product_kind, attributes=attributes)
                try:
                    async for item in items:
                        if item.key in asked:
                            found[(kind, item.key)] = item
                            seen += 1
                        if seen == len(asked):
                            break  # all found: a full page's empty next page is never asked
                finally:
                    close = getattr(items, "aclose", None)  # at once, not at garbage collection
                    if close is not None:
                        await close()
        return found

    async def apply(
        self, changes: Mapping[LinkTarget, Change], owned: Sequence[OwnedLink]
    ) -> EditOutcome:
        """
        Apply ``changes``; ``owned`` holds every row damsync has in the products concerned.

        A request the PIM refuses as a whole (a 4xx: an attribute deleted meanwhile...) fails
        the assets of these changes, recorded; it never blocks the next ones.

        Raises:
            PimUnavailable, PimAuthError: the PIM is down: nothing is recorded, retried later.
        """
        try:
            return await self._apply(changes, owned)
        except UPSTREAM_WIDE:
            raise
        except PimError as exc:
            outcome = EditOutcome()
            for target, change in sorted(changes.items()):
                for link in (*change.adds, *change.removes):
                    outcome.fail(link.dam_id, _refused(target, link, None, exc, self.names))
            return outcome

    async def _apply(
        self, changes: Mapping[LinkTarget, Change], owned: Sequence[OwnedLink]
    ) -> EditOutcome:
        outcome = EditOutcome()
        if not changes:
            return outcome
        attributes = sorted({t.attribute for t in changes})
        by_target: dict[LinkTarget, list[OwnedLink]] = defaultdict(list)
        for link in owned:
            by_target[link.target].append(link)
        read = await self.read((t.product_key for t in changes), attributes, outcome)
        live: dict[LinkTarget, Change] = {}
        for target, change in changes.items():
            if target.product_key in read:
                live[target] = change
                continue
            # Unknown: the assets wanting it fail; rows into it are stale.
            outcome.removed += by_target.get(target, [])
            for add in change.adds:
                outcome.fail(add.dam_id, _unknown(target, add, self.names))
        plans = self._plan(live, by_target, read)
        per_product: dict[ProductKey, list[LinkTarget]] = defaultdict(list)
        for target in live:
            per_product[target.product_key].append(target)
        for _ in range(CONFIRM_ROUNDS):
            pending = {t.product_key for t, p in plans.items() if p.changed}
            if not pending:
                break
            again = await self.read(pending, attributes, outcome)
            for key in pending - set(again):  # deleted meanwhile: never re-created by a PATCH
                for target in per_product.pop(key):
                    plans.pop(target)
                    for add in live.pop(target).adds:
                        outcome.fail(add.dam_id, _unknown(target, add, self.names))
            pending &= set(again)
            moved = {
                key
                for key in pending
                if _touched(again.get(key), per_product[key])
                != _touched(read.get(key), per_product[key])
            }
            read.update(again)
            if not moved:
                break
            plans.update(
                self._plan(
                    {t: c for t, c in live.items() if t.product_key in moved}, by_target, read
                )
            )
        await self._write(live, plans, per_product, outcome)
        return outcome

    @staticmethod
    def _plan(
        changes: Mapping[LinkTarget, Change],
        by_target: Mapping[LinkTarget, list[OwnedLink]],
        read: Mapping[ProductKey, Product],
    ) -> dict[LinkTarget, CollectionPlan]:
        return {
            target: plan_collection(
                _collection(read.get(target.product_key), target),
                by_target.get(target, []),
                change.adds,
                change.removes,
                change.placement,
            )
            for target, change in changes.items()
        }

    async def _write(
        self,
        live: Mapping[LinkTarget, Change],
        plans: Mapping[LinkTarget, CollectionPlan],
        per_product: Mapping[ProductKey, list[LinkTarget]],
        outcome: EditOutcome,
    ) -> None:
        lines: dict[ProductKey, dict[str, list[dict[str, object]]]] = defaultdict(dict)
        for target, plan in sorted(plans.items()):
            if not plan.changed:
                outcome.added += plan.added  # nothing to write: the rows are true already
                outcome.removed += plan.removed
                continue
            values = lines[target.product_key].setdefault(target.attribute, [])
            values.append({"locale": target.locale, "scope": target.scope, "data": list(plan.data)})
        for kind in ("product", "product_model"):
            keys = [k for k in sorted(lines) if k[0] == kind]
            if not keys:
                continue
            name = "code" if kind == "product_model" else "identifier"
            body = [{name: key, "values": lines[(kind, key)]} for _, key in keys]
            if kind == "product_model":
                results = await self.pim.upsert_product_models(body)
            else:
                results = await self.pim.upsert_products(body)
            for product_key, result in zip(keys, results, strict=True):
                targets = per_product[product_key]
                if result.ok:
                    outcome.patched += 1
                    for t in targets:
                        outcome.added += plans[t].added
                        outcome.removed += plans[t].removed
                    continue
                if isinstance(result.error, UPSTREAM_WIDE):
                    raise result.error
                for t in targets:
                    for link in (*live[t].adds, *live[t].removes):
                        outcome.fail(link.dam_id, _refused(t, link, result, names=self.names))


def _what(target: LinkTarget) -> str:
    noun = "product model code" if target.kind == "product_model" else "product identifier"
    return f"{noun} {target.product!r}"


def _name(link: OwnedLink, names: Mapping[tuple[str, int], int]) -> str:
    return key_name(link.family, link.rule, names, link.target.attribute)


def _unknown(
    target: LinkTarget, link: OwnedLink, names: Mapping[tuple[str, int], int]
) -> ProductLinkError:
    return ProductLinkError(
        f"unknown {_what(target)} for asset {link.asset_code!r} (DAM {link.dam_id!r}), "
        f"rule {_name(link, names)}"
    )


def _refused(
    target: LinkTarget,
    link: OwnedLink,
    result: LineResult | None,
    error: PimError | None = None,
    names: Mapping[tuple[str, int], int] | None = None,
) -> ProductLinkError:
    name = _name(link, names or {})
    if result is None:
        return ProductLinkError(
            f"{_what(target)}: the PIM refused the product request for asset "
            f"{link.asset_code!r}, rule {name}: {error}"
        )
    errors = "; ".join(e.message for e in result.errors if e.message)
    reason = result.message or (str(result.error) if isinstance(result.error, PimError) else "")
    where = target.attribute + "".join(f" [{x}]" for x in (target.locale, target.scope) if x)
    return ProductLinkError(
        f"{_what(target)} refused {where} for asset {link.asset_code!r}, rule "
        f"{name}: {result.status_code} {reason}" + (f" ({errors})" if errors else "")
    )


__all__ = ["CONFIRM_ROUNDS", "Change", "CollectionWriter", "EditOutcome", "ProductPim"]
