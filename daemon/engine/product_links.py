"""
Product links, direct mode: assets written into product asset collections by damsync itself.

The life of a link (issue 17, ``docs/mapping.md``):

1. **Stage** (:meth:`ProductLinks.stage`, before the batch commit): for each asset the PIM just
   accepted, its family rule's ``product_links`` are read from its DAM metadata and the wanted
   collections staged in ``product_link_wants``.
2. **Commit**: the batch's own commit transaction turns those rows *ready*
   (:func:`daemon.store.product_link_store.activate_wants`), with the asset states and the cursor.
3. **Write** (:meth:`ProductLinks.flush`, right after the commit): ready wants are written to
   the products (:mod:`.product_link_writer`: read, compute, confirm, NDJSON PATCH of the changed
   collections only) and settled in one store transaction: what damsync put where is recorded
   in ``product_links``, failures go to the failures table (stage ``links``, one clear line per
   asset). A crash or an outage between the commit and this write leaves the rows ready: the
   next flush (the next batch commit of any pass) resumes them.

A withdrawn asset under the ``unlink`` or ``delete`` policy leaves the collections damsync put
it in (:meth:`ProductLinks.unlink`, before it is deleted); codes damsync did not add are never
dropped. Each flush or unlink holds one lock, so two of them never edit a product at once.

Each settle is fenced by the lease the pass runs under (a stale owner is refused with
``LeaseLostError``, nothing recorded). Rules are stored by a stable key derived from the
collection they write (:func:`.product_link_targets.rule_key`), so reordering them keeps track of
``replace`` links; rows written under a rule's index before are taken over by position once.
Known limit: an asset found unchanged is not linked again (a new rule applies to assets as they
change, or to all with ``sync --once --full``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

from daemon.core.errors import PimError, PimNotFound
from daemon.core.records import DamAsset
from daemon.engine.batcher import Routed
from daemon.engine.outcomes import UPSTREAM_WIDE, failure_of
from daemon.engine.product_link_targets import (
    KEY_BASE,
    CompiledLinkRule,
    ProductLinkError,
    attribute_problem,
    compile_link_rules,
    key_name,
    wants_of,
)
from daemon.engine.product_link_writer import Change, CollectionWriter, EditOutcome, ProductPim
from daemon.engine.seams import LinkObserver
from daemon.mapping import AssetKey, Mapper
from daemon.mapping.rules import FamilyRule
from daemon.pim.models import ProductAttribute
from daemon.store import AssetWrite, FailureRecord, Lease
from daemon.store.product_link_store import (
    LINK_STAGE,
    LinkTarget,
    LinkWant,
    OwnedLink,
    ProductLinkStore,
)
from daemon.store.session_boundary import SessionBoundary

log = structlog.get_logger(__name__)

#: Assets whose ready wants one flush round writes (their products: a few PATCHes of 100).
WANTS_PER_ROUND = 500


@dataclass(slots=True)
class LinkReport:
    """What the link writer did (summed over flushes): for logs and the benchmark."""

    products_patched: int = 0
    reads: int = 0
    failed: int = 0


class ProductLinks:
    """
    The direct product links of one source (see the module docstring).

    Disabled (every call a no-op) when the PIM client cannot read or write products or the
    store is not a database store (tests with fakes). A source without link rules costs one
    store read per process (leftover wants) and one per group of withdrawn assets.
    """

    def __init__(self, source: str, pim: object, store: object) -> None:
        self.source = source
        self.pim = pim if isinstance(pim, ProductPim) else None
        self.store = (
            ProductLinkStore.for_store(store) if isinstance(store, SessionBoundary) else None
        )
        self.report = LinkReport()
        self._lock = asyncio.Lock()
        # Ready wants may exist: at start (a crash left some) and after each staging. A source
        # without link rules then reads the table once per process, not once per batch.
        self._maybe_ready = True
        self._compiled: dict[int, tuple[FamilyRule, tuple[CompiledLinkRule, ...]]] = {}
        self._attributes: dict[str, ProductAttribute | str] = {}
        #: ``(family, rule key) -> index`` of the rules staged: messages, rows stored by index.
        self._names: dict[tuple[str, int], int] = {}
        #: Where links written and failed are counted (the daemon's metrics), when wired.
        self.observer: LinkObserver | None = None

    @property
    def enabled(self) -> bool:
        return self.pim is not None and self.store is not None

    def _rules(self, rule: FamilyRule) -> tuple[CompiledLinkRule, ...]:
        found = self._compiled.get(id(rule))
        if found is None or found[0] is not rule:
            found = self._compiled[id(rule)] = (rule, compile_link_rules(rule.product_links))
        return found[1]

    async def stage(
        self,
        mapper: Mapper,
        written: Sequence[AssetWrite],
        assets: Sequence[Routed | DamAsset],
        unchanged: Sequence[str] = (),
    ) -> list[FailureRecord]:
        """
        Stage the wanted links of a batch's ``written`` and ``unchanged`` assets (before its
        commit, which makes them ready). Links live outside the asset's content hash, so an
        asset found unchanged may still name other products: it is staged too, but only an
        asset whose wants differ from what damsync already put in place (rows, positions).

        Returns:
            Failures of assets whose metadata a rule cannot use (that rule only is skipped).
        """
        families = mapper.rules.families
        if self.store is None or not self.enabled or not any(r.product_links for r in families):
            return []
        store = self.store
        by_id: dict[str, DamAsset] = {}
        routed: dict[str, AssetKey] = {}  # the key (with its rule) found when it was routed
        for item in assets:
            dam = item if isinstance(item, DamAsset) else item.asset
            by_id[dam.id] = dam
            if isinstance(item, Routed) and isinstance(item.key, AssetKey):
                routed[dam.id] = item.key
        found: dict[str, list[LinkWant]] = {}
        failures: list[FailureRecord] = []
        pim_keys = {w.dam_id: (w.family, w.code) for w in written}
        for dam_id in [*pim_keys, *(i for i in unchanged if i not in pim_keys)]:
            asset = by_id.get(dam_id)
            if asset is None:
                continue
            key: object = routed.get(dam_id)
            if not isinstance(key, AssetKey) or key.rule < 0:
                key = mapper.identify(asset)
            if not isinstance(key, AssetKey) or not 0 <= key.rule < len(families):
                continue
            rules = self._rules(families[key.rule])
            if rules:
                family, code = pim_keys.get(dam_id, (key.family, key.code))
                self._names.update({(family, r.key): r.index for r in rules})
                found[dam_id], problems = wants_of(asset, family, code, rules)
                failures += [failure_of(dam_id, LINK_STAGE, p, asset) for p in problems]
        if not found:
            return failures
        rows = await asyncio.to_thread(store.owned_by_assets, self.source, sorted(found))
        by_asset: dict[str, list[OwnedLink]] = defaultdict(list)
        for row in rows:
            by_asset[row.dam_id].append(row)
        ids = [i for i, w in found.items() if not all(already_linked(x, by_asset[i]) for x in w)]
        if ids:
            wants = [w for i in ids for w in found[i]]
            await asyncio.to_thread(store.stage, self.source, ids, wants)
            self._maybe_ready = True
        return failures

    async def flush(self, run_id: int | None = None, lease: Lease | None = None) -> LinkReport:
        """
        Write every ready want of the source to the products (after a batch commit).

        Raises:
            LeaseLostError: ``lease`` was taken over meanwhile: that round is not recorded.
        """
        if self.store is None or self.pim is None or not self._maybe_ready:
            return self.report
        async with self._lock:
            self._maybe_ready = False  # before reading: a staging meanwhile sets it again
            try:
                while True:
                    wants = await asyncio.to_thread(
                        self.store.ready_wants, self.source, WANTS_PER_ROUND
                    )
                    if not wants:
                        break
                    writer = CollectionWriter(self.pim, self._names)
                    await self._flush(self.store, writer, wants, run_id, lease)
            except BaseException:
                self._maybe_ready = True  # left ready: the next flush resumes them
                raise
        return self.report

    async def _flush(
        self,
        store: ProductLinkStore,
        writer: CollectionWriter,
        wants: Sequence[LinkWant],
        run_id: int | None,
        lease: Lease | None,
    ) -> None:
        failed: dict[str, ProductLinkError] = {}
        usable: list[LinkWant] = []
        for want in sorted(wants, key=lambda w: (w.dam_id, self._names.get((w.family, w.rule), 0))):
            problem = await self._check(want)
            if problem:
                name = key_name(want.family, want.rule, self._names, want.links[0].target.attribute)
                failed.setdefault(want.dam_id, ProductLinkError(f"{name}: {problem}"))
            else:
                usable.append(want)
        replacing = [w.dam_id for w in usable if w.mode == "replace"]
        mine = await asyncio.to_thread(store.owned_by_assets, self.source, replacing)
        changes = _changes(usable, mine, self._names)
        products = {t.product_key for t in changes}
        owned = await asyncio.to_thread(store.owned_in, self.source, products) if changes else []
        await self._fence(store, lease, bool(changes))
        outcome = await writer.apply(changes, owned)
        for dam_id, error in outcome.failed.items():
            failed.setdefault(dam_id, error)
        records = [failure_of(dam_id, LINK_STAGE, e, None) for dam_id, e in failed.items()]
        for record in records:
            log.warning(
                "sync.link_failed", source=self.source, asset=record.dam_id, error=record.detail
            )
        await asyncio.to_thread(
            store.settle,
            self.source,
            done=[(w.dam_id, w.rule) for w in wants],
            added=outcome.added,
            removed=outcome.removed,
            failed=records,
            succeeded=sorted({w.dam_id for w in wants} - set(failed)),
            run_id=run_id,
            lease=lease,
        )
        self._count(outcome, len(failed))
        if failed:
            self._attributes.clear()  # a refusal may come from a changed attribute: read again
        log.info(
            "sync.links_written",
            source=self.source,
            assets=len({w.dam_id for w in wants}),
            products_patched=outcome.patched,
            product_reads=outcome.reads,
            failed=len(failed),
        )

    async def unlink(
        self, family: str, codes: Sequence[str], lease: Lease | None = None
    ) -> dict[str, ProductLinkError]:
        """
        Take these PIM assets out of every product collection damsync put them in.

        Returns:
            The codes that could not be taken out everywhere, with why (the caller keeps them).

        Raises:
            PimUnavailable, PimAuthError, StoreUnavailableError: the pass fails; retried.
            LeaseLostError: ``lease`` was taken over meanwhile: nothing is recorded.
        """
        if self.store is None or self.pim is None or not codes:
            return {}
        store = self.store
        async with self._lock:
            links = await asyncio.to_thread(store.owned_by_codes, self.source, family, codes)
            if not links:
                return {}
            changes: dict[LinkTarget, Change] = defaultdict(Change)
            for link in links:
                changes[link.target].removes.append(link)
            products = {t.product_key for t in changes}
            owned = await asyncio.to_thread(store.owned_in, self.source, products)
            await self._fence(store, lease, True)
            outcome = await CollectionWriter(self.pim, self._names).apply(changes, owned)
            await asyncio.to_thread(
                store.settle,
                self.source,
                added=outcome.added,
                removed=outcome.removed,
                lease=lease,
            )
            self._count(outcome, len(outcome.failed))
        return {
            link.asset_code: outcome.failed[link.dam_id]
            for link in links
            if link.dam_id in outcome.failed
        }

    async def _fence(self, store: ProductLinkStore, lease: Lease | None, writing: bool) -> None:
        """
        Before writing products: a stale owner stops here (a settle of nothing is its fence).
        One paused between this and its settle has written the PIM, but records nothing.
        """
        if lease is not None and writing:
            await asyncio.to_thread(store.settle, self.source, lease=lease)

    def _count(self, outcome: EditOutcome, failed: int) -> None:
        """Once the outcome is recorded: the report, and the metrics when wired."""
        self.report.products_patched += outcome.patched
        self.report.reads += outcome.reads
        self.report.failed += failed
        if self.observer is not None:
            self.observer.product_links_written(self.source, patched=outcome.patched, failed=failed)

    async def _check(self, want: LinkWant) -> str:
        """Why ``want``'s rule cannot write its attribute; the attribute is read once."""
        if not want.links or self.pim is None:
            return ""
        target = want.links[0].target
        found = self._attributes.get(target.attribute)
        if found is None:
            try:
                found = await self.pim.get_product_attribute(target.attribute)
            except UPSTREAM_WIDE:
                raise
            except PimNotFound:
                found = f"product attribute {target.attribute!r} does not exist"
            except PimError as exc:
                return f"product attribute {target.attribute!r} could not be read: {exc}"
            self._attributes[target.attribute] = found
        if isinstance(found, str):
            return found
        return attribute_problem(found, want.family, target.locale, target.scope)


