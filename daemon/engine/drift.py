"""
Reconciliation: how far the PIM has drifted from what the DAM and the mapping give now.

:func:`scan_drift` streams three sources into a :class:`~daemon.engine.drift_store.DriftSpill`,
one page at a time, so that memory does not grow with the number of assets:

1. the store's asset states, first: an asset the DAM creates and a pass writes while the scan
   runs is then never taken for one the DAM deleted (it is not in this snapshot of the store);
   with them the PIM assets damsync owns (``pim_owners``), so a code a crash or a re-key left
   behind is seen too, and one the deletion policy kept on purpose is not taken for drift;
2. the DAM's live ids (:meth:`JobSource.all_ids`) and its assets (a window from the epoch),
   each mapped with the source's mapper and compared with its stored state; each media value
   is expected to hold its own binary's media code: the asset's own binary the code its state
   records, any other file (a manual per locale, a rendition per channel) the code the media
   store knows for its announced checksum (one store trip per page);
3. the PIM's assets of the mapped families, each hashed on the keys the mapping fills for it.

The spill then answers the four kinds of drift (see :mod:`daemon.engine.drift_store`);
:mod:`daemon.engine.drift_resend` repairs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from daemon.core.errors import PimNotFound
from daemon.core.records import DamAsset, Window
from daemon.engine.drift_store import DRIFT_KINDS, DamRow, DriftKind, DriftSpill
from daemon.engine.drift_values import expected_of, keys_of, values_hash
from daemon.engine.erasures import plan_erasures
from daemon.engine.media_transfer import binary_keys
from daemon.engine.seams import DriftObserver, DriftStore, JobSource, PimAssetView, PimReader
from daemon.mapping import AssetKey, MappedAsset, Mapper, MappingFailed, MediaRequest, Unmatched
from daemon.store import AssetState

log = structlog.get_logger(__name__)

#: PIM assets hashed together: one page of the PIM's listing, one lookup in the spill.
PIM_PAGE = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class DriftSummary:
    """
    What one reconcile of one source found.

    Args:
        source: The source name.
        families: The families whose PIM assets were compared.
        counts: Drifted assets by ``(family, kind)``; kinds without drift are absent.
        known: Live assets of the store in scope (the deletion brake's denominator).
    """

    source: str
    families: tuple[str, ...]
    counts: Mapping[tuple[str, DriftKind], int]
    known: int

    @property
    def total(self) -> int:
        """Drifted assets of every family and kind."""
        return sum(self.counts.values())

    def count(self, kind: DriftKind) -> int:
        """Drifted assets of one kind, every family."""
        return sum(n for (_family, k), n in self.counts.items() if k == kind)

    def by_family(self) -> dict[str, dict[DriftKind, int]]:
        """Counts per family, every kind present (0 without drift), listed families first."""
        families = list(self.families)
        families += sorted({f for f, _k in self.counts} - set(families))
        return {f: {k: self.counts.get((f, k), 0) for k in DRIFT_KINDS} for f in families}


def mapped_families(mapper: Mapper, only: str | None = None) -> tuple[str, ...]:
    """The families the source's rules write to, in rule order (just ``only`` if given)."""
    families = dict.fromkeys(rule.family for rule in mapper.rules.families)
    return tuple(f for f in families if only is None or f == only)


Outcome = MappedAsset | MappingFailed | Unmatched


def dam_row(
    mapper: Mapper,
    asset: DamAsset,
    state: AssetState | None,
    codes: Mapping[str, str] | None = None,
    *,
    outcome: Outcome | None = None,
) -> DamRow:
    """
    Map one DAM asset and say what the PIM should hold for it; pure.

    Args:
        mapper: The source's mapper.
        asset: The DAM asset.
        state: Its stored state.
        codes: Media codes by checksum key (:func:`media_code_keys`) of its files other than
            its own binary; a file without one is expected to hold an unknown code (stale).
        outcome: Its mapping, when already mapped (``mapper.map_asset(asset)``).
    """
    stamp = (asset.updated_at - _EPOCH) // _MICROSECOND
    if asset.deleted:
        return DamRow(asset.id, stamp, "deleted")
    outcome = mapper.map_asset(asset) if outcome is None else outcome
    if isinstance(outcome, MappedAsset):
        live = state if state is not None and not state.deleted else None
        own = live.media_code if live is not None else None
        known = codes or {}

        def media(request: MediaRequest) -> str | None:
            if request.binary == asset.binary and own is not None:
                return own  # the code written for the asset's binary, as its state records
            keys = binary_keys(request.binary)
            return known.get(keys[0]) if keys else None

        # Values damsync wrote and now erases are compared too: they must be empty.
        keys, expected = expected_of(plan_erasures(outcome, state).mapped, media)
        in_sync = live is not None and live.content_hash == outcome.content_hash
        key = outcome.asset
        return DamRow(asset.id, stamp, "mapped", key.family, key.code, keys, expected, in_sync)
    if isinstance(outcome, Unmatched):
        return DamRow(asset.id, stamp, "unmatched")
    # It cannot be mapped now (a failure, retried elsewhere): where it would go still counts.
    found = mapper.identify(asset)
    if isinstance(found, AssetKey):
        return DamRow(asset.id, stamp, "failed", found.family, found.code)
    return DamRow(asset.id, stamp, "failed", outcome.family)


async def scan_drift(
    source: JobSource,
    pim: PimReader,
    store: DriftStore,
    mapper: Mapper,
    spill: DriftSpill,
) -> DriftSummary:
    """
    Stream the store, the DAM and the PIM into ``spill`` and count the drift.

    Args:
        source: The DAM.
        pim: The PIM client.
        store: The state store.
        mapper: The source's current mapper.
        spill: An empty spill; its ``family`` narrows the scan to one family.

    Returns:
        The counts; the drifted assets themselves stay in ``spill`` to be streamed.
    """
    name = source.name
    await asyncio.to_thread(spill.add_states, store.iter_asset_states(name))
    spill.add_owned(await asyncio.to_thread(store.owned_assets, name))
    async for ids in source.all_ids():
        spill.add_live(ids)
    until = await source.server_now()
    async for page in source.changes(Window(None, until)):
        ids = [a.id for a in page.assets]
        states = await asyncio.to_thread(store.asset_states, name, ids)
        outcomes = [None if a.deleted else mapper.map_asset(a) for a in page.assets]
        wanted = media_code_keys(zip(page.assets, outcomes, strict=True))
        codes = await asyncio.to_thread(_known_codes, store, name, wanted) if wanted else {}
        spill.add_dam(
            [
                dam_row(mapper, a, states.get(a.id), codes, outcome=outcome)
                for a, outcome in zip(page.assets, outcomes, strict=True)
            ]
        )
        # A record the DAM lists but we cannot read is live: nothing of it may be deleted.
        spill.add_live(e.asset_id for e in page.errors if e.asset_id)
    families = mapped_families(mapper, spill.family)
    for family in families:
        spill.add_family(family)
        await _spill_pim(pim, spill, family)
    summary = DriftSummary(name, families, spill.counts(), spill.known())
    log.info("sync.drift_found", source=name, drift=summary.total, known=summary.known)
    return summary


def media_code_keys(
    mapped: Iterable[tuple[DamAsset, Outcome | None]],
) -> dict[str, list[str]]:
    """
    The files whose media code a page needs from the store: every media request's binary but
    the asset's own (its state holds that code), by its first store key, with every key its
    code may be recorded under (:func:`daemon.engine.media_transfer.binary_keys`).
    """
    wanted: dict[str, list[str]] = {}
    for asset, outcome in mapped:
        if not isinstance(outcome, MappedAsset):
            continue
        for request in outcome.media:
            if request.binary != asset.binary and (keys := binary_keys(request.binary)):
                wanted.setdefault(keys[0], keys)
    return wanted


def _known_codes(store: DriftStore, source: str, wanted: Mapping[str, list[str]]) -> dict[str, str]:
    """The media codes the store knows for ``wanted`` (in a worker thread)."""
    found: dict[str, str] = {}
    for first, keys in wanted.items():
        for key in keys:
            code = store.media_code(source, key)
            if code is not None:
                found[first] = code
                break
    return found


async def _spill_pim(pim: PimReader, spill: DriftSpill, family: str) -> None:
    page: list[PimAssetView] = []
    try:
        async for asset in pim.iter_assets(family):
            page.append(asset)
            if len(page) >= PIM_PAGE:
                _hash_page(spill, family, page)
                page = []
    except PimNotFound:
        # The family is gone from the PIM: every asset mapped to it is missing.
        log.warning("sync.drift_family_gone", family=family)
    _hash_page(spill, family, page)


def _hash_page(spill: DriftSpill, family: str, page: Sequence[PimAssetView]) -> None:
    if not page:
        return
    keys = spill.keys_for(family, [a.code for a in page])
    rows: list[tuple[str, str | None]] = []
    for asset in page:
        text = keys.get(asset.code)
        # No mapped DAM asset at this code: its values are never compared, only its presence.
        digest = (
            None if text is None else values_hash(family, asset.code, asset.values, keys_of(text))
        )
        rows.append((asset.code, digest))
    spill.add_pim(family, rows)


def report_drift(observer: DriftObserver, summary: DriftSummary) -> None:
    """Export a summary as metrics: every listed family and kind, 0 included."""
    counts: dict[tuple[str, str], int] = {
        (family, kind): n
        for family, kinds in summary.by_family().items()
        for kind, n in kinds.items()
    }
    observer.reconcile_finished(summary.source, counts, finished_at=datetime.now(UTC))


__all__ = [
    "PIM_PAGE",
    "DriftSummary",
    "dam_row",
    "mapped_families",
    "media_code_keys",
    "report_drift",
    "scan_drift",
]
