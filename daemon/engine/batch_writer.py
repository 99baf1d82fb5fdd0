"""
One bounded batch: map (or keep the mapping of :mod:`.screening`), skip unchanged, claim keys
and note intents (:mod:`.batch_claims`, one store transaction), create missing options
(:mod:`.option_writer`), transfer media, bulk-PATCH, delete, then record every per-item outcome
and the cursor in one store transaction.

Every asset of a batch ends in exactly one bucket: written, unchanged, skipped (no mapping rule,
on purpose), deleted, or failed (recorded in the failures table with its stage and reason).
Nothing is dropped silently (rule 6).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import structlog

from daemon.core.errors import SourceAssetError
from daemon.core.records import Cursor, DamAsset, Window
from daemon.engine.batch_claims import prepare
from daemon.engine.batch_media import Item as _Item
from daemon.engine.batch_media import transfer_media
from daemon.engine.batcher import BULK_LIMIT, Routed
from daemon.engine.dry_run_diff import dry_run_items
from daemon.engine.erasures import plan_erasures
from daemon.engine.mapper_cache import MapperCache
from daemon.engine.media_transfer import MediaTransfer
from daemon.engine.option_writer import OptionWriter
from daemon.engine.outcomes import UPSTREAM_WIDE, BatchReport, BatchWrite, DeletePolicy, failure_of
from daemon.engine.screening import Screen, stale_copy, unchanged
from daemon.engine.seams import BatchStore, PimWriter
from daemon.engine.structure_cache import FamilyCopy, StructureCache
from daemon.engine.structure_drift import judge_rejection
from daemon.engine.withdrawals import Withdrawal, WithdrawalOptions, Withdrawer, withdrawal_of
from daemon.mapping import MappedAsset, MappingFailed, MediaRequest
from daemon.store import AssetState, AssetWrite, FailureRecord, Lease, WithdrawalReason
from daemon.store.ownership import DEFAULT_PIM

log = structlog.get_logger(__name__)


class BatchProcessor:
    """
    Processes the batches of one source.

    Args:
        source_name: The source's configured name.
        pim: The PIM client.
        store: The state store.
        structure: The family structure cache.
        mappers: Builds the mapper from the current structure.
        media: Transfers binaries.
        delete_policy: What a withdrawn PIM asset gets (``withdrawals`` replaces it).
        withdrawals: The deletion policy, mark values and brake (:mod:`.withdrawals`).
        dry_run: Map and report, write nothing.
        force: Re-send every asset even when its content hash is unchanged, and apply a
            tombstone even to an asset the store has flagged deleted (``sync --once --full``;
            a reconcile's ``--fix`` asks per call instead).
        pim_name: The configured name of the PIM ``pim`` writes to (``store`` is the store's
            view of that PIM's ownership: :meth:`daemon.store.Store.for_pim`).
    """

    def __init__(
        self,
        source_name: str,
        pim: PimWriter,
        store: BatchStore,
        structure: StructureCache,
        mappers: MapperCache,
        media: MediaTransfer,
        *,
        delete_policy: DeletePolicy = "ignore",
        withdrawals: WithdrawalOptions | None = None,
        dry_run: bool = False,
        force: bool = False,
        pim_name: str = DEFAULT_PIM,
    ) -> None:
        self.source = source_name
        self.pim = pim
        self.store = store
        self.structure = structure
        self.mappers = mappers
        self.media = media
        options = withdrawals or WithdrawalOptions(policy=delete_policy)
        self.delete_policy = options.policy
        self.withdrawer = Withdrawer(source_name, pim, store, options, structure, pim_name=pim_name)
        self.dry_run = dry_run
        self.force = force
        self.options = OptionWriter(pim, structure)
        self._screen = Screen(source_name, store, mappers)
        self._batches = 0

    async def screen(self, assets: Sequence[DamAsset], *, force: bool = False) -> list[Routed]:
        """
        Where each asset goes and whether it changed, found once before batching: its key and
        mapping travel with it to the writer, so the batcher fills every bulk PATCH with changed
        assets and mapping never runs twice (:mod:`daemon.engine.screening`).
        """
        return await self._screen(assets, force=force or self.force)

    async def process(
        self,
        assets: Sequence[Routed | DamAsset],
        source_errors: Sequence[SourceAssetError],
        *,
        lease: Lease,
        run_id: int | None,
        cursor: Cursor | None,
        window: Window | None,
        force: bool = False,
    ) -> BatchReport:
        """Write one batch to the PIM and commit it; see the module docstring."""
        written = await self.write(assets, source_errors, run_id=run_id, force=force)
        return await self.commit(written, lease=lease, run_id=run_id, cursor=cursor, window=window)

    async def write(
        self,
        assets: Sequence[Routed | DamAsset],
        source_errors: Sequence[SourceAssetError],
        *,
        run_id: int | None,
        force: bool = False,
    ) -> BatchWrite:
        """
        Everything up to the PIM's acknowledgement: map, skip, options, media, PATCH, delete.

        Nothing is recorded yet: :meth:`commit` does that, in batch order, so several batches
        can be written at once while the checkpoint still only moves past committed ones.
        Screened assets (:meth:`screen`) keep their mapping while the mapper is the same one
        (a structure change maps them again); those screened unchanged are only counted and
        resolved. Assets not routed yet (a bare :class:`DamAsset`) are matched against the
        rules here. ``force`` (or :attr:`force`) writes what the content hash would skip.
        """
        force = force or self.force
        self._batches += 1
        routed = [a if isinstance(a, Routed) else Routed(a) for a in assets]
        report = BatchReport(size=len(routed) + len(source_errors))
        failures = [
            failure_of(e.asset_id or f"?{e.path}", "source", e, None) for e in source_errors
        ]
        # Found unchanged when screened: nothing to write, failures to resolve.
        resolved = [r.asset.id for r in routed if r.unchanged]
        report.unchanged += len(resolved)
        routed = [r for r in routed if not r.unchanged]
        ids = [r.asset.id for r in routed]
        states = await asyncio.to_thread(self.store.asset_states, self.source, ids) if ids else {}
        mapper = await self.mappers.get()
        # The copies the mapper was built from, to judge the PIM's refusals against.
        copies = {r.family: self.structure.peek(r.family) for r in mapper.rules.families}
        items: list[_Item] = []
        withdrawals: list[Withdrawal] = []
        decided: dict[str, tuple[DamAsset, tuple[str, str] | None, WithdrawalReason]] = {}
        for entry in routed:
            asset = entry.asset
            state = states.get(asset.id)
            if stale_copy(asset, state):
                report.unchanged += 1
                continue
            if asset.deleted:
                decided[asset.id] = (asset, None, "tombstone")
                if state is not None and (force or not state.deleted):
                    withdrawals.append(Withdrawal(asset, state.family, state.code, "tombstone"))
                else:
                    report.unchanged += 1
                continue
            outcome = entry.outcome
            if outcome is None or entry.mapper is not mapper:  # not screened, or drift since
                outcome = mapper.map_asset(asset, entry.key)
            if isinstance(outcome, MappingFailed):
                failures.extend(failure_of(asset.id, "mapping", e, asset) for e in outcome.errors)
            elif not isinstance(outcome, MappedAsset):
                report.skipped += 1
                resolved.append(asset.id)
                withdrawals += withdrawal_of(asset, state, None)  # no rule matches it any more
                decided[asset.id] = (asset, None, "unmatched")
            elif not force and unchanged(outcome, state):
                report.unchanged += 1
                resolved.append(asset.id)
            else:
                plan = plan_erasures(outcome, state)  # erases what the DAM no longer gives
                items.append(_Item(asset, plan.mapped, plan.managed))
                key = (outcome.asset.family, outcome.asset.code)
                withdrawals += withdrawal_of(asset, state, key)
                decided[asset.id] = (asset, key, "rekeyed")

        if self.dry_run:
            previews = [(i.asset, _preview(i)) for i in items]
            report.dry_run_items += dry_run_items(previews, states, withdrawals, self.delete_policy)
            report.written, report.deleted = len(items), len(withdrawals)
            return BatchWrite(report, [], [], failures, resolved, [])

        # Before anything reaches the PIM, in one transaction: claim the keys (one another
        # source owns fails that asset alone) and note where new assets will live (intents).
        keys = [
            (i.asset, i.mapped.asset.family, i.mapped.asset.code, _new(states.get(i.asset.id)))
            for i in items
        ]
        refused = await prepare(self.store, self.source, keys, failures)
        items = [i for i in items if i.asset.id not in refused]
        items = await self._create_options(items, failures)
        items = await transfer_media(self.media, items, failures, report, copies)
        written = await self._upsert(items, failures, run_id, copies)
        # After the writes: a re-keyed asset's old key goes once its new one is written (and
        # any other key still claimed for it: a crash before an earlier commit, see strays).
        withdrawals += await self.withdrawer.strays(decided, withdrawals)
        withdrawn = await self.withdrawer.apply(withdrawals, written, failures)
        # Direct product links of written and unchanged assets: staged now, ready at commit.
        failures += await self.withdrawer.links.stage(mapper, written, assets, resolved)
        gone = [w.dam_id for w in withdrawn if w.reason != "rekeyed"]  # no live PIM asset left
        media_rows = [i.media_key for i in items if i.media_key is not None]
        return BatchWrite(report, written, media_rows, failures, resolved, gone, withdrawn)

    async def commit(
        self,
        batch: BatchWrite,
        *,
        lease: Lease,
        run_id: int | None,
        cursor: Cursor | None,
        window: Window | None,
    ) -> BatchReport:
        """Record a written batch: outcomes, failures and cursor in ONE transaction (rule 5)."""
        report = batch.report
        report.failed = len({f.dam_id for f in batch.failures})
        if self.dry_run:
            return report
        await asyncio.to_thread(
            self.store.commit_batch,
            lease,
            run_id,
            cursor=cursor,
            window=window,
            written=batch.written,
            media=batch.media,
            failures=batch.failures,
            resolved=batch.resolved,
            deleted=batch.deleted,
            withdrawn=batch.withdrawn,
        )
        await self.withdrawer.links.flush(run_id, lease=lease)  # made ready by that commit
        report.written = len(batch.written)
        report.deleted = sum(w.action == "deleted" for w in batch.withdrawn)
        # A tombstone the policy kept in the PIM (mark, ignore, held) changed nothing there.
        report.unchanged += sum(w.reason == "tombstone" for w in batch.withdrawn) - report.deleted
        for f in batch.failures:
            log.warning(
                "sync.asset_failed",
                source=self.source,
                asset=f.dam_id,
                stage=f.stage,
                permanent=f.permanent,
                error=f.detail,
            )
        return report

    async def _create_options(
        self, items: list[_Item], failures: list[FailureRecord]
    ) -> list[_Item]:
        """Each missing option once (:mod:`.option_writer`); its assets fail if it is refused."""
        broken = await self.options.create(o for i in items for o in i.mapped.missing_options)
        if not broken:
            return items
        kept = []
        for item in items:
            keys = [(o.family, o.attribute, o.code) for o in item.mapped.missing_options]
            bad = [broken[k] for k in keys if k in broken]
            if bad:
                failures.append(failure_of(item.asset.id, "options", bad[0], item.asset))
            else:
                kept.append(item)
        return kept

    async def _upsert(
        self,
        items: list[_Item],
        failures: list[FailureRecord],
        run_id: int | None,
        copies: dict[str, FamilyCopy | None],
    ) -> list[AssetWrite]:
        by_family: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            by_family[item.mapped.asset.family].append(item)
        written: list[AssetWrite] = []
        for family, group in by_family.items():
            payload = [i.ready or i.mapped.asset for i in group]
            results = await self.pim.upsert_assets(family, payload)
            drift = channels = False
            for item, sent, res in zip(group, payload, results, strict=True):
                if res.ok:
                    written.append(
                        AssetWrite(
                            dam_id=item.asset.id,
                            family=family,
                            code=item.mapped.asset.code,
                            content_hash=item.mapped.content_hash,
                            request_id=f"{run_id}/{self._batches}/{family}/"
                            f"{res.index // BULK_LIMIT}",
                            binary_checksum=item.media_key[0] if item.media_key else None,
                            media_code=item.media_key[1] if item.media_key else None,
                            dam_updated_at=item.asset.updated_at,
                            managed_values=item.managed,
                        )
                    )
                    continue
                if isinstance(res.error, UPSTREAM_WIDE):
                    raise res.error  # the request failed, not the asset: fail the pass
                verdict = judge_rejection(item.asset.id, sent, res, copies.get(family))
                drift, channels = drift or verdict.drift, channels or verdict.channels
                failures.append(failure_of(item.asset.id, "pim", verdict.error, item.asset))
            if drift:
                # Our cached structure is stale: read it again before the next batch.
                self.structure.invalidate(family, drift=True, channels=channels)
        return written


def _new(state: AssetState | None) -> bool:
    """The store knows no live asset for this DAM id: its write needs an intent first."""
    return state is None or state.deleted


def _preview(item: _Item) -> dict[str, Any]:
    """What a dry run shows for one asset: its family, code, values and binaries to upload."""
    body = item.mapped.asset.to_json()
    for values in body["values"].values():
        for value in values:
            if isinstance(value["data"], MediaRequest):
                binary = value["data"].binary
                value["data"] = f"<upload {binary.filename or binary.url or binary.path}>"
    return {"dam_id": item.asset.id, "family": item.mapped.asset.family, **body}


__all__ = ["BatchProcessor"]