def already_linked(want: LinkWant, rows: Sequence[OwnedLink]) -> bool:
    """Whether damsync's rows already say what ``want`` asks (then nothing is staged)."""
    mine = {
        (r.target, r.asset_code): r.position
        for r in rows
        if r.rule == want.rule and r.family == want.family
    }
    asked = {(w.target, want.asset_code): w.position for w in want.links}
    if any(key not in mine or mine[key] != pos for key, pos in asked.items()):
        return False
    return want.mode != "replace" or set(mine) <= set(asked)


def _changes(
    wants: Sequence[LinkWant],
    mine: Sequence[OwnedLink],
    names: Mapping[tuple[str, int], int] | None = None,
) -> dict[LinkTarget, Change]:
    """
    The collection changes of ``wants``; ``mine`` holds the rows of their ``replace`` assets.
    A row stored under a rule's index (before rule keys) counts as the rule now at that index.
    """
    changes: dict[LinkTarget, Change] = defaultdict(Change)
    keys = {(family, index): key for (family, key), index in (names or {}).items()}
    by_rule: dict[tuple[str, int, str], list[OwnedLink]] = defaultdict(list)
    for link in mine:
        rule = link.rule
        if rule < KEY_BASE:
            rule = keys.get((link.family, rule), rule)
        by_rule[(link.dam_id, rule, link.family)].append(link)
    for want in wants:
        desired = set()
        for wanted in want.links:
            desired.add((wanted.target, want.asset_code))
            change = changes[wanted.target]
            change.placement = change.placement or want.placement
            change.adds.append(
                OwnedLink(
                    wanted.target,
                    want.asset_code,
                    want.rule,
                    want.family,
                    want.dam_id,
                    wanted.position,
                )
            )
        if want.mode != "replace":
            continue
        for link in by_rule.get((want.dam_id, want.rule, want.family), []):
            if (link.target, link.asset_code) not in desired:
                changes[link.target].removes.append(link)
    return dict(changes)


__all__ = ["WANTS_PER_ROUND", "LinkReport", "ProductLinks", "already_linked", "attribute_problem"]
